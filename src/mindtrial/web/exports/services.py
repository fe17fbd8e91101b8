"""A study dataset into the database (``mindtrial load``, the demo), through the services.

Load replays a dataset through each app's public services in one transaction: any refused
record undoes everything. Reading a study out as a dataset is
:mod:`mindtrial.web.exports.selectors`.

Loading history is the one place an arm is *given* rather than drawn: each loaded
participant gets an allocation entry in the separate stratum ``"import"`` (already assigned,
audited with ``reveals_allocation``; :func:`mindtrial.web.enrolment.services.randomization_import`),
so the live randomization service, which draws from the participant's own stratum, can never
hand one out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.db import transaction

from mindtrial.dataset import DatasetError, StudyDataset, build_dataset
from mindtrial.dataset.schema import (
    format_number,
)
from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.checkin.services import checkin_import
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.models import (
    Participant,
    Status,
)
from mindtrial.web.enrolment.services import (
    participant_assign_cohort,
    participant_import,
    randomization_import,
)
from mindtrial.web.exports.models import ImportedRecord
from mindtrial.web.exports.selectors import is_missing
from mindtrial.web.programme.models import AttendanceStatus
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.models import ExitKind
from mindtrial.web.safety.services import adverse_event_import, participant_withdraw
from mindtrial.web.studies.models import Cohort, Site, Study
from mindtrial.web.studies.services import cohort_create, site_create
from mindtrial.web.toxicology.services import tox_test_import

_STATUS_OF_STAGE = {
    "referred": Status.REFERRED,
    "screened": Status.SCREEN_FAILED,
    "eligible": Status.NOT_RANDOMIZED,
    "consented": Status.NOT_RANDOMIZED,
    "baseline": Status.NOT_RANDOMIZED,
    "randomized": Status.RANDOMIZED,
}


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class LoadSummary:
    participants: int
    referrals: int
    checkins: int
    tests: int
    attendance: int
    adverse_events: int
    withdrawals: int


class LoadError(ValueError):
    """A dataset record the services refused; nothing was loaded."""


def _plain(value: Any) -> Any:
    if is_missing(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _date(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def _site(acting_user: Actor, study: Study, code: str) -> Site:
    found = Site.objects.filter(study=study, code=code).first()
    return found or site_create(acting_user=acting_user, study=study, code=code, name=code)


def _cohorts(acting_user: Actor, study: Study, starts: dict[str, dt.date]) -> dict[str, Cohort]:
    """One cohort per dataset label, starting on the earliest randomization of its members."""
    made: dict[str, Cohort] = {}
    for label in sorted(starts):
        start = starts[label]
        made[label] = cohort_create(
            acting_user=acting_user,
            study=study,
            start_date=start,
            weekday=start.weekday(),
            meeting_time=dt.time(18, 0),
            timezone="UTC",
        )
    return made


def _import_participant(
    *, acting_user: Actor, study: Study, site: Site, record: ImportedRecord, **fields: Any
) -> Participant:
    """The participant through the enrolment import service, and the export's note of how
    the dataset spelled them (so an export gives the same dataset back)."""
    participant = participant_import(acting_user=acting_user, study=study, site=site, **fields)
    record.participant = participant
    record.save()
    return participant


def _rows(frame: pd.DataFrame) -> Iterable[dict[str, Any]]:
    for record in frame.to_dict(orient="records"):
        yield {str(k): _plain(v) for k, v in record.items()}


def dataset_load(*, acting_user: Actor, study: Study, dataset: StudyDataset) -> LoadSummary:
    """Load ``dataset`` into ``study`` through the services, all or nothing."""
    staff = staff_user(acting_user)
    if staff is not None and not staff.is_administrator:
        raise ServiceError("Only an administrator (or the operator) loads a study dataset.")
    meta = dataset.meta
    if meta.protocol_id != study.protocol_id:
        raise LoadError(
            f"the dataset is for protocol {meta.protocol_id}, the study uses {study.protocol_id}"
        )
    if meta.arms_masked:
        raise LoadError("a masked dataset has no arms to load; load the unmasked export")
    try:  # validated and in canonical form (answers as the instruments write them)
        dataset = build_dataset(
            meta,
            participants=dataset.participants,
            responses=dataset.responses,
            toxicology=dataset.toxicology,
            attendance=dataset.attendance,
            adverse_events=dataset.adverse_events,
            screening=dataset.screening,
            protocol=study_protocol(study),
        )
    except DatasetError as exc:
        raise LoadError(str(exc)) from None
    unknown_arms = sorted(set(dataset.participants["arm"].dropna()) - set(study.arm_ids))
    if unknown_arms:
        raise LoadError(f"participants.csv names arms the study lacks: {', '.join(unknown_arms)}")
    existing = set(Participant.objects.filter(study=study).values_list("code", flat=True))
    ids = set(dataset.participants["participant_id"]) | set(
        dataset.screening["referral_id"][dataset.screening["participant_id"].isna()]
    )
    clash = sorted(ids & existing)
    if clash:
        raise LoadError(f"the study already has participants {', '.join(clash[:5])}")
    try:
        with transaction.atomic():
            return _load(acting_user, study, dataset)
    except ServiceError as exc:
        raise LoadError(str(exc)) from None


def _load(acting_user: Actor, study: Study, dataset: StudyDataset) -> LoadSummary:
    protocol = study_protocol(study)
    covariate_names = [c.name for c in protocol.baseline_covariates]
    participants = {row["participant_id"]: row for row in _rows(dataset.participants)}
    screened = {
        row["participant_id"]: row
        for row in _rows(dataset.screening)
        if row["participant_id"] is not None
    }

    starts: dict[str, dt.date] = {}
    for row in participants.values():
        if row["cohort"] is not None:
            day = _date(row["randomized_on"])
            starts[row["cohort"]] = min(starts.get(row["cohort"], day), day)
    cohorts = _cohorts(acting_user, study, starts)
    blank_site = "unspecified"

    loaded: dict[str, Participant] = {}
    referrals = 0
    for row in _rows(dataset.screening):
        referrals += 1
        pid = row["participant_id"]
        reason = row["exclusion_reason"]
        if pid is not None:
            continue  # randomized: made below from participants.csv
        _import_participant(
            acting_user=acting_user,
            study=study,
            site=_site(acting_user, study, blank_site),
            code=row["referral_id"],
            referral_date=_date(row["referred_on"]),
            status=_STATUS_OF_STAGE[row["stage"]],
            reason=reason or "",
            covariates={},
            record=ImportedRecord(
                referral_id=row["referral_id"],
                stage=row["stage"],
                exclusion_reason=reason or "",
                has_exclusion_reason=reason is not None,
                site_blank=True,
            ),
        )
    for pid in sorted(participants):
        row = participants[pid]
        screen = screened.get(pid)
        reason = screen["exclusion_reason"] if screen else None
        participant = _import_participant(
            acting_user=acting_user,
            study=study,
            site=_site(acting_user, study, row["site"] or blank_site),
            code=pid,
            referral_date=_date(screen["referred_on"] if screen else row["randomized_on"]),
            status=Status.RANDOMIZED,
            reason="",
            covariates={n: row[n] for n in covariate_names if row.get(n) is not None},
            record=ImportedRecord(
                referral_id=screen["referral_id"] if screen else pid,
                stage="randomized",
                exclusion_reason=reason or "",
                has_exclusion_reason=reason is not None,
                site_blank=row["site"] is None,
                cohort_label=row["cohort"] or "",
                has_cohort=row["cohort"] is not None,
                in_screening=screen is not None,
            ),
        )
        randomization_import(
            acting_user=acting_user,
            participant=participant,
            arm=row["arm"],
            on=_date(row["randomized_on"]),
        )
        if row["cohort"] is not None:
            participant_assign_cohort(
                acting_user=acting_user, participant=participant, cohort=cohorts[row["cohort"]]
            )
        loaded[pid] = participant

    answers: dict[tuple[str, int], dict[str, dict[str, str]]] = defaultdict(dict)
    for row in _rows(dataset.responses):
        value = row["value"]
        text = format_number(float(value)) if isinstance(value, int | float) else str(value)
        answers[(row["participant_id"], int(row["week"]))].setdefault(row["instrument"], {})[
            row["item"]
        ] = text
    for (pid, week), given in sorted(answers.items()):
        _at(
            pid,
            week,
            "responses.csv",
            checkin_import,
            acting_user=acting_user,
            participant=loaded[pid],
            week=week,
            answers=given,
        )

    results: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    for row in _rows(dataset.toxicology):
        results[(row["participant_id"], int(row["week"]))][row["analyte"]] = row["result"]
    for (pid, week), found in sorted(results.items()):
        _at(
            pid,
            week,
            "toxicology.csv",
            tox_test_import,
            acting_user=acting_user,
            participant=loaded[pid],
            week=week,
            results=found,
        )

    n_attendance = 0
    for row in _rows(dataset.attendance):
        pid, week = row["participant_id"], int(row["week"])
        status = AttendanceStatus.PRESENT if row["attended"] else AttendanceStatus.ABSENT
        _at(
            pid,
            week,
            "attendance.csv",
            attendance_record,
            acting_user=acting_user,
            participant=loaded[pid],
            week=week,
            status=status,
        )
        n_attendance += 1

    n_events = 0
    for row in _rows(dataset.adverse_events):
        pid, week = row["participant_id"], int(row["onset_week"])
        n_events += 1
        code = row.get("ae_id") or f"AE{n_events:05d}"
        _at(
            pid,
            week,
            "adverse_events.csv",
            adverse_event_import,
            acting_user=acting_user,
            participant=loaded[pid],
            code=code,
            onset_week=week,
            severity=row["severity"],
            serious=bool(row["serious"]),
            related=bool(row["related"]),
            expected=bool(row["expected"]),
            relatedness=row.get("relatedness") or "",
            outcome=row.get("outcome") or "",
        )

    n_withdrawals = 0
    for pid, row in sorted(participants.items()):
        if row["withdrawn_week"] is None:
            continue
        reason = row["withdrawal_reason"] or "not given"
        kind = ExitKind.LOST if "lost" in reason.lower() else ExitKind.WITHDRAWN
        week = int(row["withdrawn_week"])
        _at(
            pid,
            week,
            "participants.csv",
            participant_withdraw,
            acting_user=acting_user,
            participant=loaded[pid],
            kind=kind,
            week=week,
            reason=reason,
        )
        n_withdrawals += 1
    return LoadSummary(
        participants=len(loaded),
        referrals=referrals,
        checkins=len(answers),
        tests=len(results),
        attendance=n_attendance,
        adverse_events=n_events,
        withdrawals=n_withdrawals,
    )


def _at(pid: str, week: int, file: str, service: Any, /, **kwargs: Any) -> None:
    """Call one service; a refusal becomes a LoadError naming the file, participant and week."""
    try:
        service(**kwargs)
    except ServiceError as exc:
        raise LoadError(f"{file}: participant {pid}, week {week}: {exc}") from None


__all__ = [
    "LoadError",
    "LoadSummary",
    "dataset_load",
]
