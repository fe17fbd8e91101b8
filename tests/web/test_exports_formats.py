"""The export page and `mindtrial export --format`: ODM with the audit trail, Stata, SPSS,
Parquet; masked files for blinded roles."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from django.test import Client
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.dataset import StudyDataset
from mindtrial.interop.odm import read_odm, read_odm_audit
from mindtrial.simulate import simulate_trial
from mindtrial.web.accounts.models import Role
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.enrolment.services import participant_screen
from mindtrial.web.exports.formats import masked_protocol
from mindtrial.web.exports.selectors import study_export
from mindtrial.web.exports.services import dataset_load
from mindtrial.web.studies.models import Study
from mindtrial.web.studies.services import site_create

from .factories import ELIGIBLE_RECORD, SETUP, grant, make_participant, make_study, make_user
from .programme.factories import World
from .programme.test_exports import assert_same_rows

pytestmark = pytest.mark.django_db
runner = CliRunner()

# The M-ROCC protocol's arms (src/mindtrial/protocols/data, the protocol file), in its order.
ARM_LABELS = {"mrocc": "M-ROCC (mindfulness)", "recovery_support": "Recovery support group"}
FORBIDDEN = [b"mrocc", b"m-rocc", b"recovery_support", b"recovery support"]


@pytest.fixture(scope="module")
def simulated() -> StudyDataset:
    return simulate_trial("mrocc-2025", n=10, seed=3)


@pytest.fixture
def study(simulated: StudyDataset) -> dict[str, Any]:
    study = make_study(name="Exported")
    dataset_load(acting_user=SETUP, study=study, dataset=simulated)
    users = {}
    for role in (
        Role.ADMINISTRATOR,
        Role.DATA_MANAGER,
        Role.STATISTICIAN,
        Role.INVESTIGATOR,
        Role.COORDINATOR,
    ):
        users[role] = make_user(f"u-{role}", role)
        grant(users[role], study)
    # Two audited writes by a named person, beside the system's rows from the load.
    site_create(acting_user=users[Role.ADMINISTRATOR], study=study, code="east", name="East")
    site_create(acting_user=users[Role.ADMINISTRATOR], study=study, code="west", name="West")
    return {"study": study, "users": users}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(user: Any, study: Study, fmt: str, **data: str) -> Any:
    path = f"/studies/{study.pk}/export/" + (f"{fmt}/" if fmt else "")
    return _client(user).post(path, data)


def _unzipped(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {Path(n).name: archive.read(n) for n in archive.namelist()}


def test_odm_download_reads_back_to_the_study_export_with_the_audit_trail(
    study: dict[str, Any], tmp_path: Path
) -> None:
    s, manager = study["study"], study["users"][Role.DATA_MANAGER]
    response = _post(manager, s, "odm", masked="0")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert f'filename="study-{s.pk}.odm.xml"' in response["Content-Disposition"]
    back = read_odm(response.content)
    reference = study_export(acting_user=SETUP, study=s)
    assert not back.meta.arms_masked
    assert_same_rows(back, reference)
    # Every audit row of the study, oldest first, with who acted and the row's id.
    rows = list(AuditEvent.objects.filter(study=s).order_by("acted_at", "id"))
    entries = read_odm_audit(response.content)
    assert len(entries) == len(rows) > 10
    assert [e.source_id for e in entries] == [str(r.pk) for r in rows]
    assert [e.timestamp for e in entries] == [r.acted_at for r in rows]
    users = Counter(e.user for e in entries)
    assert users["u-administrator"] == 2  # the two sites created above
    assert users["system"] == sum(r.acting_user_id is None for r in rows)
    assert set(users) == {"u-administrator", "system"}


def test_the_page_posts_the_chosen_format(study: dict[str, Any]) -> None:
    s, manager = study["study"], study["users"][Role.DATA_MANAGER]
    page = _client(manager).get(f"/studies/{s.pk}/export/")
    assert page.status_code == 200
    for value in ("dataset", "odm", "stata", "spss", "parquet"):
        assert f'value="{value}"' in page.content.decode()
    odm = _post(manager, s, "", format="odm", masked="1")
    assert odm["Content-Type"] == "application/xml" and b'ODMVersion="1.3.2"' in odm.content
    default = _post(manager, s, "")  # no format: the study dataset, as before
    assert default["Content-Type"] == "application/zip"
    assert "study.json" in _unzipped(default.content)
    bad = _post(manager, s, "", format="excel")
    assert bad.status_code == 200 and "Choose one of the formats" in bad.content.decode()


@pytest.mark.parametrize("role", [Role.STATISTICIAN, Role.INVESTIGATOR])
def test_blinded_roles_get_only_masked_files_with_no_arm(study: dict[str, Any], role: str) -> None:
    s, user = study["study"], study["users"][role]
    codes = set(study_export(acting_user=SETUP, study=s, masked=True).participants["arm"])
    assert codes == {"A", "B"}
    for fmt in ("odm", "stata", "spss", "parquet"):
        response = _post(user, s, fmt, masked="0")  # asking for unmasked does not unmask
        assert response.status_code == 200, fmt
        files = (
            {"odm": response.content}
            if response["Content-Type"] == "application/xml"
            else _unzipped(response.content)
        )
        assert "masked" in response["Content-Disposition"]
        for name, content in files.items():
            lowered = content.lower()
            for word in FORBIDDEN:
                assert word not in lowered, f"{role} got {word!r} in {fmt} {name}"
    # The masked ODM reads back with the masked protocol: codes, no allocation audit rows,
    # no free-text reasons.
    odm = _post(user, s, "odm").content
    back = read_odm(odm, protocol=masked_protocol(s))
    assert back.meta.arms_masked and set(back.participants["arm"]) == {"A", "B"}
    entries = read_odm_audit(odm)
    visible = AuditEvent.objects.filter(study=s, reveals_allocation=False)
    assert len(entries) == visible.count() < AuditEvent.objects.filter(study=s).count()
    assert all(e.reason is None for e in entries)
    # The study dataset zip too: arms are codes only.
    zipped = _unzipped(_post(user, s, "", format="dataset", masked="0").content)
    participants = pd.read_csv(io.BytesIO(zipped["participants.csv"]))
    assert set(participants["arm"]) == {"A", "B"}


def test_coordinators_cannot_export(study: dict[str, Any]) -> None:
    s = study["study"]
    response = _post(study["users"][Role.COORDINATOR], s, "odm")
    assert response.status_code in (403, 404)
    assert b"<ODM" not in response.content


def _read_back(content: bytes, suffix: str, tmp_path: Path) -> dict[str, tuple[Any, Any]]:
    out = {}
    for name, data in _unzipped(content).items():
        path = tmp_path / name
        path.write_bytes(data)
        reader = pyreadstat.read_dta if suffix == ".dta" else pyreadstat.read_sav
        out[name.removesuffix(suffix)] = reader(str(path))
    return out


@pytest.mark.parametrize(("fmt", "suffix"), [("stata", ".dta"), ("spss", ".sav")])
def test_stata_and_spss_read_back_with_labels(
    study: dict[str, Any], fmt: str, suffix: str, tmp_path: Path
) -> None:
    s, manager = study["study"], study["users"][Role.DATA_MANAGER]
    reference = study_export(acting_user=SETUP, study=s)
    tables = _read_back(_post(manager, s, fmt, masked="0").content, suffix, tmp_path)
    assert set(tables) == {
        "participants", "responses", "toxicology", "attendance", "adverse_events", "screening",
        "ema", "medications",
    }  # fmt: skip
    for name, (frame, _) in tables.items():
        assert len(frame) == len(reference.table(f"{name}.csv")), name
    frame, meta = tables["participants"]
    assert meta.column_names_to_labels["arm"] == "Randomized arm"
    assert meta.variable_value_labels["arm"] == {
        1: ARM_LABELS["mrocc"],
        2: ARM_LABELS["recovery_support"],
    }
    # Each participant's code carries the label of the arm the study dataset gives them.
    by_id = reference.participants.set_index("participant_id")["arm"]
    labels = meta.variable_value_labels["arm"]
    for pid, code in zip(frame["participant_id"], frame["arm"], strict=True):
        assert labels[int(code)] == ARM_LABELS[by_id[pid]]
    tox, tox_meta = tables["toxicology"]
    assert tox_meta.variable_value_labels["result"] == {1: "positive", 2: "negative", 3: "invalid"}
    expected = Counter(reference.toxicology["result"])
    assert (
        Counter(tox_meta.variable_value_labels["result"][int(c)] for c in tox["result"]) == expected
    )
    att, att_meta = tables["attendance"]
    assert att_meta.variable_value_labels["attended"] == {0: "False", 1: "True"}
    assert int(att["attended"].sum()) == int(reference.attendance["attended"].sum())
    # A masked file labels the codes neutrally.
    masked = _read_back(_post(manager, s, fmt, masked="1").content, suffix, tmp_path)
    assert masked["participants"][1].variable_value_labels["arm"] == {1: "Group A", 2: "Group B"}


def test_parquet_keeps_the_dataset_tables(study: dict[str, Any], tmp_path: Path) -> None:
    s, manager = study["study"], study["users"][Role.DATA_MANAGER]
    reference = study_export(acting_user=SETUP, study=s)
    files = _unzipped(_post(manager, s, "parquet", masked="0").content)
    back = pd.read_parquet(io.BytesIO(files["responses.parquet"]))
    pd.testing.assert_frame_equal(back, reference.responses.reset_index(drop=True))
    participants = pd.read_parquet(io.BytesIO(files["participants.parquet"]))
    assert set(participants["arm"]) == set(ARM_LABELS)


def test_cli_export_formats(study: dict[str, Any], tmp_path: Path) -> None:
    s = study["study"]
    out = tmp_path / "odm"
    result = runner.invoke(
        app, ["export", "--study", str(s.pk), "--out", str(out), "--format", "odm"]
    )
    assert result.exit_code == 0, result.output
    (written,) = out.iterdir()
    assert_same_rows(read_odm(written), study_export(acting_user=SETUP, study=s))
    assert len(read_odm_audit(written)) == AuditEvent.objects.filter(study=s).count()
    masked = tmp_path / "stata"
    result = runner.invoke(
        app,
        ["export", "--study", str(s.pk), "--out", str(masked), "--format", "stata", "--masked"],
    )
    assert result.exit_code == 0, result.output
    assert "(arms masked)" in result.output
    _, meta = pyreadstat.read_dta(str(masked / "participants.dta"))
    assert meta.variable_value_labels["arm"] == {1: "Group A", 2: "Group B"}
    # An existing --out is refused and left alone; an unknown format is a usage error.
    again = runner.invoke(app, ["export", "--study", str(s.pk), "--out", str(masked)])
    assert again.exit_code == 1 and "already exists" in again.output
    wrong = runner.invoke(
        app, ["export", "--study", str(s.pk), "--out", str(tmp_path / "x"), "--format", "xls"]
    )
    assert wrong.exit_code == 2 and not (tmp_path / "x").exists()


def test_odm_of_a_study_made_in_the_app_round_trips() -> None:
    """App-made participants keep their own id as referral id (a case odm_xml alone refuses)."""
    world = World(n=2)
    failed = make_participant(world.study, world.site)
    participant_screen(
        acting_user=SETUP, participant=failed, record=dict(ELIGIBLE_RECORD, mania=True)
    )
    manager = make_user("dm", Role.DATA_MANAGER)
    grant(manager, world.study)
    reference = study_export(acting_user=SETUP, study=world.study)
    same = reference.screening.dropna(subset=["participant_id"])
    assert len(same) == 2 and (same["referral_id"] == same["participant_id"]).all()
    response = _post(manager, world.study, "odm", masked="0")
    assert response.status_code == 200 and b"mindtrial-held-referral" not in response.content
    assert_same_rows(read_odm(response.content), reference)


def test_report_from_the_export_page_masked_for_blinded_roles(study: dict[str, Any]) -> None:
    """The trial report (as `mindtrial analyze` writes it) from the export page: arms as
    codes for the statistician, named for the data manager."""
    s = study["study"]
    blinded = _post(study["users"][Role.STATISTICIAN], s, "report", masked="0")
    assert blinded.status_code == 200
    assert blinded["Content-Type"].startswith("text/html")
    assert 'filename="report.html"' in blinded["Content-Disposition"]
    page = blinded.content.decode()
    assert "Blinded analysis report" in page and "Table 1" in page
    assert "m-rocc" not in page.lower() and "mrocc" not in page.lower()
    assert ">A (n = " in page and ">B (n = " in page
    for label in ARM_LABELS.values():
        assert label not in page
    assert "recovery_support" not in page and "Recovery support" not in page
    unmasked = _post(study["users"][Role.DATA_MANAGER], s, "report").content.decode()
    assert all(label in unmasked for label in ARM_LABELS.values())
    assert ">A (n = " not in unmasked
