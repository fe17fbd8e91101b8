"""Study pages: list and set-up (administrators). The overview and the group page show
participants, so they live in :mod:`mindtrial.web.enrolment.study_pages`."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render

from mindtrial.design.randomization import redcap_arm_codes
from mindtrial.web.accounts.models import Role
from mindtrial.web.common import ServiceError
from mindtrial.web.studies import services
from mindtrial.web.studies.forms import (
    AccessForm,
    AllocationUploadForm,
    CohortForm,
    SiteForm,
    StudyCreateForm,
)
from mindtrial.web.studies.models import AllocationEntry, StudyAccess
from mindtrial.web.studies.selectors import (
    access_study_by_id,
    studies_for_user,
)
from mindtrial.web.viewutils import AuthedRequest, add_service_errors, require_role, staff_view

ADMINS = [Role.ADMINISTRATOR]


@staff_view
def home(request: AuthedRequest) -> HttpResponse:
    return render(request, "studies/home.html", {"studies": studies_for_user(request.user)})


@staff_view
def study_create(request: AuthedRequest) -> HttpResponse:
    require_role(request.user, ADMINS)
    form = StudyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study = services.study_create(
                acting_user=request.user,
                protocol_id=form.cleaned_data["protocol_id"],
                name=form.cleaned_data["name"],
                generate_allocation=not form.cleaned_data["upload_list"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Study “{study.name}” created.")
            return redirect("study_detail", study_id=study.pk)
    return render(
        request, "form.html", {"form": form, "title": "New study", "submit": "Create study"}
    )


@staff_view
def site_create(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, ADMINS)
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.site_create(acting_user=request.user, study=study, **form.cleaned_data)
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Site added.")
            return redirect("study_detail", study_id=study.pk)
    return render(
        request,
        "form.html",
        {"form": form, "title": f"New site · {study.name}", "submit": "Add site"},
    )


@staff_view
def cohort_create(request: AuthedRequest, study_id: int) -> HttpResponse:
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, ADMINS)
    form = CohortForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cohort_create(acting_user=request.user, study=study, **form.cleaned_data)
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Cohort added with one group per arm.")
            return redirect("study_detail", study_id=study.pk)
    return render(
        request,
        "form.html",
        {"form": form, "title": f"New cohort · {study.name}", "submit": "Add cohort"},
    )


@staff_view
def allocation(request: AuthedRequest, study_id: int) -> HttpResponse:
    """How much of the list is used (never which arms are left) and the REDCap upload."""
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, ADMINS)
    form = AllocationUploadForm(request.POST or None, request.FILES or None)
    arm_codes = redcap_arm_codes(study.arm_ids)
    if request.method == "POST" and form.is_valid():
        try:
            count = services.allocation_list_import_redcap(
                acting_user=request.user,
                study=study,
                csv_bytes=form.cleaned_data["file"].read(),
                arm_codes=arm_codes,
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Allocation list stored: {count} entries.")
            return redirect("allocation", study_id=study.pk)
    strata = (
        AllocationEntry.objects.filter(study=study)
        .values("stratum")
        .annotate(total=Count("id"), used=Count("id", filter=Q(assigned=True)))
        .order_by("stratum")
    )
    return render(
        request,
        "studies/allocation.html",
        {
            "study": study,
            "strata": strata,
            "form": form,
            "arm_codes": [(code, study.arm_label(arm)) for code, arm in arm_codes.items()],
        },
    )


@staff_view
def access(request: AuthedRequest, study_id: int) -> HttpResponse:
    """Who may see the study, and at which sites (administrators grant access here)."""
    study = access_study_by_id(request.user, study_id)
    require_role(request.user, ADMINS)
    form = AccessForm(request.POST or None, study=study)
    if request.method == "POST" and form.is_valid():
        try:
            services.study_access_grant(
                acting_user=request.user,
                user=form.cleaned_data["user"],
                study=study,
                site=form.cleaned_data["site"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Access granted.")
            return redirect("access", study_id=study.pk)
    grants = (
        StudyAccess.objects.filter(study=study)
        .select_related("user", "site")
        .order_by("user__username")
    )
    return render(request, "studies/access.html", {"study": study, "grants": grants, "form": form})
