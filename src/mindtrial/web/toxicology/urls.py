from __future__ import annotations

from django.urls import path

from mindtrial.web.toxicology import views

urlpatterns = [
    path("studies/<int:study_id>/tests/", views.study_tests, name="tox_study_tests"),
    path("studies/<int:study_id>/tests/today/", views.today, name="tox_today"),
    path("participants/<int:participant_id>/tests/", views.tests, name="tox_tests"),
    path("participants/<int:participant_id>/tests/record/", views.record, name="tox_record"),
    path("participants/<int:participant_id>/tests/capture/", views.capture, name="tox_capture"),
    path(
        "participants/<int:participant_id>/corrections/tests/",
        views.correct,
        name="correct_tox_test",
    ),
]
