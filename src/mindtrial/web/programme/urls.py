from __future__ import annotations

from django.urls import path

from mindtrial.web.programme import views

urlpatterns = [
    path("weekly/", views.hub, name="weekly_hub"),
    path("studies/<int:study_id>/weekly/", views.study_weekly, name="study_weekly"),
    path(
        "participants/<int:participant_id>/programme/",
        views.participant_programme,
        name="participant_programme",
    ),
    path("groups/<slug:group_id>/programme/", views.group_programme, name="group_programme"),
    path(
        "participants/<int:participant_id>/continuation/",
        views.continuation,
        name="participant_continuation",
    ),
    path(
        "participants/<int:participant_id>/corrections/attendance/",
        views.correct_attendance,
        name="correct_attendance",
    ),
]
