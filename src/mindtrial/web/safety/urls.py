from __future__ import annotations

from django.urls import path

from mindtrial.web.safety import views

urlpatterns = [
    path("participants/<int:participant_id>/adverse-events/new/", views.report, name="ae_report"),
    path(
        "participants/<int:participant_id>/withdraw/", views.withdraw, name="participant_withdraw"
    ),
    path("studies/<int:study_id>/adverse-events/", views.event_list, name="ae_list"),
    path("studies/<int:study_id>/adverse-events/review/", views.event_detail, name="ae_detail"),
    path("alerts/", views.alerts, name="safety_alerts"),
    path(
        "participants/<int:participant_id>/adverse-events/follow-up/",
        views.follow_up,
        name="ae_follow_up",
    ),
    path(
        "participants/<int:participant_id>/corrections/adverse-events/",
        views.correct_event,
        name="correct_adverse_event",
    ),
    path(
        "participants/<int:participant_id>/corrections/withdrawal/",
        views.correct_withdrawal,
        name="correct_withdrawal",
    ),
    path(
        "participants/<int:participant_id>/corrections/withdrawal/undo/",
        views.undo_withdrawal,
        name="undo_withdrawal",
    ),
]
