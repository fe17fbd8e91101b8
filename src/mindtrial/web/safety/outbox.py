"""Sending the safety alerts' e-mails from the outbox (``AlertEmail`` rows).

The adverse-event service writes one ``AlertEmail`` per monitor with an address in the
same transaction as the event, so an alert is never lost and never claimed as sent before
it is. :func:`alert_emails_send` sends the due rows through Django's e-mail backend (SMTP
settings from the environment, the console backend by default): right after the event's
transaction commits (:func:`send_after_commit`, which never fails the request) and from the
worker, ``mindtrial manage send_alerts``, which retries pending rows with a growing delay.

Each row is *claimed* in a short update before the message goes out (``next_attempt_at``
moves past a lease), so two workers never send the same row at once and no database lock
is held while the mail server answers; a worker that dies mid-send leaves the row to be
retried when the lease ends (a rare duplicate e-mail rather than a lost one).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mindtrial.web.safety.models import AlertEmail, DeliveryStatus

MAX_ATTEMPTS: Final = 6
"""Tries before an e-mail is marked failed (with the delays below: about an hour)."""
LEASE: Final = dt.timedelta(minutes=5)
"""How long a claimed row is left alone by other workers while it is being sent."""

logger = logging.getLogger(__name__)


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait after the ``attempts``-th failure: 1, 2, 4, 8, 16… minutes, at most an hour."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


@dataclass(frozen=True)
class OutboxRun:
    """What one pass over the outbox did."""

    sent: int
    retrying: int
    failed: int


def _claim(pk: int, now: dt.datetime) -> AlertEmail | None:
    claimed = AlertEmail.objects.filter(
        pk=pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    return AlertEmail.objects.get(pk=pk) if claimed else None


def _error_text(exc: Exception) -> str:
    """The kind of failure for the monitor's page (no message body, no credentials)."""
    return f"{type(exc).__name__}: {exc}"[:200]


def alert_emails_send(
    *, now: dt.datetime | None = None, only: Iterable[int] | None = None, limit: int = 200
) -> OutboxRun:
    """Send the pending e-mails that are due (``only``: just these rows) and record each
    outcome: sent, pending with the next attempt's time, or failed after ``MAX_ATTEMPTS``."""
    now = now or timezone.now()
    due = AlertEmail.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    if only is not None:
        due = due.filter(pk__in=list(only))
    ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    sent = retrying = failed = 0
    connection = get_connection(fail_silently=False)
    sender = settings.DEFAULT_FROM_EMAIL
    for pk in ids:
        with transaction.atomic():
            email = _claim(pk, now)
        if email is None:
            continue  # another worker has it
        try:
            EmailMessage(
                email.subject, email.body, sender, [email.address], connection=connection
            ).send()
        except Exception as exc:  # any failure of the mail server is retried
            email.last_error = _error_text(exc)
            if email.attempts >= MAX_ATTEMPTS:
                email.status = DeliveryStatus.FAILED
                failed += 1
                logger.error("safety alert e-mail %s failed for good: %s", pk, email.last_error)
            else:
                email.next_attempt_at = now + retry_delay(email.attempts)
                retrying += 1
                logger.warning("safety alert e-mail %s will be retried: %s", pk, email.last_error)
        else:
            email.status = DeliveryStatus.SENT
            email.sent_at = timezone.now()
            email.last_error = ""
            sent += 1
        email.save(update_fields=["status", "sent_at", "last_error", "next_attempt_at"])
    return OutboxRun(sent=sent, retrying=retrying, failed=failed)


def send_after_commit(ids: list[int]) -> None:
    """Try these rows as soon as the surrounding transaction commits; whatever happens, the
    caller's request goes on (the rows stay pending for the worker)."""

    def attempt() -> None:
        try:
            alert_emails_send(only=ids)
        except Exception:  # the worker retries; the request must not fail
            logger.exception("sending safety alert e-mails right away failed; left pending")

    if ids:
        transaction.on_commit(attempt)
