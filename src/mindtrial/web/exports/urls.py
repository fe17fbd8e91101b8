from __future__ import annotations

from django.urls import path

from mindtrial.web.exports import views

urlpatterns = [
    path("studies/<int:study_id>/export/", views.download, name="study_export"),
]
