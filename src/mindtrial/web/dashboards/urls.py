from __future__ import annotations

from django.urls import path

from mindtrial.web.dashboards import views

urlpatterns = [
    path("studies/<int:study_id>/dashboard/", views.dashboard, name="dashboard"),
]
