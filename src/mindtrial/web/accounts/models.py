"""Staff users with one role each, and hashed API tokens."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", "Administrator"
    COORDINATOR = "coordinator", "Coordinator"
    FACILITATOR = "facilitator", "Facilitator"
    DATA_MANAGER = "data_manager", "Data manager"
    INVESTIGATOR = "investigator", "Investigator (blinded)"
    STATISTICIAN = "statistician", "Statistician (blinded)"
    SAFETY_MONITOR = "safety_monitor", "Safety monitor (unblinded)"


BLINDED_ROLES: frozenset[str] = frozenset({Role.INVESTIGATOR, Role.STATISTICIAN})
"""Roles that must never learn an arm."""

ALL_SITES_ROLES: frozenset[str] = frozenset(
    {
        Role.ADMINISTRATOR,
        Role.DATA_MANAGER,
        Role.INVESTIGATOR,
        Role.STATISTICIAN,
        Role.SAFETY_MONITOR,
    }
)
"""Roles whose study access covers every site unless a site is named."""


class User(AbstractUser):
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.COORDINATOR)

    REQUIRED_FIELDS: ClassVar[list[str]] = ["email"]

    @property
    def is_blinded(self) -> bool:
        return self.role in BLINDED_ROLES

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMINISTRATOR or self.is_superuser

    def __str__(self) -> str:
        return self.username


class ApiToken(models.Model):
    """A staff API token; only its SHA-256 is stored (the token is shown once, when issued)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token {self.prefix}… of {self.user_id}"
