from __future__ import annotations

from django.urls import path

from mindtrial.web.enrolment import correction_views, study_pages, views

urlpatterns = [
    path("studies/<int:study_id>/", study_pages.study_detail, name="study_detail"),
    path("groups/<slug:group_id>/", study_pages.group_detail, name="group_detail"),
    path("studies/<int:study_id>/participants/", views.participant_list, name="participant_list"),
    path(
        "studies/<int:study_id>/participants/new/",
        views.participant_refer,
        name="participant_refer",
    ),
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
    # Corrections with a reason (the participant's corrections page, web/record, links each).
    path(
        "participants/<int:participant_id>/corrections/screening/",
        correction_views.correct_screening,
        name="correct_screening",
    ),
    path(
        "participants/<int:participant_id>/corrections/consent/",
        correction_views.correct_consent,
        name="correct_consent",
    ),
    path(
        "participants/<int:participant_id>/corrections/baseline/<slug:instrument>/",
        correction_views.correct_baseline,
        name="correct_baseline",
    ),
]
