"""Study set-up writes: each one checks the actor, runs in one transaction and is audited."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import string
import tempfile
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction

from mindtrial.design.randomization import (
    AllocationList,
    AllocationListError,
    generate_allocation_list,
    read_redcap_allocation_csv,
)
from mindtrial.web.accounts.actors import Actor, staff_user
from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditAction
from mindtrial.web.audit.services import audit_record
from mindtrial.web.common import Forbidden, ServiceError
from mindtrial.web.studies.models import (
    AllocationEntry,
    AllocationSource,
    Cohort,
    Group,
    Site,
    Study,
    StudyAccess,
)
from mindtrial.web.studies.protocol_access import ProtocolError, load_protocol

if TYPE_CHECKING:
    from mindtrial.web.accounts.models import User

DEFAULT_ALLOCATION_SIZE = 500
"""Entries per stratum generated at set-up (M-ROCC randomized 196)."""


def require_study_admin(acting_user: Actor) -> None:
    """The operator at the command line (a system actor) or an administrator."""
    user = staff_user(acting_user)
    if user is not None and not user.is_administrator:
        raise Forbidden("Only administrators can change the study set-up.")


def study_create(
    *,
    acting_user: Actor,
    protocol_id: str,
    name: str,
    allocation_size: int = DEFAULT_ALLOCATION_SIZE,
    seed: int | None = None,
    generate_allocation: bool = True,
) -> Study:
    """A study from a shipped protocol; an unstratified protocol's allocation list is made now.

    The list's seed comes from ``secrets`` unless given and is not stored, so nobody can
    regenerate the list from the database. ``generate_allocation=False`` leaves the list to
    be uploaded (a REDCap allocation table).
    """
    require_study_admin(acting_user)
    name = name.strip()
    if not name:
        raise ServiceError({"name": "A study needs a name."})
    try:
        protocol = load_protocol(protocol_id)
    except ProtocolError:
        raise ServiceError({"protocol_id": f"Unknown protocol '{protocol_id}'."}) from None
    with transaction.atomic():
        study = Study.objects.create(
            name=name,
            protocol_id=protocol.id,
            protocol_version=protocol.version,
            protocol_title=protocol.title,
            arms=[{"id": arm.id, "label": arm.label} for arm in protocol.arms],
            ratio=dict(protocol.randomization.ratio),
            block_sizes=list(protocol.randomization.block_sizes),
            strata=list(protocol.randomization.strata),
            created_by=staff_user(acting_user),
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=study,
            study=study,
            new={"name": study.name, "protocol": protocol.id, "version": protocol.version},
        )
        if generate_allocation and not study.strata:
            _store_allocation(
                acting_user=acting_user,
                study=study,
                allocation=_generate(study, {}, allocation_size, seed),
                source=AllocationSource.GENERATED,
            )
    return study


def _generate(
    study: Study, strata: dict[str, list[str]], n: int, seed: int | None
) -> AllocationList:
    try:
        return generate_allocation_list(
            arms={str(k): int(v) for k, v in study.ratio.items()},
            n=n,
            block_sizes=[int(b) for b in study.block_sizes],
            seed=secrets.randbits(63) if seed is None else seed,
            strata=strata or None,
        )
    except AllocationListError as exc:
        raise ServiceError({"allocation": str(exc)}) from None


def _store_allocation(
    *, acting_user: Actor, study: Study, allocation: AllocationList, source: str
) -> int:
    if AllocationEntry.objects.filter(study=study).exists():
        raise ServiceError({"allocation": "This study already has an allocation list."})
    unknown = sorted(set(allocation.arms) - set(study.arm_ids))
    if unknown:
        raise ServiceError(
            {"allocation": f"The list names arms the protocol does not have: {', '.join(unknown)}."}
        )
    AllocationEntry.objects.bulk_create(
        AllocationEntry(
            study=study,
            stratum=entry.stratum,
            sequence=entry.sequence,
            block=entry.block or 0,
            block_size=entry.block_size or 0,
            arm_id=entry.arm,
            source=source,
        )
        for entry in allocation.entries
    )
    action = (
        AuditAction.GENERATE_ALLOCATION
        if source == AllocationSource.GENERATED
        else AuditAction.IMPORT_ALLOCATION
    )
    # The audit row records the size and strata only, never the arms of unassigned entries.
    audit_record(
        acting_user=acting_user,
        action=action,
        target=study,
        study=study,
        new={"entries": len(allocation.entries), "strata": list(allocation.stratum_keys)},
    )
    return len(allocation.entries)


IMPORT_STRATUM = "import"
"""The stratum of arms given by a loaded study dataset: never drawn by randomization."""


def allocation_entry_given(*, acting_user: Actor, study: Study, arm: str) -> AllocationEntry:
    """An allocation entry recording an arm that a loaded study dataset *gives* (history,
    not a draw): appended to the separate stratum :data:`IMPORT_STRATUM` and already
    assigned, so the randomization service, which draws from a participant's own stratum,
    can never hand it out. Runs inside the caller's transaction, whose randomization audit
    row (:func:`mindtrial.web.enrolment.services.randomization_import`) names the entry."""
    require_study_admin(acting_user)
    if arm not in study.arm_ids:
        raise ServiceError({"arm": f"The study has no arm '{arm}'."})
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("allocation_entry_given() runs inside its randomization's transaction")
    Study.objects.select_for_update().get(pk=study.pk)
    sequence = AllocationEntry.objects.filter(study=study, stratum=IMPORT_STRATUM).count() + 1
    return AllocationEntry.objects.create(
        study=study,
        stratum=IMPORT_STRATUM,
        sequence=sequence,
        arm_id=arm,
        source=AllocationSource.REDCAP_UPLOAD,
        assigned=True,
    )


def stratum_levels(study: Study) -> dict[str, list[str]]:
    """Levels of each stratification field: ``site`` from the study's sites, the rest from
    the protocol's baseline covariates (category levels, or true/false)."""
    if not study.strata:
        return {}
    protocol = load_protocol(study.protocol_id)
    covariates = {c.name: c for c in protocol.baseline_covariates}
    levels: dict[str, list[str]] = {}
    for field in study.strata:
        if field == "site":
            levels[field] = list(Site.objects.filter(study=study).values_list("code", flat=True))
        elif field in covariates and covariates[field].type == "category":
            levels[field] = list(covariates[field].levels)
        elif field in covariates and covariates[field].type == "boolean":
            levels[field] = ["true", "false"]
        else:
            raise ServiceError({"allocation": f"Cannot stratify on '{field}': no known levels."})
        if not levels[field]:
            raise ServiceError({"allocation": f"Add the study's {field}s before making the list."})
    return levels


def allocation_list_generate(
    *, acting_user: Actor, study: Study, n_per_stratum: int, seed: int | None = None
) -> int:
    """Generate and store the list (stratified protocols, once their sites exist)."""
    require_study_admin(acting_user)
    with transaction.atomic():
        allocation = _generate(study, stratum_levels(study), n_per_stratum, seed)
        return _store_allocation(
            acting_user=acting_user,
            study=study,
            allocation=allocation,
            source=AllocationSource.GENERATED,
        )


def allocation_list_import_redcap(
    *, acting_user: Actor, study: Study, csv_bytes: bytes, arm_codes: dict[int, str]
) -> int:
    """Store an uploaded REDCap allocation table (``arm_codes``: REDCap code -> arm id)."""
    require_study_admin(acting_user)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "allocation.csv"
        path.write_bytes(csv_bytes)
        try:
            allocation = read_redcap_allocation_csv(path, arm_codes=arm_codes)
        except AllocationListError as exc:
            raise ServiceError({"file": str(exc).replace(str(path), "uploaded file")}) from None
    with transaction.atomic():
        return _store_allocation(
            acting_user=acting_user,
            study=study,
            allocation=allocation,
            source=AllocationSource.REDCAP_UPLOAD,
        )


def site_create(*, acting_user: Actor, study: Study, code: str, name: str) -> Site:
    require_study_admin(acting_user)
    code, name = code.strip(), name.strip()
    errors = {}
    if not code or not all(c.isalnum() or c in "-_" for c in code):
        errors["code"] = "Use letters, digits, '-' or '_' (e.g. 'boston')."
    if not name:
        errors["name"] = "A site needs a name."
    if errors:
        raise ServiceError(errors)
    try:
        with transaction.atomic():
            site = Site.objects.create(study=study, code=code, name=name)
            audit_record(
                acting_user=acting_user,
                action=AuditAction.CREATE,
                target=site,
                study=study,
                new={"code": code, "name": name},
            )
    except IntegrityError:
        raise ServiceError({"code": f"The study already has a site '{code}'."}) from None
    return site


def study_access_grant(
    *, acting_user: Actor, user: User, study: Study, site: Site | None = None
) -> StudyAccess:
    require_study_admin(acting_user)
    if site is not None and site.study_id != study.pk:
        raise ServiceError({"site": "That site belongs to another study."})
    with transaction.atomic():
        access, created = StudyAccess.objects.get_or_create(user=user, study=study, site=site)
        if created:
            audit_record(
                acting_user=acting_user,
                action=AuditAction.GRANT_ACCESS,
                target=access,
                study=study,
                new={"user": user.username, "site": site.code if site else "all"},
            )
    return access


def _neutral_letters(count: int) -> list[str]:
    """Letters A, B, … in a random order, so a group's code says nothing about its arm."""
    letters = list(itertools.islice(string.ascii_uppercase, count))
    secrets.SystemRandom().shuffle(letters)
    return letters


def cohort_create(
    *,
    acting_user: Actor,
    study: Study,
    start_date: dt.date,
    weekday: int,
    meeting_time: dt.time,
    timezone: str,
) -> Cohort:
    """A cohort and one group per arm (neutral codes like ``G-3A``)."""
    require_study_admin(acting_user)
    errors = {}
    if timezone not in zoneinfo.available_timezones():
        errors["timezone"] = f"'{timezone}' is not a time zone name such as 'America/New_York'."
    if weekday not in range(7):
        errors["weekday"] = "Weekday is 0 (Monday) to 6 (Sunday)."
    elif start_date.weekday() != weekday:
        errors["start_date"] = "The start date does not fall on the cohort's weekday."
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        number = (
            Cohort.objects.filter(study=study)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
            or 0
        ) + 1
        cohort = Cohort.objects.create(
            study=study,
            number=number,
            start_date=start_date,
            weekday=weekday,
            meeting_time=meeting_time,
            timezone=timezone,
        )
        audit_record(
            acting_user=acting_user,
            action=AuditAction.CREATE,
            target=cohort,
            study=study,
            new={
                "number": number,
                "start_date": start_date,
                "weekday": weekday,
                "meeting_time": meeting_time,
                "timezone": timezone,
            },
        )
        # Arms in random order (not the protocol's), so neither the primary keys nor the
        # creation order of a cohort's groups follow the arms; codes and public ids are random.
        arm_ids = list(study.arm_ids)
        secrets.SystemRandom().shuffle(arm_ids)
        for arm_id, letter in zip(arm_ids, _neutral_letters(len(arm_ids)), strict=True):
            group = Group.objects.create(cohort=cohort, arm_id=arm_id, code=f"G-{number}{letter}")
            audit_record(
                acting_user=acting_user,
                action=AuditAction.CREATE,
                target=group,
                study=study,
                new={"code": group.code, "arm": arm_id},
                reveals_allocation=True,
            )
    return cohort


def group_update(
    *,
    acting_user: Actor,
    group: Group,
    meeting_link: str,
    facilitators: list[User],
) -> Group:
    require_study_admin(acting_user)
    not_facilitators = [u.username for u in facilitators if u.role != Role.FACILITATOR]
    if not_facilitators:
        raise ServiceError({"facilitators": f"Not facilitators: {', '.join(not_facilitators)}."})
    link = meeting_link.strip()
    if link:
        try:
            URLValidator(schemes=["https", "http"])(link)
        except ValidationError:
            raise ServiceError({"meeting_link": "Enter a full web address (https://…)."}) from None
    with transaction.atomic():
        old = {
            "meeting_link": group.meeting_link,
            "facilitators": sorted(group.facilitators.values_list("username", flat=True)),
        }
        group.meeting_link = link
        group.save(update_fields=["meeting_link"])
        group.facilitators.set(facilitators)
        audit_record(
            acting_user=acting_user,
            action=AuditAction.UPDATE,
            target=group,
            study=group.cohort.study,
            old=old,
            new={
                "meeting_link": group.meeting_link,
                "facilitators": sorted(u.username for u in facilitators),
            },
        )
    return group
