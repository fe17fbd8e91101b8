"""The study dataset in the formats statisticians and sponsors use.

:func:`study_export_files` builds, from :func:`~mindtrial.web.exports.selectors.study_export`,

* ``dataset``: the study dataset folder (``docs/study-dataset.md``);
* ``odm``: one CDISC ODM 1.3.2 document with the study's audit trail as ``AuditRecords``
  (one per audit row: who, when, the reason given for a correction, the row's id);
* ``stata`` / ``spss``: one ``.dta`` / ``.sav`` per table of the dataset, with variable
  labels and value labels (arms, toxicology results, screening stages, categorical
  covariates, yes/no columns);
* ``parquet``: one ``.parquet`` per table, the labels in the file metadata.

A masked export (the only kind a blinded role gets) replaces the arm by its neutral code
everywhere: in the data, in the value labels and in the ODM metadata, whose arm code list,
study titles and protocol name are replaced by neutral ones (so reading a masked ODM back
needs ``protocol=`` :func:`masked_protocol`). It leaves out the audit rows that reveal an
allocation and the free-text reasons of the rest.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mindtrial.dataset import StudyDataset, write_dataset
from mindtrial.dataset.schema import CSV_FILES, STAGES, TOX_RESULTS
from mindtrial.interop.labelled_files import write_parquet, write_spss, write_stata
from mindtrial.interop.odm import AuditEntry, odm_xml
from mindtrial.protocols import Protocol
from mindtrial.web.accounts.actors import Actor
from mindtrial.web.audit.models import AuditEvent
from mindtrial.web.common import ServiceError
from mindtrial.web.enrolment.calendar import study_protocol
from mindtrial.web.exports.selectors import LeftOut, masked_codes, study_export_checked

if TYPE_CHECKING:
    from mindtrial.web.studies.models import Study

SYSTEM_USER = "system"
"""The ODM user of audit rows written by the system itself (no acting user)."""


class ExportFormat(enum.StrEnum):
    DATASET = "dataset"
    ODM = "odm"
    STATA = "stata"
    SPSS = "spss"
    PARQUET = "parquet"
    REPORT = "report"


FORMAT_LABELS: dict[ExportFormat, str] = {
    ExportFormat.DATASET: "Study dataset (CSV files + study.json)",
    ExportFormat.ODM: "CDISC ODM 1.3.2 XML with the audit trail",
    ExportFormat.STATA: "Stata .dta with variable and value labels",
    ExportFormat.SPSS: "SPSS .sav with variable and value labels",
    ExportFormat.PARQUET: "Parquet",
    ExportFormat.REPORT: "Trial report (HTML): the prespecified analysis, as mindtrial analyze",
}
#: The report's analysis runs as `mindtrial analyze` does by default: 20 imputations for the
#: multiple-imputation sensitivity analysis, drawn from this seed.
REPORT_IMPUTATIONS = 20
REPORT_SEED = 20250101
_SUFFIX = {ExportFormat.STATA: ".dta", ExportFormat.SPSS: ".sav", ExportFormat.PARQUET: ".parquet"}

_VARIABLE_LABELS: dict[str, dict[str, str]] = {
    "participants": {
        "participant_id": "Participant id",
        "arm": "Randomized arm",
        "site": "Site",
        "cohort": "Cohort",
        "randomized_on": "Date randomized",
        "withdrawn_week": "Study week of withdrawal",
        "withdrawal_reason": "Reason for withdrawal",
        "race": "Race",
        "ethnicity": "Ethnicity",
        "language": "Preferred language",
        "treatment_exit_week": "Study week of leaving medication treatment",
    },
    "responses": {
        "participant_id": "Participant id",
        "week": "Study week",
        "instrument": "Instrument",
        "item": "Item",
        "value": "Answer (numeric; yes/no as 1/0)",
    },
    "toxicology": {
        "participant_id": "Participant id",
        "week": "Study week",
        "analyte": "Analyte",
        "result": "Oral-fluid test result",
    },
    "attendance": {
        "participant_id": "Participant id",
        "week": "Study week",
        "attended": "Attended the group session",
    },
    "adverse_events": {
        "participant_id": "Participant id",
        "onset_week": "Study week of onset",
        "severity": "Severity",
        "serious": "Serious adverse event",
        "related": "Related to the study",
        "expected": "Expected",
        "ae_id": "Adverse event id",
        "relatedness": "Relatedness",
        "outcome": "Outcome",
    },
    "screening": {
        "referral_id": "Referral id",
        "participant_id": "Participant id",
        "referred_on": "Date referred",
        "stage": "Furthest stage reached",
        "exclusion_reason": "Reason not randomized",
    },
    "ema": {
        "participant_id": "Participant id",
        "week": "Study week",
        "prompted_at": "Prompt sent at (UTC)",
        "answered": "Prompt answered",
    },
    "medications": {
        "participant_id": "Participant id",
        "week": "Study week",
        "drug": "Drug",
        "daily_dose": "Daily dose (mg/day; mcg/hr for the fentanyl patch)",
        "days_scheduled": "Doses scheduled that week",
        "days_taken": "Doses taken that week",
    },
}


@dataclass(frozen=True)
class ExportFiles:
    """What :func:`study_export_files` wrote into ``folder``."""

    format: ExportFormat
    folder: Path
    files: tuple[Path, ...]
    masked: bool
    participants: int
    audit_records: int
    left_out: tuple[LeftOut, ...] = ()
    """Stored records the dataset cannot hold, left out of the files (named for the user)."""


# --------------------------------------------------------------------------- masking


def masked_protocol(study: Study) -> Protocol:
    """The study's protocol with nothing that names an arm: arms as neutral codes, neutral
    titles and protocol name (read a masked ODM back with ``protocol=`` this)."""
    protocol = study_protocol(study)
    codes = masked_codes(study)
    arms = [
        # The codes (A, B…) are not valid protocol arm ids, so the copy is built unvalidated.
        arm.model_copy(
            update={
                "id": codes[arm.id],
                "label": f"Group {codes[arm.id]}",
                "description": "",
                "curriculum": [],
                "continuation_choice": None,
            }
        )
        for arm in sorted(protocol.arms, key=lambda a: codes[a.id])
    ]
    neutral = f"study-{study.pk}"
    return protocol.model_copy(
        update={
            "id": neutral,
            "title": f"Study {study.pk} (arms masked)",
            "short_title": f"Study {study.pk}",
            "arms": arms,
        }
    )


def study_audit_entries(study: Study, *, masked: bool) -> tuple[AuditEntry, ...]:
    """The study's audit rows, oldest first, as ODM audit entries.

    A masked export leaves out rows that reveal an allocation and the rows' free-text
    reasons (a reason is typed by staff and could name an arm).
    """
    rows = AuditEvent.objects.filter(study=study).select_related("acting_user")
    if masked:
        rows = rows.filter(reveals_allocation=False)
    return tuple(
        AuditEntry(
            user=row.acting_user.username if row.acting_user is not None else SYSTEM_USER,
            timestamp=row.acted_at,
            reason=(row.reason or None) if not masked else None,
            source_id=str(row.pk),
        )
        for row in rows.order_by("acted_at", "id")
    )


# --------------------------------------------------------------------------- labelled tables


def labelled_tables(
    ds: StudyDataset, protocol: Protocol, *, arm_labels: dict[str, str]
) -> dict[str, tuple[pd.DataFrame, dict[str, str]]]:
    """Each table of the dataset as (frame, variable labels) with categorical columns whose
    categories become value labels: arm (labels from ``arm_labels``), result, stage and the
    protocol's categorical covariates."""
    out: dict[str, tuple[pd.DataFrame, dict[str, str]]] = {}
    covariates = {c.name: c for c in protocol.baseline_covariates}
    for file in CSV_FILES:
        name = file.removesuffix(".csv")
        frame = ds.table(file).copy()
        labels = dict(_VARIABLE_LABELS[name])
        if name == "participants":
            arms = list(arm_labels)
            frame["arm"] = pd.Categorical(
                frame["arm"].astype("object").map(arm_labels),
                categories=[arm_labels[a] for a in arms],
            )
            for column in frame.columns:
                cov = covariates.get(str(column))
                if cov is None:
                    continue
                labels[cov.name] = cov.label + (f" ({cov.unit})" if cov.unit else "")
                if cov.type == "category":
                    frame[cov.name] = pd.Categorical(
                        frame[cov.name].astype("object"), categories=cov.levels
                    )
        elif name == "toxicology":
            frame["result"] = pd.Categorical(frame["result"].astype("object"), TOX_RESULTS)
        elif name == "screening":
            frame["stage"] = pd.Categorical(frame["stage"].astype("object"), STAGES)
        elif name == "ema":  # Stata and SPSS have no time zones: UTC clock time
            frame["prompted_at"] = frame["prompted_at"].dt.tz_localize(None)
        labels = {k: v for k, v in labels.items() if k in frame.columns}
        out[name] = (frame, labels)
    return out


# --------------------------------------------------------------------------- ODM

# --------------------------------------------------------------------------- the service


def study_export_files(
    *,
    acting_user: Actor,
    study: Study,
    folder: Path,
    format: ExportFormat,
    masked: bool = False,
) -> ExportFiles:
    """Write the study's export in ``format`` into the new folder ``folder``.

    Blinded roles may ask only for ``masked=True`` (``ServiceError`` otherwise, from
    :func:`study_export`). ``folder`` must not exist; on any error it is not left behind.
    """
    checked = study_export_checked(acting_user=acting_user, study=study, masked=masked)
    ds = checked.dataset
    protocol = masked_protocol(study) if masked else study_protocol(study)
    if format is ExportFormat.REPORT:
        return _report_files(ds, study_protocol(study), folder, checked.left_out, masked=masked)
    if format is ExportFormat.DATASET:
        written = write_dataset(ds, folder)
        return ExportFiles(
            format=format,
            folder=written,
            files=tuple(sorted(written.iterdir())),
            masked=masked,
            participants=len(ds.participants),
            audit_records=0,
            left_out=checked.left_out,
        )
    folder.mkdir(parents=True)
    try:
        files: list[Path] = []
        audit: tuple[AuditEntry, ...] = ()
        if format is ExportFormat.ODM:
            audit = study_audit_entries(study, masked=masked)
            path = folder / f"study-{study.pk}{'-masked' if masked else ''}.odm.xml"
            path.write_bytes(
                odm_xml(ds, protocol=protocol, audit=audit, file_oid=f"MT.STUDY.{study.pk}")
            )
            files.append(path)
        else:
            # A masked protocol's arms are the codes, labelled "Group A"…
            arm_labels = {a.id: a.label for a in protocol.arms}
            file_label = f"Study {study.pk}" + (" (arms masked)" if masked else "")
            tables = labelled_tables(ds, protocol, arm_labels=arm_labels)
            for name, (frame, labels) in tables.items():
                path = folder / f"{name}{_SUFFIX[format]}"
                if format is ExportFormat.STATA:
                    write_stata(frame, path, variable_labels=labels, file_label=file_label)
                elif format is ExportFormat.SPSS:
                    write_spss(frame, path, variable_labels=labels, file_label=file_label)
                else:  # Parquet keeps the dataset's own dtypes (arm ids, not labels)
                    write_parquet(ds.table(f"{name}.csv"), path, variable_labels=labels)
                files.append(path)
    except BaseException:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        raise
    return ExportFiles(
        format=format,
        folder=folder,
        files=tuple(files),
        masked=masked,
        participants=len(ds.participants),
        audit_records=len(audit),
        left_out=checked.left_out,
    )


def _report_files(
    ds: StudyDataset,
    protocol: Protocol,
    folder: Path,
    left_out: tuple[LeftOut, ...],
    *,
    masked: bool,
) -> ExportFiles:
    """The trial report of the exported dataset, built as ``mindtrial analyze`` builds it
    with its defaults: a masked dataset gives a report with arms as codes."""
    from mindtrial.analysis.errors import AnalysisError
    from mindtrial.analysis.runner import run_analysis
    from mindtrial.report import build_report

    try:
        analysis = run_analysis(
            ds, protocol=protocol, imputations=REPORT_IMPUTATIONS, seed=REPORT_SEED
        )
    except AnalysisError as exc:
        raise ServiceError(f"The report could not be built from this study's data: {exc}") from None
    bundle = build_report(ds, protocol, analysis)
    folder.mkdir(parents=True)
    path = folder / "report.html"
    path.write_text(bundle.html, encoding="utf-8")
    return ExportFiles(
        format=ExportFormat.REPORT,
        folder=folder,
        files=(path,),
        masked=masked,
        participants=len(ds.participants),
        audit_records=0,
        left_out=left_out,
    )
