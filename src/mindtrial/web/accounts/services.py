"""Staff accounts: creation with a role, and API tokens (stored hashed, shown once)."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from mindtrial.web.accounts.models import ApiToken, Role, User
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_record
from mindtrial.web.common import Forbidden, ServiceError

TOKEN_PREFIX_LENGTH = 8


def _require_admin(acting_user: User | None) -> None:
    if acting_user is not None and not acting_user.is_administrator:
        raise Forbidden("Only administrators can manage staff accounts.")


def user_create(
    *,
    acting_user: User | None,
    username: str,
    password: str,
    role: str,
    email: str = "",
) -> User:
    """A staff user with one role; the password must pass Django's validators."""
    _require_admin(acting_user)
    errors: dict[str, str] = {}
    username = username.strip()
    if role not in Role.values:
        errors["role"] = f"Unknown role '{role}'; choose one of {', '.join(Role.values)}."
    if not username:
        errors["username"] = "A username is required."
    elif User.objects.filter(username=username).exists():
        errors["username"] = f"The username '{username}' is taken."
    candidate = User(username=username, email=email, role=role)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        errors["password"] = " ".join(exc.messages)
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        user = User.objects.create_user(
            username=username,
            email=email,
            password=password,
            role=role,
            is_staff=role == Role.ADMINISTRATOR,
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=user,
            new={"username": username, "role": role},
        )
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def api_token_issue(*, acting_user: User | None, user: User) -> str:
    """A new API token for ``user``; only its hash is kept, so this is the only time it is seen."""
    if acting_user is not None and acting_user != user and not acting_user.is_administrator:
        raise Forbidden("You can only issue tokens for yourself.")
    token = "mt_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        record = ApiToken.objects.create(
            user=user, prefix=token[3 : 3 + TOKEN_PREFIX_LENGTH], key_hash=_digest(token)
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.ISSUE_TOKEN,
            target=record,
            new={"user": user.username, "prefix": record.prefix},
        )
    return token


def api_token_user(token: str) -> User | None:
    """The active user a token belongs to, or ``None``."""
    if not token.startswith("mt_"):
        return None
    record = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_digest(token), revoked_at__isnull=True)
        .first()
    )
    if record is None or not record.user.is_active:
        return None
    return record.user
