"""The participant's weekly records, whichever app keeps them.

Attendance (programme), toxicology tests and check-ins are each a model with a
``participant`` and a study ``week``; the model says so with a class attribute
``weekly_record = "<plural label>"``. Apps below them (enrolment's cohort moves, safety's
withdrawals) ask here "what is recorded for this participant, up to which week" without
importing the apps that keep the data (the web apps' layers, ARCHITECTURE.md).
"""

from __future__ import annotations

from django.apps import apps
from django.db import models
from django.db.models import Max

from mindtrial.web.enrolment.models import Participant


def weekly_record_models() -> list[tuple[str, type[models.Model]]]:
    """(label, model) of every model declaring ``weekly_record``, in app registry order."""
    return [
        (str(label), model)
        for model in apps.get_models()
        if (label := getattr(model, "weekly_record", None))
    ]


def last_recorded_weeks(participant: Participant) -> dict[str, int]:
    """The last week with data of each kind of weekly record (kinds with none left out)."""
    found: dict[str, int] = {}
    for label, model in weekly_record_models():
        manager = model._default_manager
        last = manager.filter(participant=participant).aggregate(m=Max("week"))["m"]
        if last:
            found[label] = int(last)
    return found


def recorded_from_week(participant: Participant, week: int) -> list[str]:
    """The kinds of weekly record the participant has from ``week`` on."""
    return [
        label
        for label, model in weekly_record_models()
        if model._default_manager.filter(participant=participant, week__gte=week).exists()
    ]
