"""The study dataset out of the database (export) and into it (load, through the services).

Export builds the dataset of ``docs/study-dataset.md`` from the records; a masked export
replaces arm ids by neutral codes. Load replays a dataset through the services in one
transaction: any refused record undoes everything.

Loading history is the one place an arm is *given* rather than drawn: each loaded
participant gets an allocation entry in the separate stratum ``"import"`` (already assigned,
audited with ``reveals_allocation``), so the live randomization service, which draws from
the participant's own stratum, can never hand one out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from django.db import transaction
from django.utils import timezone

from mindtrial.dataset import DatasetError, StudyDataset, StudyMeta, build_dataset
from mindtrial.dataset.schema import (
    ADVERSE_EVENTS,
    ATTENDANCE,
    PARTICIPANTS,
    RESPONSES,
    SCREENING,
    TOXICOLOGY,
    format_number,
)
from mindtrial.protocols import Protocol
from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.accounts.models import BLINDED_ROLES, Role
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_record
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.checkin.services import checkin_import
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.models import (
    BaselineAssessment,
    Consent,
    Participant,
    Randomization,
    Status,
)
from mindtrial.web.enrolment.services import COVARIATES, participant_assign_cohort
from mindtrial.web.exports.models import ImportedRecord
from mindtrial.web.programme.calendar import study_protocol
from mindtrial.web.programme.models import Attendance, AttendanceStatus
from mindtrial.web.programme.services import attendance_record
from mindtrial.web.safety.models import AdverseEvent, ExitKind, Withdrawal
from mindtrial.web.safety.services import adverse_event_import, participant_withdraw
from mindtrial.web.studies.models import AllocationEntry, AllocationSource, Cohort, Site, Study
from mindtrial.web.studies.services import cohort_create, site_create
from mindtrial.web.toxicology.models import TestStatus, ToxTest
from mindtrial.web.toxicology.schedule import _secret
from mindtrial.web.toxicology.services import tox_test_import

if TYPE_CHECKING:
    pass

IMPORT_STRATUM = "import"
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
_STATUS_OF_STAGE = {
    "referred": Status.REFERRED,
    "screened": Status.SCREEN_FAILED,
    "eligible": Status.NOT_RANDOMIZED,
    "consented": Status.NOT_RANDOMIZED,
    "baseline": Status.NOT_RANDOMIZED,
    "randomized": Status.RANDOMIZED,
}


# --------------------------------------------------------------------------- export


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
    key = _secret()
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


def _record_name(frame: pd.DataFrame, position: int) -> str:
    row = frame.iloc[position]
    parts = []
    for column in (*_KEY_COLUMNS, *_KEY_COLUMNS_LAST):
        if column in frame.columns and not _missing(row[column]):
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
            dataset = build_dataset(
                meta,
                participants=frames[PARTICIPANTS],
                responses=frames[RESPONSES],
                toxicology=frames[TOXICOLOGY],
                attendance=frames[ATTENDANCE],
                adverse_events=frames[ADVERSE_EVENTS],
                screening=frames[SCREENING],
                protocol=protocol,
            )
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
    arms = dict(
        Randomization.objects.filter(participant__study=study).values_list(
            "participant_id", "entry__arm_id"
        )
    )
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


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any) -> Any:
    if _missing(value):
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
    *,
    acting_user: Actor,
    study: Study,
    site: Site,
    code: str,
    referral_date: dt.date,
    status: Status,
    reason: str,
    covariates: dict[str, Any],
    record: ImportedRecord,
) -> Participant:
    participant = Participant.objects.create(
        study=study,
        site=site,
        code=code,
        referral_source="other",
        referral_date=referral_date,
        status=status,
        status_reason=reason,
        covariates=covariates,
    )
    record.participant = participant
    record.save()
    audit_record(
        acting_user=acting_user,
        action=AuditAction.CREATE,
        target=participant,
        study=study,
        new={
            "code": code,
            "site": site.code,
            "referral_date": referral_date,
            "status": status,
            "covariates": covariates,
            "source": "import",
        },
    )
    return participant


def _import_randomization(
    *, acting_user: Actor, participant: Participant, arm: str, sequence: int, on: dt.date
) -> None:
    entry = AllocationEntry.objects.create(
        study=participant.study,
        stratum=IMPORT_STRATUM,
        sequence=sequence,
        arm_id=arm,
        source=AllocationSource.REDCAP_UPLOAD,
        assigned=True,
    )
    randomization = Randomization.objects.create(
        participant=participant, entry=entry, randomized_by=staff_user(acting_user)
    )
    stamp = dt.datetime.combine(on, dt.time(12, 0), tzinfo=dt.UTC)
    Randomization.objects.filter(pk=randomization.pk).update(randomized_at=stamp)
    audit_record(
        acting_user=acting_user,
        action=AuditAction.RANDOMIZE,
        target=participant,
        study=participant.study,
        new={"arm": arm, "stratum": IMPORT_STRATUM, "sequence": sequence, "randomized_on": on},
        reason="loaded from a study dataset",
        reveals_allocation=True,
    )


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

    sequence = AllocationEntry.objects.filter(study=study, stratum=IMPORT_STRATUM).count()
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
        sequence += 1
        _import_randomization(
            acting_user=acting_user,
            participant=participant,
            arm=row["arm"],
            sequence=sequence,
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
    "CheckedExport",
    "DatasetError",
    "LeftOut",
    "LoadError",
    "LoadSummary",
    "dataset_load",
    "masked_codes",
    "require_exporter",
    "study_data_problems",
    "study_export",
    "study_export_checked",
]
