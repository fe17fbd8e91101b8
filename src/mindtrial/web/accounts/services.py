"""Staff accounts: creation with a role, the administrator's changes (role, e-mail,
active), each user's own password, and API tokens (stored hashed, shown once)."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.accounts.models import ApiToken, Role, User
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_record
from mindtrial.web.common import Forbidden, ServiceError

TOKEN_PREFIX_LENGTH = 8


def require_account_manager(acting_user: Actor) -> None:
    """Staff accounts are managed by administrators (or the operator at the command line)."""
    user = staff_user(acting_user)
    if user is not None and not user.is_administrator:
        raise Forbidden("Only administrators can manage staff accounts.")


def user_create(
    *,
    acting_user: Actor,
    username: str,
    password: str,
    role: str,
    email: str = "",
) -> User:
    """A staff user with one role; the password must pass Django's validators."""
    require_account_manager(acting_user)
    errors: dict[str, str] = {}
    username = username.strip()
    if role not in Role.values:
        errors["role"] = f"Unknown role '{role}'; choose one of {', '.join(Role.values)}."
    if not username:
        errors["username"] = "A username is required."
    elif User.objects.filter(username=username).exists():
        errors["username"] = f"The username '{username}' is taken."
    email = email.strip()
    email_problem = _email_problem(email)
    if email_problem is not None:
        errors["email"] = email_problem
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
            new={"username": username, "role": role, "email": email},
        )
    return user


def _email_problem(email: str) -> str | None:
    if not email:
        return None
    try:
        validate_email(email)
    except ValidationError:
        return f"'{email}' is not an e-mail address."
    return None


def user_update(
    *,
    acting_user: Actor,
    user: User,
    role: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
) -> User:
    """An administrator sets another account's role, e-mail address or active state
    (``None`` = unchanged); audited old → new. Administrators cannot demote or deactivate
    themselves, so a study is never left without one by accident."""
    require_account_manager(acting_user)
    errors: dict[str, str] = {}
    if role is not None and role not in Role.values:
        errors["role"] = f"Unknown role '{role}'; choose one of {', '.join(Role.values)}."
    if email is not None:
        email = email.strip()
        problem = _email_problem(email)
        if problem is not None:
            errors["email"] = problem
    if staff_user(acting_user) == user:
        if is_active is False:
            errors["is_active"] = "You cannot deactivate your own account."
        if role is not None and role != Role.ADMINISTRATOR and user.role == Role.ADMINISTRATOR:
            errors["role"] = "You cannot take the administrator role from yourself."
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        old = {"role": locked.role, "email": locked.email, "is_active": locked.is_active}
        if role is not None:
            locked.role = role
            locked.is_staff = role == Role.ADMINISTRATOR or locked.is_superuser
        if email is not None:
            locked.email = email
        if is_active is not None:
            locked.is_active = is_active
        new = {"role": locked.role, "email": locked.email, "is_active": locked.is_active}
        changed = [k for k in new if new[k] != old[k]]
        if not changed:
            return locked
        locked.save(update_fields=["role", "email", "is_active", "is_staff"])
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=locked,
            old={"username": locked.username} | {k: old[k] for k in changed},
            new={"username": locked.username} | {k: new[k] for k in changed},
        )
    return locked


def user_password_change(*, acting_user: User, current_password: str, new_password: str) -> User:
    """A signed-in user changes their own password (the current one is asked again);
    audited without either password."""
    errors: dict[str, str] = {}
    if not acting_user.check_password(current_password):
        errors["current_password"] = "That is not your current password."
    else:
        try:
            validate_password(new_password, user=acting_user)
        except ValidationError as exc:
            errors["new_password"] = " ".join(exc.messages)
        if current_password == new_password:
            errors["new_password"] = "Choose a password different from the current one."
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        acting_user.set_password(new_password)
        acting_user.save(update_fields=["password"])
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=acting_user,
            new={"username": acting_user.username, "password": "changed"},
        )
    return acting_user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def require_token_issuer(acting_user: Actor, user: User) -> None:
    """Staff issue tokens for themselves; administrators (and the command line) for anyone."""
    staff = staff_user(acting_user)
    if staff is None or staff == user or staff.is_administrator:
        return
    raise Forbidden("You can only issue tokens for yourself.")


def api_token_issue(*, acting_user: Actor, user: User) -> str:
    """A new API token for ``user``; only its hash is kept, so this is the only time it is seen."""
    require_token_issuer(acting_user, user)
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
