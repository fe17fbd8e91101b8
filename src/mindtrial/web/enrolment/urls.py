from __future__ import annotations

from django.urls import path

from mindtrial.web.enrolment import views

urlpatterns = [
    path("studies/<int:study_id>/participants/", views.participant_list, name="participant_list"),
    path(
        "studies/<int:study_id>/participants/new/",
        views.participant_refer,
        name="participant_refer",
    ),
    path("participants/<int:participant_id>/", views.participant_detail, name="participant_detail"),
    path(
        "participants/<int:participant_id>/screen/",
        views.participant_screen,
        name="participant_screen",
    ),
    path(
        "participants/<int:participant_id>/consent/",
        views.participant_consent,
        name="participant_consent",
    ),
    path(
        "participants/<int:participant_id>/baseline/<slug:instrument>/",
        views.participant_baseline,
        name="participant_baseline",
    ),
    path(
        "participants/<int:participant_id>/randomize/",
        views.participant_randomize,
        name="participant_randomize",
    ),
    path(
        "participants/<int:participant_id>/cohort/",
        views.participant_cohort,
        name="participant_cohort",
    ),
    path(
        "participants/<int:participant_id>/exit/", views.participant_exit, name="participant_exit"
    ),
]
