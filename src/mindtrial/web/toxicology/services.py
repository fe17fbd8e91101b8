"""Recording observed toxicology tests (and their screen captures)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction

from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_correction, audit_record, require_change
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.access import STAFF_WRITERS, require_writer
from mindtrial.web.enrolment.calendar import participant_today, study_protocol, week_of
from mindtrial.web.enrolment.models import Participant, Status
from mindtrial.web.programme.services import require_week_started
from mindtrial.web.safety.selectors import require_collecting
from mindtrial.web.toxicology.models import TestStatus, ToxTest
from mindtrial.web.toxicology.schedule import is_test_day

RESULTS = ("positive", "negative", "invalid")
MAX_CAPTURE_BYTES = 5 * 1024 * 1024
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)


def capture_storage() -> FileSystemStorage:
    """Screen captures live on disk under MEDIA_ROOT (default ``var/media``), not in the DB."""
    from mindtrial.web.config.settings.base import VAR_DIR

    root = getattr(settings, "MEDIA_ROOT", "") or str(VAR_DIR / "media")
    return FileSystemStorage(location=root)


def _image_kind(data: bytes) -> tuple[str, str] | None:
    for magic, content_type, ext in _SIGNATURES:
        if data.startswith(magic):
            return content_type, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _check_capture(capture: bytes | None) -> tuple[str, str] | None:
    if capture is None:
        return None
    if len(capture) == 0:
        raise ServiceError({"capture": "The file is empty."})
    if len(capture) > MAX_CAPTURE_BYTES:
        raise ServiceError(
            {"capture": f"The image is larger than {MAX_CAPTURE_BYTES // (1024 * 1024)} MB."}
        )
    kind = _image_kind(capture)
    if kind is None:
        raise ServiceError({"capture": "Attach a PNG, JPEG or WebP screen capture."})
    return kind


def _check_results(
    panel: list[str], status: str, results: Mapping[str, str], reason: str
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if status not in TestStatus.values:
        errors["status"] = f"Choose one of {', '.join(TestStatus.values)}."
    cleaned: dict[str, str] = {}
    if status == TestStatus.COMPLETED:
        for analyte in sorted(set(results) - set(panel)):
            errors[analyte] = "Not an analyte of the protocol's panel."
        for analyte in panel:
            value = results.get(analyte, "")
            if value not in RESULTS:
                errors[analyte] = "Choose positive, negative or invalid."
            else:
                cleaned[analyte] = value
    elif status in TestStatus.values:
        if results:
            errors["status"] = "Results are recorded only for a completed test."
        if not reason.strip():
            errors["reason"] = "Give the reason the test is invalid, refused or missed."
        if status == TestStatus.INVALID:
            cleaned = dict.fromkeys(panel, "invalid")
    if errors:
        raise ServiceError(errors)
    return cleaned


def tox_test_record(
    *,
    acting_user: Actor,
    participant: Participant,
    test_date: dt.date,
    status: str,
    results: Mapping[str, str],
    reason: str = "",
    capture: bytes | None = None,
    today: dt.date | None = None,
) -> ToxTest:
    """Record the observed test of a scheduled day (today or earlier)."""
    require_writer(acting_user, participant, STAFF_WRITERS, what="toxicology tests")
    if participant.status != Status.RANDOMIZED:
        raise ServiceError("Only randomized participants are tested.")
    protocol = study_protocol(participant.study)
    if protocol.toxicology is None:
        raise ServiceError("This protocol has no toxicology tests.")
    today = today or participant_today(participant)
    if not is_test_day(participant, test_date, today=today):
        raise ServiceError({"test_date": "This is not one of the participant's test days."})
    week = week_of(participant, test_date) or 0
    require_collecting(participant, week)
    cleaned = _check_results(list(protocol.toxicology.panel), status, results, reason)
    kind = _check_capture(capture)
    if ToxTest.objects.filter(participant=participant, week=week).exists():
        raise ServiceError("This test is recorded already.")
    path = digest = content_type = ""
    if capture is not None and kind is not None:
        digest = hashlib.sha256(capture).hexdigest()
        content_type, ext = kind
        name = str(Path("toxicology") / str(participant.study_id) / f"{digest}.{ext}")
        storage = capture_storage()
        path = name if storage.exists(name) else storage.save(name, ContentFile(capture))
    with transaction.atomic():
        test = ToxTest.objects.create(
            participant=participant,
            week=week,
            test_date=test_date,
            status=status,
            reason=reason.strip(),
            results=cleaned,
            capture_path=path,
            capture_sha256=digest,
            capture_content_type=content_type,
            recorded_by=staff_user(acting_user),
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=test,
            study=participant.study,
            new={
                "participant": participant.code,
                "test_date": test_date,
                "week": week,
                "status": status,
                "results": cleaned,
                "capture_sha256": digest,
            },
            reason=reason.strip(),
        )
    return test


def tox_test_import(
    *,
    acting_user: Actor,
    participant: Participant,
    week: int,
    results: Mapping[str, str],
) -> ToxTest:
    """A test result from a study dataset (week only, no date)."""
    require_writer(acting_user, participant, STAFF_WRITERS, what="toxicology tests")
    require_collecting(participant, week)
    require_week_started(participant, week, what="A test result")
    protocol = study_protocol(participant.study)
    panel = list(protocol.toxicology.panel) if protocol.toxicology else []
    errors = {a: "Not an analyte of the protocol's panel." for a in results if a not in panel}
    errors |= {
        a: f"{v!r} is not one of {', '.join(RESULTS)}"
        for a, v in results.items()
        if v not in RESULTS
    }
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        test = ToxTest.objects.create(
            participant=participant,
            week=week,
            status=TestStatus.COMPLETED,
            results=dict(results),
            recorded_by=staff_user(acting_user),
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=test,
            study=participant.study,
            new={
                "participant": participant.code,
                "week": week,
                "results": dict(results),
                "source": "import",
            },
        )
    return test


def correct_tox_test(
    *,
    acting_user: Actor,
    test: ToxTest,
    status: str,
    results: Mapping[str, str],
    test_reason: str,
    reason: str,
) -> ToxTest:
    """Correct a recorded test's status, results per analyte or ``test_reason`` (why it was
    invalid, refused or missed); ``reason`` says why the record is corrected (a missing one is
    reported as ``correction_reason``)."""
    participant = test.participant
    require_writer(acting_user, participant, STAFF_WRITERS, what="toxicology test corrections")
    if not reason.strip():  # "reason" is the test's own field here
        raise ServiceError({"correction_reason": "A reason is required to correct submitted data."})
    reason = reason.strip()
    protocol = study_protocol(participant.study)
    panel = list(protocol.toxicology.panel) if protocol.toxicology else list(test.results)
    cleaned = _check_results(panel, status, results, test_reason)
    old = {"status": test.status, "reason": test.reason, "results": test.results}
    new = {"status": status, "reason": test_reason.strip(), "results": cleaned}
    require_change(old, new)
    with transaction.atomic():
        test.status, test.reason, test.results = status, test_reason.strip(), cleaned
        test.recorded_by = staff_user(acting_user)
        test.save(update_fields=["status", "reason", "results", "recorded_by", "recorded_at"])
        audit_correction(
            acting_user=acting_user,
            target=test,
            study=participant.study,
            old=old,
            new=new,
            reason=reason,
        )
    return test
