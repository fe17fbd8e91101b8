"""``mindtrial manage send_alerts``: the outbox worker for safety-alert e-mails.

Once by default (run it from cron or a systemd timer every minute or so); ``--every N``
keeps it running and makes a pass every N seconds. Exit status 0 whatever the mail server
did: each outcome is stored on the alert and shown to the safety monitor.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mindtrial.web.safety.outbox import alert_emails_send


class Command(BaseCommand):
    help = "Send the pending safety-alert e-mails that are due (retrying failed attempts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Keep running, one pass every SECONDS (default: one pass, then exit).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = int(options["every"])
        while True:
            run = alert_emails_send()
            if run.sent or run.retrying or run.failed or options["verbosity"] > 1:
                self.stdout.write(
                    f"safety alert e-mails: {run.sent} sent, {run.retrying} to retry, "
                    f"{run.failed} failed"
                )
            if every <= 0:
                return
            time.sleep(every)
