from __future__ import annotations

from django.urls import path

from mindtrial.web.audit_pages import views

urlpatterns = [
    path("studies/<int:study_id>/audit/", views.audit_list, name="audit_list"),
    path("studies/<int:study_id>/audit.csv", views.audit_export, name="audit_export"),
]
