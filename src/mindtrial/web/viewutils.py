"""View helpers: sign-in required, one "not found" for missing and forbidden, form errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Concatenate, ParamSpec, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from mindtrial.web.accounts.models import User
from mindtrial.web.common import NotFound, ServiceError

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
