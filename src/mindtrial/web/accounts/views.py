"""Sign in and out (django-axes locks an account+address after repeated failures), one's
own password, and the administrators' user pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from mindtrial.web.accounts import services
from mindtrial.web.accounts.forms import PasswordChangeForm, UserCreateForm, UserUpdateForm
from mindtrial.web.accounts.selectors import access_user_by_id, staff_users
from mindtrial.web.common import ServiceError
from mindtrial.web.viewutils import AuthedRequest, add_service_errors, staff_view


@staff_view
def password_change(request: AuthedRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_password_change(
                acting_user=request.user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            update_session_auth_hash(request, request.user)  # stay signed in here only
            messages.success(request, "Your password was changed.")
            return redirect("password_change")
    return render(
        request, "form.html", {"form": form, "title": "Change your password", "submit": "Change"}
    )


@staff_view
def user_list(request: AuthedRequest) -> HttpResponse:
    users = list(staff_users(request.user))
    return render(request, "accounts/users.html", {"users": users})


@staff_view
def user_new(request: AuthedRequest) -> HttpResponse:
    staff_users(request.user)  # administrators only
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                acting_user=request.user,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                role=form.cleaned_data["role"],
                email=form.cleaned_data["email"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Added {user.username} ({user.get_role_display()}).")
            return redirect("user_list")
    return render(request, "form.html", {"form": form, "title": "Add a user", "submit": "Add"})


@staff_view
def user_edit(request: AuthedRequest, user_id: int) -> HttpResponse:
    user = access_user_by_id(request.user, user_id)
    initial = {"role": user.role, "email": user.email, "is_active": user.is_active}
    form = UserUpdateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                acting_user=request.user,
                user=user,
                role=form.cleaned_data["role"],
                email=form.cleaned_data["email"],
                is_active=form.cleaned_data["is_active"],
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Saved {user.username}.")
            return redirect("user_list")
    return render(
        request, "form.html", {"form": form, "title": f"User {user.username}", "submit": "Save"}
    )


urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", password_change, name="password_change"),
    path("users/", user_list, name="user_list"),
    path("users/new/", user_new, name="user_new"),
    path("users/<int:user_id>/", user_edit, name="user_edit"),
]
