"""Forms for the account pages: one's own password, and the administrator's user pages."""

from __future__ import annotations

from typing import Any

from django import forms

from mindtrial.web.accounts.models import Role


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters, not a common password, not only digits.",
    )
    repeat_password = forms.CharField(
        label="New password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("new_password") != cleaned.get("repeat_password"):
            self.add_error("repeat_password", "The two new passwords differ.")
        return cleaned


_ROLE_CHOICES = [("", "—"), *Role.choices]


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=_ROLE_CHOICES)
    email = forms.EmailField(
        required=False, help_text="Safety monitors need one to receive SAE alerts by e-mail."
    )
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="A first password; ask the person to change it on their first sign-in.",
    )


class UserUpdateForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    email = forms.EmailField(required=False)
    is_active = forms.BooleanField(label="Active (may sign in and use API tokens)", required=False)
