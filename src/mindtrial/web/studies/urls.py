from __future__ import annotations

from django.urls import path

from mindtrial.web.studies import views

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/new/", views.study_create, name="study_create"),
    path("studies/<int:study_id>/sites/new/", views.site_create, name="site_create"),
    path("studies/<int:study_id>/cohorts/new/", views.cohort_create, name="cohort_create"),
    path("studies/<int:study_id>/allocation/", views.allocation, name="allocation"),
    path("studies/<int:study_id>/access/", views.access, name="access"),
]
