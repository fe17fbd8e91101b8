"""The study dataset out of the database: the export, read-only.

Builds the dataset of ``docs/study-dataset.md`` from the records of every app; a masked
export replaces arm ids by neutral codes keyed by the study's concealment secret. A stored
record the dataset refuses is left out and named (:class:`CheckedExport`), so one bad row
never stops an export; ``mindtrial check`` lists them (:func:`study_data_problems`).
Writing a dataset *into* the database is :mod:`mindtrial.web.exports.services`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.utils import timezone

from mindtrial.dataset import DatasetError, StudyDataset, StudyMeta, build_dataset_from_frames
from mindtrial.dataset.schema import (
    PARTICIPANTS,
)
from mindtrial.protocols import Protocol
from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.accounts.models import BLINDED_ROLES, Role
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.enrolment.models import (
    BaselineAssessment,
    Consent,
    Participant,
    Randomization,
    Status,
)
from mindtrial.web.enrolment.selectors import study_arms
from mindtrial.web.enrolment.services import COVARIATES
from mindtrial.web.exports.models import ImportedRecord
from mindtrial.web.programme.models import Attendance, AttendanceStatus
from mindtrial.web.safety.models import AdverseEvent, Withdrawal
from mindtrial.web.studies.concealment import concealment_key
from mindtrial.web.studies.models import Study
from mindtrial.web.toxicology.models import TestStatus, ToxTest

UNBLINDED_EXPORTERS = frozenset({Role.ADMINISTRATOR, Role.DATA_MANAGER, Role.SAFETY_MONITOR})
MASKED_EXPORTERS = UNBLINDED_EXPORTERS | BLINDED_ROLES

_STAGE_OF_STATUS = {
    Status.REFERRED: "referred",
    Status.SCREEN_FAILED: "screened",
    Status.ELIGIBLE: "eligible",
    Status.CONSENTED: "consented",
    Status.BASELINE_COMPLETE: "baseline",
    Status.RANDOMIZED: "randomized",
}


def require_exporter(user: Actor, *, masked: bool) -> None:
    """Blinded roles may export only masked datasets; the command line may do both."""
    staff = staff_user(user)
    if staff is None or staff.is_superuser:
        return
    allowed = MASKED_EXPORTERS if masked else UNBLINDED_EXPORTERS
    if staff.role not in allowed:
        raise ServiceError(
            "Your role can export only the masked dataset."
            if staff.role in MASKED_EXPORTERS
            else "Your role cannot export the study dataset."
        )


def masked_codes(study: Study) -> dict[str, str]:
    """Arm id -> neutral code (``A``, ``B``…), ordered by a keyed hash so the code says nothing."""
    key = concealment_key()
    ranked = sorted(
        study.arm_ids,
        key=lambda arm: hmac.new(key, f"mask:{study.pk}:{arm}".encode(), hashlib.sha256).digest(),
    )
    return {arm: chr(ord("A") + i) for i, arm in enumerate(ranked)}


def _answer_number(value: Any) -> float | None:
    """responses.csv holds numbers (yes/no as 1/0); other answers are not exported there."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _stage(participant: Participant) -> str:
    if participant.status in _STAGE_OF_STATUS:
        return _STAGE_OF_STATUS[Status(participant.status)]
    done = set(
        BaselineAssessment.objects.filter(participant=participant).values_list(
            "instrument", flat=True
        )
    )
    if COVARIATES in done:
        return "baseline"
    return "consented" if Consent.objects.filter(participant=participant).exists() else "eligible"


def _na(value: str) -> str | None:
    return value if value else None


@dataclass(frozen=True)
class LeftOut:
    """A stored record the study dataset cannot hold, left out of an export and named."""

    file: str
    record: str
    """Which record, by its key (``participant P0001, week 3``), never by a row number."""
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}, {self.record}"
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class CheckedExport:
    """An export built from whatever stored records are valid, and those that were not."""

    dataset: StudyDataset
    left_out: tuple[LeftOut, ...]


_KEY_COLUMNS = ("participant_id", "ae_id", "referral_id", "week", "onset_week", "instrument")
_KEY_COLUMNS_LAST = ("item", "analyte")
_MAX_PASSES = 10


def is_missing(value: Any) -> bool:
    """A dataset cell with no value (None, NA, NaT or NaN)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _record_name(frame: pd.DataFrame, position: int) -> str:
    row = frame.iloc[position]
    parts = []
    for column in (*_KEY_COLUMNS, *_KEY_COLUMNS_LAST):
        if column in frame.columns and not is_missing(row[column]):
            parts.append(f"{column.replace('_id', '')} {row[column]}")
    return ", ".join(parts) or f"record {position + 1}"


def _tolerant_build(
    meta: StudyMeta, frames: dict[str, pd.DataFrame], protocol: Protocol
) -> CheckedExport:
    """Build the dataset; a record the dataset refuses is left out and named (with the
    records of a participant whose own row was left out), so one bad stored row never
    stops the export. Problems with a whole file cannot be left out and raise."""
    frames = dict(frames)
    left_out: list[LeftOut] = []
    for _ in range(_MAX_PASSES):
        try:
            dataset = build_dataset_from_frames(meta, frames, protocol=protocol)
        except DatasetError as exc:
            whole = [p for p in exc.problems if p.row is None]
            if whole:
                raise ServiceError(
                    "The export cannot be built: " + "; ".join(str(p) for p in whole)
                ) from None
            drop: dict[str, set[int]] = defaultdict(set)
            for problem in exc.problems:
                assert problem.row is not None
                position = problem.row - 2  # the header is row 1
                frame = frames[problem.file]
                left_out.append(
                    LeftOut(
                        problem.file,
                        _record_name(frame, position),
                        problem.column,
                        problem.message,
                    )
                )
                drop[problem.file].add(position)
            gone_participants = {
                str(frames[PARTICIPANTS].iloc[i]["participant_id"]) for i in drop[PARTICIPANTS]
            }
            for file, positions in drop.items():
                frame = frames[file]
                frames[file] = frame.drop(index=frame.index[sorted(positions)])
            if gone_participants:
                for file, frame in frames.items():
                    if file == PARTICIPANTS:
                        continue
                    with_them = frame["participant_id"].isin(gone_participants)
                    for position in [i for i, hit in enumerate(with_them) if hit]:
                        left_out.append(
                            LeftOut(
                                file,
                                _record_name(frame, position),
                                None,
                                "its participant's row was left out",
                            )
                        )
                    frames[file] = frame[~with_them]
            continue
        return CheckedExport(dataset=dataset, left_out=tuple(left_out))
    raise ServiceError("The export cannot be built: too many bad records; run `mindtrial check`.")


def study_export(*, acting_user: Actor, study: Study, masked: bool = False) -> StudyDataset:
    """The study's records as a validated study dataset (randomized participants' data);
    records the dataset cannot hold are left out (see :func:`study_export_checked`)."""
    return study_export_checked(acting_user=acting_user, study=study, masked=masked).dataset


def study_data_problems(study: Study) -> tuple[LeftOut, ...]:
    """Every stored record of ``study`` that an export would leave out (empty when clean)."""
    return _checked_export(study, masked=False).left_out


def study_export_checked(
    *, acting_user: Actor, study: Study, masked: bool = False
) -> CheckedExport:
    """The study's records as a validated study dataset, with the stored records that the
    dataset cannot hold left out and named: a bad stored row never makes the export fail."""
    require_exporter(acting_user, masked=masked)
    return _checked_export(study, masked=masked)


def _checked_export(study: Study, *, masked: bool) -> CheckedExport:
    protocol = study_protocol(study)
    codes = masked_codes(study) if masked else {}
    everyone = list(
        Participant.objects.filter(study=study)
        .select_related("site", "cohort")
        .order_by("referral_date", "id")
    )
    imported = {
        r.participant_id: r for r in ImportedRecord.objects.filter(participant__study=study)
    }
    arms = study_arms(study)
    randomized_at = dict(
        Randomization.objects.filter(participant__study=study).values_list(
            "participant_id", "randomized_at"
        )
    )
    withdrawals = {w.participant_id: w for w in Withdrawal.objects.filter(participant__study=study)}
    randomized = [p for p in everyone if p.status == Status.RANDOMIZED and p.pk in arms]
    code_of = {p.pk: p.code for p in randomized}

    participant_rows = []
    for p in sorted(randomized, key=lambda p: p.code):
        record = imported.get(p.pk)
        cohort: str | None
        if record is not None:
            cohort = record.cohort_label if record.has_cohort else None
        else:
            cohort = f"C{p.cohort.number:03d}" if p.cohort is not None else None
        w = withdrawals.get(p.pk)
        arm = arms[p.pk]
        row: dict[str, Any] = {
            "participant_id": p.code,
            "arm": codes.get(arm, arm) if masked else arm,
            "site": None if record is not None and record.site_blank else p.site.code,
            "cohort": cohort,
            "randomized_on": randomized_at[p.pk].astimezone(dt.UTC).date(),
            "withdrawn_week": w.week if w else None,
            "withdrawal_reason": w.reason if w else None,
        }
        for covariate in protocol.baseline_covariates:
            row[covariate.name] = p.covariates.get(covariate.name)
        participant_rows.append(row)

    responses = []
    for b in BaselineAssessment.objects.filter(participant_id__in=code_of).exclude(
        instrument=COVARIATES
    ):
        for item, value in b.answers.items():
            number = _answer_number(value)
            if number is not None:
                responses.append((code_of[b.participant_id], 0, b.instrument, item, number))
    for c in CheckIn.objects.filter(participant_id__in=code_of):
        for instrument, items in c.answers.items():
            for item, value in items.items():
                number = _answer_number(value)
                if number is not None:
                    responses.append((code_of[c.participant_id], c.week, instrument, item, number))
    responses.sort()

    panel = list(protocol.toxicology.panel) if protocol.toxicology else []
    tox = []
    for t in ToxTest.objects.filter(participant_id__in=code_of).exclude(
        status__in=[TestStatus.REFUSED, TestStatus.MISSED]
    ):
        for analyte in panel:
            if analyte in t.results:
                tox.append(
                    (
                        code_of[t.participant_id],
                        t.week,
                        panel.index(analyte),
                        analyte,
                        t.results[analyte],
                    )
                )
    tox.sort()

    attendance = sorted(
        (code_of[a.participant_id], a.week, a.status == AttendanceStatus.PRESENT)
        for a in Attendance.objects.filter(participant_id__in=code_of)
    )
    events = sorted(
        (code_of[e.participant_id], e.onset_week, e.code, e)
        for e in AdverseEvent.objects.filter(participant_id__in=code_of)
    )
    screening = []
    for p in everyone:
        record = imported.get(p.pk)
        if record is not None and not record.in_screening:
            continue
        randomized_now = p.pk in code_of
        if record is not None:
            reason = record.exclusion_reason if record.has_exclusion_reason else None
        else:
            reason = _na(p.status_reason) if not randomized_now else None
        screening.append(
            {
                "referral_id": record.referral_id if record is not None else p.code,
                "participant_id": p.code if randomized_now else None,
                "referred_on": p.referral_date,
                "stage": record.stage if record is not None else _stage(p),
                "exclusion_reason": reason,
            }
        )
    screening.sort(key=lambda r: str(r["referral_id"]))

    meta = StudyMeta(
        protocol_id=study.protocol_id,
        protocol_version=study.protocol_version,
        exported_at=timezone.now(),
        arms_masked=masked,
        source="web",
    )
    covariate_names = [c.name for c in protocol.baseline_covariates]
    frames = {
        "participants": _frame(
            participant_rows,
            [
                "participant_id",
                "arm",
                "site",
                "cohort",
                "randomized_on",
                "withdrawn_week",
                "withdrawal_reason",
                *covariate_names,
            ],
        ),
        "responses": _frame(
            [
                dict(zip(("participant_id", "week", "instrument", "item", "value"), r, strict=True))
                for r in responses
            ],
            ["participant_id", "week", "instrument", "item", "value"],
        ),
        "toxicology": _frame(
            [{"participant_id": r[0], "week": r[1], "analyte": r[3], "result": r[4]} for r in tox],
            ["participant_id", "week", "analyte", "result"],
        ),
        "attendance": _frame(
            [{"participant_id": r[0], "week": r[1], "attended": r[2]} for r in attendance],
            ["participant_id", "week", "attended"],
        ),
        "adverse_events": _frame(
            [
                {
                    "participant_id": pid,
                    "onset_week": week,
                    "severity": e.severity,
                    "serious": e.serious,
                    "related": e.related,
                    "expected": e.expected,
                    "ae_id": code,
                    "relatedness": _na(e.relatedness),
                    "outcome": _na(e.outcome),
                }
                for pid, week, code, e in events
            ],
            [
                "participant_id",
                "onset_week",
                "severity",
                "serious",
                "related",
                "expected",
                "ae_id",
                "relatedness",
                "outcome",
            ],
        ),
        "screening": _frame(
            screening, ["referral_id", "participant_id", "referred_on", "stage", "exclusion_reason"]
        ),
    }
    return _tolerant_build(meta, {f"{name}.csv": frame for name, frame in frames.items()}, protocol)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object)


__all__ = [
    "MASKED_EXPORTERS",
    "UNBLINDED_EXPORTERS",
    "CheckedExport",
    "LeftOut",
    "masked_codes",
    "require_exporter",
    "study_data_problems",
    "study_export",
    "study_export_checked",
]
