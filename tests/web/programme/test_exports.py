"""Export and load of the study dataset: a simulated trial survives the round trip."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mindtrial.dataset import CSV_FILES, StudyDataset, read_dataset, write_dataset
from mindtrial.simulate import simulate_trial
from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.checkin.models import CheckIn
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.models import Participant
from mindtrial.web.enrolment.selectors import participant_arm
from mindtrial.web.exports.selectors import study_export
from mindtrial.web.exports.services import LoadError, dataset_load
from mindtrial.web.studies.models import AllocationEntry

from ..factories import SETUP, make_study, make_user

pytestmark = pytest.mark.django_db

KEYS = {
    "participants.csv": ["participant_id"],
    "responses.csv": ["participant_id", "week", "instrument", "item"],
    "toxicology.csv": ["participant_id", "week", "analyte"],
    "attendance.csv": ["participant_id", "week"],
    "adverse_events.csv": ["participant_id", "onset_week", "ae_id"],
    "screening.csv": ["referral_id"],
    "ema.csv": ["participant_id", "prompted_at"],
    "medications.csv": ["participant_id", "week", "drug"],
}


def _on_disk(ds: StudyDataset, folder: Path) -> StudyDataset:
    """Written and read back: the canonical form both sides are compared in."""
    return read_dataset(write_dataset(ds, folder))


def assert_same_rows(a: StudyDataset, b: StudyDataset) -> None:
    assert (a.meta.protocol_id, a.meta.protocol_version) == (
        b.meta.protocol_id,
        b.meta.protocol_version,
    )
    for file in CSV_FILES:
        left = a.table(file).sort_values(KEYS[file]).reset_index(drop=True)
        right = b.table(file).sort_values(KEYS[file]).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, obj=file)


@pytest.fixture(scope="module")
def simulated() -> StudyDataset:
    return simulate_trial("mrocc-2025", n=14, seed=21)


def test_load_then_export_gives_back_the_simulated_dataset(
    simulated: StudyDataset, tmp_path: Path
) -> None:
    study = make_study(name="Loaded")
    summary = dataset_load(acting_user=SETUP, study=study, dataset=simulated)
    assert summary.participants == 14
    assert summary.referrals == len(simulated.screening)
    exported = study_export(acting_user=SETUP, study=study)
    assert exported.meta.source == "web" and not exported.meta.arms_masked
    assert_same_rows(_on_disk(exported, tmp_path / "export"), _on_disk(simulated, tmp_path / "sim"))
    # The arms were loaded into the normal records: unblinded staff see them.
    p = Participant.objects.get(study=study, code="P0001")
    expected = simulated.participants.set_index("participant_id").loc["P0001", "arm"]
    admin = make_user("admin", Role.ADMINISTRATOR)
    assert participant_arm(admin, p) == (expected, study.arm_label(expected))
    # Loaded allocations sit in their own stratum, never drawn by the live service.
    assert set(
        AllocationEntry.objects.filter(study=study, assigned=True).values_list("stratum", flat=True)
    ) == {"import"}


def test_masked_export_replaces_arms_by_codes_and_is_all_blinded_roles_get(
    simulated: StudyDataset,
) -> None:
    study = make_study(name="Loaded")
    dataset_load(acting_user=SETUP, study=study, dataset=simulated)
    statistician = make_user("stat", Role.STATISTICIAN)
    with pytest.raises(ServiceError, match="only the masked"):
        study_export(acting_user=statistician, study=study)
    masked = study_export(acting_user=statistician, study=study, masked=True)
    assert masked.meta.arms_masked
    assert set(masked.participants["arm"]) == {"A", "B"}
    # Same partition of participants, different labels.
    real = simulated.participants.set_index("participant_id")["arm"]
    coded = masked.participants.set_index("participant_id")["arm"]
    pairs = set(zip(real.sort_index(), coded.sort_index(), strict=True))
    assert len(pairs) == 2 and {a for a, _ in pairs} == {"mrocc", "recovery_support"}


def test_load_is_all_or_nothing(simulated: StudyDataset) -> None:
    study = make_study(name="Loaded")
    responses = simulated.responses.copy()
    # A withdrawn participant with an answer after their withdrawal week: refused at the end.
    gone = simulated.participants.dropna(subset=["withdrawn_week"]).iloc[0]
    extra = pd.DataFrame(
        {
            "participant_id": [gone["participant_id"]],
            "week": [int(gone["withdrawn_week"])],
            "instrument": ["ocs"],
            "item": ["ocs_1"],
            "value": [3.0],
        }
    )
    bad = StudyDataset(
        meta=simulated.meta,
        participants=simulated.participants,
        responses=pd.concat([responses, extra], ignore_index=True),
        toxicology=simulated.toxicology,
        attendance=simulated.attendance,
        adverse_events=simulated.adverse_events,
        screening=simulated.screening,
        covariates=simulated.covariates,
    )
    audit_before = AuditEvent.objects.count()
    with pytest.raises(LoadError, match=rf"participants.csv: participant {gone['participant_id']}"):
        dataset_load(acting_user=SETUP, study=study, dataset=bad)
    assert Participant.objects.filter(study=study).count() == 0
    assert CheckIn.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before
    # Loading twice into one study is refused before anything is written.
    dataset_load(acting_user=SETUP, study=study, dataset=simulated)
    with pytest.raises(LoadError, match="already has participants"):
        dataset_load(acting_user=SETUP, study=study, dataset=simulated)
