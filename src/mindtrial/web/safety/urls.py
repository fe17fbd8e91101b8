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
]
