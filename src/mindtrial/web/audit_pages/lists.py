"""The audit page as a list: human labels for object types, old → new as rows of a table,
filters by action, object type, participant and dates (see :mod:`mindtrial.web.listing`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db.models import Q, QuerySet

from mindtrial.web.audit.models import AuditAction, AuditEvent
from mindtrial.web.listing import Cell, Column, Filter, ListSpec

if TYPE_CHECKING:
    from mindtrial.web.enrolment.models import Participant
    from mindtrial.web.studies.models import Study


def object_type_label(label: str) -> str:
    """``safety.adverseevent`` → ``Adverse event`` (the model's own verbose name)."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return label
    name = str(model._meta.verbose_name)
    return name[:1].upper() + name[1:]


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _as_mapping(values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    return dict(values) if isinstance(values, dict) else {"value": values}


def changes(event: AuditEvent) -> tuple[tuple[str, str, str], ...]:
    """(field, old, new) for every field the event changed, by field name ("—": absent).
    A field whose old and new values are equal is left out."""
    old, new = _as_mapping(event.old_values), _as_mapping(event.new_values)
    rows = []
    for key in sorted(old.keys() | new.keys()):
        if key in old and key in new and old[key] == new[key]:
            continue
        before = _shown(old[key]) if key in old else "—"
        after = _shown(new[key]) if key in new else "—"
        rows.append((key.replace("_", " "), before, after))
    return tuple(rows)


def participant_events(participant: Participant) -> Q:
    """Events about the participant or about any record that points at them."""
    found = Q(object_type=participant._meta.label_lower, object_id=str(participant.pk))
    for model in apps.get_models():
        for f in model._meta.get_fields():
            if getattr(f, "related_model", None) is type(participant) and f.concrete:
                ids = model._default_manager.filter(**{f.name: participant}).values_list(
                    "pk", flat=True
                )
                found |= Q(object_type=model._meta.label_lower, object_id__in=[str(i) for i in ids])
    return found


def audit_list_spec(
    study: Study, participants: QuerySet[Participant], types: list[str]
) -> ListSpec[AuditEvent]:
    def by_code(text: str) -> Participant:
        match = participants.filter(code__iexact=text).first()
        if match is None:
            raise ValueError(f"no participant with the code “{text[:40]}” in this study.")
        return match

    return ListSpec(
        name="audit",
        columns=[
            Column(
                "when",
                "When (UTC)",
                lambda e: Cell(e.acted_at.strftime("%Y-%m-%d %H:%M:%S")),
                ("acted_at",),
            ),
            Column(
                "who",
                "Who",
                lambda e: Cell(e.actor_label),
                ("acting_user__username", "acting_as"),
            ),
            Column("action", "Action", lambda e: Cell(e.get_action_display()), ("action",)),
            Column(
                "object",
                "Object",
                lambda e: Cell(f"{object_type_label(e.object_type)} #{e.object_id}"),
                ("object_type", "object_id"),
            ),
            Column("changes", "Old → new", lambda e: Cell("", changes=changes(e))),
            Column("reason", "Reason", lambda e: Cell(e.reason), wrap=True),
        ],
        default_sort="-when",
        filters=[
            Filter(
                "action",
                "Action",
                lambda qs, v: qs.filter(action=v),
                choices=[(str(v), str(label)) for v, label in AuditAction.choices],
            ),
            Filter(
                "object_type",
                "Record type",
                lambda qs, v: qs.filter(object_type=v),
                choices=sorted(((t, object_type_label(t)) for t in types), key=lambda c: c[1]),
            ),
            Filter(
                "participant",
                "Participant code",
                lambda qs, p: qs.filter(participant_events(p)),
                kind="text",
                parse=by_code,
            ),
            Filter("since", "From", lambda qs, d: qs.filter(acted_at__date__gte=d), kind="date"),
            Filter("until", "To", lambda qs, d: qs.filter(acted_at__date__lte=d), kind="date"),
        ],
    )


def object_types(events: QuerySet[AuditEvent]) -> list[str]:
    """The record types the study's trail holds (for the filter's choices)."""
    return sorted(set(events.order_by().values_list("object_type", flat=True).distinct()))
