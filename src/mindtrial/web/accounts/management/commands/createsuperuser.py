"""Django's ``createsuperuser``, made an audited administrator.

The new account gets the administrator role, and the creation is recorded by the audit
service in the same transaction (``mindtrial user add --role administrator`` does the same
through :func:`mindtrial.web.accounts.services.user_create`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.management.commands import createsuperuser
from django.db import transaction

from mindtrial.web.accounts.actors import SystemActor
from mindtrial.web.accounts.models import Role, User
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_record

ACTOR = SystemActor("manage.py createsuperuser")


class Command(createsuperuser.Command):
    help = "Create an administrator (superuser); the creation is audited."

    def handle(self, *args: Any, **options: Any) -> str | None:
        database = options.get("database") or "default"
        with transaction.atomic(using=database):
            last = User.objects.using(database).order_by("-pk").values_list("pk", flat=True).first()
            result = super().handle(*args, **options)
            for user in User.objects.using(database).filter(pk__gt=last or 0):
                User.objects.using(database).filter(pk=user.pk).update(role=Role.ADMINISTRATOR)
                audit_record(
                    acting_user=ACTOR,
                    action=AuditAction.CREATE,
                    target=user,
                    new={"username": user.username, "role": Role.ADMINISTRATOR, "superuser": True},
                )
        return result
