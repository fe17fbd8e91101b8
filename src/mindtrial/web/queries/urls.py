from __future__ import annotations

from django.urls import path

from mindtrial.web.queries import views

urlpatterns = [
    path("studies/<int:study_id>/queries/", views.study_queries, name="study_queries"),
    path("studies/<int:study_id>/queries/checks/", views.query_checks, name="query_checks"),
    path(
        "participants/<int:participant_id>/queries/",
        views.participant_queries,
        name="participant_queries",
    ),
    path("participants/<int:participant_id>/queries/new/", views.query_open, name="query_open"),
    path("queries/<int:query_id>/", views.query_detail, name="query_detail"),
]
