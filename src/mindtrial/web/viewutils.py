"""View helpers: sign-in required, one "not found" for missing and forbidden, form errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Concatenate, ParamSpec, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from mindtrial.web.accounts.models import User
from mindtrial.web.common import NotFound, ServiceError, parse_int

P = ParamSpec("P")


class AuthedRequest(HttpRequest):
    user: User  # type: ignore[assignment]


def staff_view(
    view: Callable[Concatenate[AuthedRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Signed-in staff only; :class:`NotFound` becomes a plain 404 that names nothing."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            return view(cast(AuthedRequest, request), *args, **kwargs)
        except NotFound:
            raise Http404("Not found") from None

    return cast(Callable[Concatenate[HttpRequest, P], HttpResponse], login_required(wrapped))


MAX_ID = 2**63 - 1
"""The largest primary key (a 64-bit ``BigAutoField``)."""
MAX_WEEK = 10_000
"""Far beyond any protocol's length: a study week in a URL is checked against this bound, then
looked up (so no week parameter overflows a database integer)."""


def query_int(request: HttpRequest, name: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """The query (or, on POST, form) parameter ``name`` as an integer in ``low..high``; None
    when it is missing or anything but plain ASCII digits in that range (see
    :func:`~mindtrial.web.common.parse_int`). Callers answer "not found" or ignore it."""
    raw = request.POST.get(name) if request.method == "POST" else None
    return parse_int(raw or request.GET.get(name), low=low, high=high)


def require_role(user: User, roles: Iterable[str]) -> None:
    if not (user.is_superuser or user.role in set(roles)):
        raise PermissionDenied("Your role cannot do this.")


def add_service_errors(form: forms.Form, exc: ServiceError) -> None:
    """Put a service's field errors on the form's fields (unknown keys go to the form)."""
    for field, message in exc.errors.items():
        form.add_error(field if field in form.fields else None, message)


def yes_no_field(label: str, *, required: bool) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=[("", "—"), ("yes", "Yes"), ("no", "No")],
        coerce=lambda v: v == "yes",
        empty_value=None,
        required=required,
    )


def context(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def correction_reason_field() -> forms.CharField:
    """The reason every correction needs (kept in the audit trail with old and new values)."""
    return forms.CharField(
        label="Reason for the correction",
        max_length=500,
        required=False,  # the service names a missing reason
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Kept in the audit trail with the old and new values, your name and the time.",
    )


REASON = "reason"
"""The form field of a correction's reason."""


def correction_page(
    request: AuthedRequest,
    participant: Any,
    form: forms.Form,
    title: str,
    *,
    intro: str = "",
    submit: str = "Save correction",
    reason_name: str = REASON,
) -> HttpResponse:
    """The shared correction form page (``corrections/form.html``)."""
    return render(
        request,
        "corrections/form.html",
        {
            "p": participant,
            "form": form,
            "title": f"{title} · {participant.code}",
            "intro": intro,
            "submit": submit,
            "reason_name": reason_name,
        },
    )


def as_initial(values: dict[str, Any]) -> dict[str, Any]:
    """Saved values as form initial values (yes/no questions saved as booleans)."""
    return {k: ("yes" if v else "no") if isinstance(v, bool) else v for k, v in values.items()}
