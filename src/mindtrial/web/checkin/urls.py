from __future__ import annotations

from django.urls import path

from mindtrial.web.checkin import views

urlpatterns = [
    path("c/", views.checkin, name="checkin"),
    path(
        "participants/<int:participant_id>/link/", views.participant_link, name="participant_link"
    ),
    path(
        "participants/<int:participant_id>/checkins/",
        views.participant_checkins,
        name="participant_checkins",
    ),
    path(
        "participants/<int:participant_id>/checkins/correct/",
        views.checkin_correct,
        name="checkin_correct",
    ),
]
