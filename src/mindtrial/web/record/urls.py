from __future__ import annotations

from django.urls import path

from mindtrial.web.record import views

urlpatterns = [
    path("participants/<int:participant_id>/", views.participant_detail, name="participant_detail"),
    path(
        "participants/<int:participant_id>/corrections/",
        views.participant_corrections,
        name="participant_corrections",
    ),
]
