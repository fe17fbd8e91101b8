"""Reading staff accounts: only administrators list and open other users' accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from mindtrial.web.accounts.models import Role, User
from mindtrial.web.common import NotFound

AUDIT_READERS = frozenset({Role.ADMINISTRATOR, Role.DATA_MANAGER})
"""Unblinded roles that read the audit trail (data managers and administrators)."""


def can_read_audit(user: User) -> bool:
    return user.is_superuser or user.role in AUDIT_READERS


def staff_users(user: User) -> QuerySet[User]:
    """Every account, by username; NotFound for anyone but an administrator."""
    if not user.is_administrator:
        raise NotFound("users")
    return User.objects.order_by("username")


def access_user_by_id(user: User, user_id: int) -> User:
    """One account for an administrator to manage (the same NotFound for missing and
    forbidden)."""
    found = staff_users(user).filter(pk=user_id).first()
    if found is None:
        raise NotFound("user")
    return found
