"""A protocol as a REDCap project design, and a study dataset as a REDCap import file.

:func:`redcap_design` lays a protocol out as a longitudinal REDCap project: a data dictionary
(REDCap's 18 columns), one event per study week that has anything scheduled (``baseline_arm_1``
for week 0, ``week_3_arm_1``, ``month_6_arm_1`` for follow-up months), the instrument-event
designations, the repeating adverse-event log, and the :class:`RedcapMapping` that reads such a
project back. :func:`redcap_records` writes a study dataset as the flat CSV REDCap imports
(record id, ``redcap_event_name``, repeat columns, data access group, fields). Reading that
CSV back with :func:`mindtrial.interop.redcap.read_project` and the design's mapping gives the
same study dataset. The layout is documented in ``docs/interop.md``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from mindtrial.atomic_files import replace_folder
from mindtrial.dataset import StudyDataset, follow_up_week
from mindtrial.dataset.schema import cell_text, format_number
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import Instrument, Item, ItemType
from mindtrial.interop.redcap_mapping import (
    AttendanceMap,
    EventWeeks,
    InstrumentMap,
    ParticipantsMap,
    RedcapMapping,
    TableMap,
    ToxicologyMap,
    ValueSource,
    mapping_yaml,
)
from mindtrial.protocols.schema import Covariate, Protocol

DICTIONARY_HEADER: Final = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
"""REDCap's data dictionary header, exactly as REDCap writes it."""

EVENT_HEADER: Final = (
    "event_name",
    "arm_num",
    "day_offset",
    "unique_event_name",
    "custom_event_label",
)
MAPPING_HEADER: Final = ("arm_num", "unique_event_name", "form")
REPEATING_HEADER: Final = ("event_name", "form_name", "custom_form_label")
ARM_HEADER: Final = ("arm_num", "name")

RECORD_ID: Final = "record_id"
PARTICIPANT_FORM: Final = "participant"
SCREENING_FORM: Final = "screening"
TOXICOLOGY_FORM: Final = "toxicology"
ATTENDANCE_FORM: Final = "attendance"
AE_FORM: Final = "adverse_events"
AE_EVENT_NAME: Final = "Adverse events"
SPECIAL_INSTRUMENTS: Final = frozenset({"adverse_event", "toxicology_14"})
"""Instruments that are tables of their own (adverse_events.csv, toxicology.csv), not forms
of answers in responses.csv."""

TOX_CODES: Final = {"positive": "1", "negative": "0", "invalid": "2"}
STAGE_ORDER: Final = ("referred", "screened", "eligible", "consented", "baseline", "randomized")
_EVENT_COLUMNS: Final = (
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
)
DAG_COLUMN: Final = "redcap_data_access_group"
_DAG_NAME = re.compile(r"^[a-z0-9_]{1,18}$")


class RedcapExportError(ValueError):
    """The dataset cannot be written as REDCap records; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} writing REDCap records:"
        shown = [f"  - {p}" for p in self.problems[:50]]
        if n > 50:
            shown.append(f"  … and {n - 50} more")
        super().__init__("\n".join([head, *shown]))


@dataclass(frozen=True)
class DictionaryField:
    """One row of a REDCap data dictionary."""

    name: str
    form: str
    field_type: str
    label: str
    choices: tuple[tuple[str, str], ...] = ()
    note: str = ""
    validation: str = ""
    validation_min: str = ""
    validation_max: str = ""
    identifier: bool = False
    required: bool = False
    section_header: str = ""
    annotation: str = ""

    def row(self) -> tuple[str, ...]:
        choices = " | ".join(f"{code}, {label}" for code, label in self.choices)
        return (
            self.name,
            self.form,
            self.section_header,
            self.field_type,
            self.label,
            choices,
            self.note,
            self.validation,
            self.validation_min,
            self.validation_max,
            "y" if self.identifier else "",
            "",
            "y" if self.required else "",
            "",
            "",
            "",
            "",
            self.annotation,
        )


@dataclass(frozen=True)
class DesignEvent:
    """One REDCap event: its unique name, the study week it records and its instruments."""

    unique_name: str
    name: str
    week: int | None
    day_offset: int
    forms: tuple[str, ...]


@dataclass(frozen=True)
class RedcapDesign:
    """A protocol laid out as a REDCap project (one arm; arms are a field, not REDCap arms,
    so the allocation can stay masked)."""

    protocol_id: str
    protocol_version: str
    fields: tuple[DictionaryField, ...]
    events: tuple[DesignEvent, ...]
    repeating: tuple[tuple[str, str], ...]  # (unique event name, form)
    mapping: RedcapMapping
    arm_codes: dict[str, str]  # protocol arm id -> code of the arm field
    covariate_codes: dict[str, dict[str, str]]  # covariate -> level -> code
    item_fields: dict[tuple[str, str], str]  # (instrument, item) -> field
    analyte_fields: dict[str, str]

    @property
    def forms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.form for f in self.fields))

    def event_for_week(self, week: int) -> DesignEvent | None:
        for event in self.events:
            if event.week == week:
                return event
        return None

    def dictionary_csv(self) -> str:
        return _csv([DICTIONARY_HEADER, *(f.row() for f in self.fields)])

    def events_csv(self) -> str:
        rows = [(e.name, "1", str(e.day_offset), e.unique_name, "") for e in self.events]
        return _csv([EVENT_HEADER, *rows])

    def arms_csv(self) -> str:
        return _csv([ARM_HEADER, ("1", "Arm 1")])

    def instrument_events_csv(self) -> str:
        rows = [("1", e.unique_name, form) for e in self.events for form in e.forms]
        return _csv([MAPPING_HEADER, *rows])

    def repeating_csv(self) -> str:
        return _csv([REPEATING_HEADER, *((e, f, "") for e, f in self.repeating)])


def _csv(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the design


def field_name(instrument_id: str, item_id: str) -> str:
    """The REDCap field of an item: lower case, prefixed by the instrument unless the item id
    already is (``ocs/ocs_1`` -> ``ocs_1``; ``promis_anxiety_8a/EDANX01`` ->
    ``promis_anxiety_8a_edanx01``)."""
    item = item_id.lower()
    return item if item.startswith(f"{instrument_id}_") else f"{instrument_id}_{item}"


def _number(x: float | None) -> str:
    return "" if x is None else format_number(float(x))


def _item_field(instrument: Instrument, item: Item) -> DictionaryField:
    name = field_name(instrument.id, item.id)
    label = item.text or f"{item.id} (licensed wording not shipped; load the site's text)"
    label = " ".join(label.split())
    common: dict[str, Any] = {"name": name, "form": instrument.id, "label": label}
    if item.type is ItemType.INTEGER:
        assert item.min is not None and item.max is not None
        lo, hi = int(item.min), int(item.max)
        if item.labels and set(item.labels) == set(range(lo, hi + 1)):
            choices = tuple((str(k), item.labels[k]) for k in range(lo, hi + 1))
            return DictionaryField(field_type="radio", choices=choices, **common)
        note = "; ".join(f"{k} = {v}" for k, v in sorted(item.labels.items()))
        return DictionaryField(
            field_type="text",
            validation="integer",
            validation_min=str(lo),
            validation_max=str(hi),
            note=note if not item.unit else f"{item.unit}" + (f"; {note}" if note else ""),
            **common,
        )
    if item.type is ItemType.NUMBER:
        return DictionaryField(
            field_type="text",
            validation="number",
            validation_min=_number(item.min),
            validation_max=_number(item.max),
            note=item.unit or "",
            **common,
        )
    if item.type is ItemType.BOOLEAN:
        return DictionaryField(field_type="yesno", **common)
    if item.type is ItemType.CHOICE:
        return DictionaryField(
            field_type="radio", choices=tuple((c.code, c.label) for c in item.choices), **common
        )
    if item.type is ItemType.DATE:
        return DictionaryField(field_type="text", validation="date_ymd", **common)
    long = item.max_length is not None and item.max_length > 255
    return DictionaryField(field_type="notes" if long else "text", **common)


def _covariate_field(cov: Covariate) -> tuple[DictionaryField, dict[str, str]]:
    label = cov.label + (f" ({cov.unit})" if cov.unit else "")
    base: dict[str, Any] = {"name": cov.name, "form": PARTICIPANT_FORM, "label": label}
    if cov.type == "boolean":
        return DictionaryField(field_type="yesno", **base), {}
    if cov.type == "category":
        codes = {level: str(i) for i, level in enumerate(cov.levels, start=1)}
        choices = tuple((codes[level], level) for level in cov.levels)
        return DictionaryField(field_type="radio", choices=choices, **base), codes
    return (
        DictionaryField(
            field_type="text",
            validation="integer" if cov.type == "integer" else "number",
            validation_min=_number(cov.minimum),
            validation_max=_number(cov.maximum),
            **base,
        ),
        {},
    )


def _max_week(protocol: Protocol) -> int:
    weeks = [protocol.weeks] + [w for a in protocol.assessments for w in a.weeks]
    months = list(protocol.follow_up_months) + [m for a in protocol.assessments for m in a.months]
    return max(weeks + [follow_up_week(m) for m in months])


def redcap_design(protocol: Protocol) -> RedcapDesign:
    """Lay ``protocol`` out as a REDCap project (see the module docstring)."""
    max_week = _max_week(protocol)
    fields: list[DictionaryField] = [
        DictionaryField(RECORD_ID, PARTICIPANT_FORM, "text", "Participant ID", identifier=False)
    ]
    arm_codes = {arm.id: str(i) for i, arm in enumerate(protocol.arms, start=1)}
    fields.append(
        DictionaryField(
            "arm",
            PARTICIPANT_FORM,
            "radio",
            "Randomized arm",
            choices=tuple((arm_codes[a.id], a.label) for a in protocol.arms),
            note="Filled in at randomization; a record with an arm is a participant",
        )
    )
    fields += [
        DictionaryField("cohort", PARTICIPANT_FORM, "text", "Cohort"),
        DictionaryField(
            "randomized_on", PARTICIPANT_FORM, "text", "Date randomized", validation="date_ymd"
        ),
        DictionaryField(
            "withdrawn_week",
            PARTICIPANT_FORM,
            "text",
            "Study week of withdrawal",
            validation="integer",
            validation_min="0",
            validation_max=str(max_week),
        ),
        DictionaryField("withdrawal_reason", PARTICIPANT_FORM, "notes", "Reason for withdrawal"),
    ]
    covariate_codes: dict[str, dict[str, str]] = {}
    for cov in protocol.baseline_covariates:
        f, codes = _covariate_field(cov)
        fields.append(f)
        if codes:
            covariate_codes[cov.name] = codes
    stage_codes = {stage: str(i) for i, stage in enumerate(STAGE_ORDER, start=1)}
    fields += [
        DictionaryField("referral_id", SCREENING_FORM, "text", "Referral ID"),
        DictionaryField(
            "screening_participant_id",
            SCREENING_FORM,
            "text",
            "Participant ID given at screening (blank if none)",
        ),
        DictionaryField(
            "referred_on", SCREENING_FORM, "text", "Date referred", validation="date_ymd"
        ),
        DictionaryField(
            "screening_stage",
            SCREENING_FORM,
            "radio",
            "Furthest stage reached",
            choices=tuple((stage_codes[s], s.capitalize()) for s in STAGE_ORDER),
        ),
        DictionaryField("exclusion_reason", SCREENING_FORM, "notes", "Exclusion reason"),
    ]

    # instruments and the weeks each is due
    due: dict[str, set[int]] = {}
    for a in protocol.assessments:
        if a.instrument in SPECIAL_INSTRUMENTS:
            continue
        weeks = set(a.weeks) | {follow_up_week(m) for m in a.months}
        due.setdefault(a.instrument, set()).update(weeks)
    item_fields: dict[tuple[str, str], str] = {}
    instrument_maps: list[InstrumentMap] = []
    for instrument_id in due:
        instrument = get_instrument(instrument_id)
        items: dict[str, ValueSource] = {}
        for item in instrument.items:
            f = _item_field(instrument, item)
            fields.append(f)
            item_fields[(instrument_id, item.id)] = f.name
            items[item.id] = ValueSource(field=f.name)
        instrument_maps.append(InstrumentMap(instrument=instrument_id, items=items))

    analyte_fields: dict[str, str] = {}
    tox_choices = (("1", "Positive"), ("0", "Negative"), ("2", "Invalid"))
    if protocol.toxicology is not None:
        for analyte in protocol.toxicology.panel:
            name = f"tox_{analyte}"
            analyte_fields[analyte] = name
            fields.append(
                DictionaryField(
                    name, TOXICOLOGY_FORM, "radio", f"Result: {analyte}", choices=tox_choices
                )
            )
    fields.append(DictionaryField("attended", ATTENDANCE_FORM, "yesno", "Attended the session"))
    ae = get_instrument("adverse_event")
    fields += [
        DictionaryField("ae_id", AE_FORM, "text", "Adverse event ID"),
        DictionaryField(
            "ae_onset_week",
            AE_FORM,
            "text",
            "Study week of onset",
            validation="integer",
            validation_min="0",
            validation_max=str(max_week),
        ),
    ]
    for item_id, name in (
        ("severity", "ae_severity"),
        ("serious", "ae_serious"),
        ("related", "ae_related"),
        ("expected", "ae_expected"),
        ("relatedness", "ae_relatedness"),
        ("outcome", "ae_outcome"),
    ):
        if item_id == "related":
            fields.append(
                DictionaryField(name, AE_FORM, "yesno", "Related to the study intervention")
            )
            continue
        f = _item_field(ae, ae.item(item_id))
        fields.append(
            DictionaryField(
                name,
                AE_FORM,
                f.field_type,
                f.label,
                choices=f.choices,
                required=item_id != "outcome",
            )
        )

    # events
    weeks = {0} | set(range(1, protocol.weeks + 1))
    month_weeks = {follow_up_week(m): m for m in protocol.follow_up_months}
    month_weeks.update({follow_up_week(m): m for a in protocol.assessments for m in a.months})
    events: list[DesignEvent] = []
    for week in sorted(weeks | set(month_weeks)):
        forms: list[str] = []
        if week == 0:
            forms += [PARTICIPANT_FORM, SCREENING_FORM]
            unique, name = "baseline_arm_1", "Baseline"
        elif week in month_weeks and week > protocol.weeks:
            m = month_weeks[week]
            unique, name = f"month_{m}_arm_1", f"Month {m}"
        else:
            unique, name = f"week_{week}_arm_1", f"Week {week}"
        forms += [i for i, ws in due.items() if week in ws]
        if protocol.toxicology is not None:
            forms.append(TOXICOLOGY_FORM)
        if 1 <= week <= protocol.session.n_sessions:
            forms.append(ATTENDANCE_FORM)
        events.append(DesignEvent(unique, name, week, week * 7, tuple(forms)))
    ae_event = DesignEvent("adverse_events_arm_1", AE_EVENT_NAME, None, 0, (AE_FORM,))
    events.append(ae_event)

    names = [f.name for f in fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"protocol {protocol.id}: REDCap field names collide: {dupes}")

    mapping = RedcapMapping(
        description=f"REDCap projects built by MindTrial from protocol {protocol.id}",
        protocol=protocol.id,
        weeks=EventWeeks(
            events={
                e.unique_name: e.week
                for e in events
                if e.week is not None and not e.unique_name.startswith("week_")
            },
            pattern=r"^week_(?P<week>\d+)_arm_1$",
        ),
        participants=ParticipantsMap(
            columns={
                "participant_id": ValueSource(record_id=True),
                "arm": ValueSource(field="arm", recode={c: a for a, c in arm_codes.items()}),
                "site": ValueSource(dag=True),
                "cohort": ValueSource(field="cohort"),
                "randomized_on": ValueSource(field="randomized_on"),
                "withdrawn_week": ValueSource(field="withdrawn_week"),
                "withdrawal_reason": ValueSource(field="withdrawal_reason"),
                **{
                    c.name: ValueSource(
                        field=c.name,
                        recode={code: lv for lv, code in covariate_codes.get(c.name, {}).items()},
                    )
                    for c in protocol.baseline_covariates
                },
            }
        ),
        instruments=instrument_maps,
        toxicology=(
            ToxicologyMap(
                form=TOXICOLOGY_FORM,
                analytes={
                    a: ValueSource(field=f, recode={c: r for r, c in TOX_CODES.items()})
                    for a, f in analyte_fields.items()
                },
            )
            if analyte_fields
            else None
        ),
        attendance=AttendanceMap(form=ATTENDANCE_FORM, attended=ValueSource(field="attended")),
        adverse_events=TableMap(
            form=AE_FORM,
            columns={
                "participant_id": ValueSource(record_id=True),
                "ae_id": ValueSource(field="ae_id"),
                "onset_week": ValueSource(field="ae_onset_week"),
                "severity": ValueSource(field="ae_severity"),
                "serious": ValueSource(field="ae_serious"),
                "related": ValueSource(field="ae_related"),
                "expected": ValueSource(field="ae_expected"),
                "relatedness": ValueSource(field="ae_relatedness"),
                "outcome": ValueSource(field="ae_outcome"),
            },
        ),
        screening=TableMap(
            form=SCREENING_FORM,
            columns={
                "referral_id": ValueSource(field="referral_id"),
                "participant_id": ValueSource(field="screening_participant_id"),
                "referred_on": ValueSource(field="referred_on"),
                "stage": ValueSource(
                    field="screening_stage", recode={c: s for s, c in stage_codes.items()}
                ),
                "exclusion_reason": ValueSource(field="exclusion_reason"),
            },
        ),
    )
    return RedcapDesign(
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        fields=tuple(fields),
        events=tuple(events),
        repeating=((ae_event.unique_name, AE_FORM),),
        mapping=mapping,
        arm_codes=arm_codes,
        covariate_codes=covariate_codes,
        item_fields=item_fields,
        analyte_fields=analyte_fields,
    )


# --------------------------------------------------------------------------- records


def _text(value: Any) -> str:
    return cell_text(value) or ""


_Key = tuple[str, str, str, str]  # record, event, repeat instrument, repeat instance


class _Sheet:
    def __init__(self) -> None:
        self.rows: dict[_Key, dict[str, str]] = {}
        self.records: list[str] = []
        self.dag: dict[str, str] = {}
        self.problems: list[str] = []

    def put(self, key: _Key, field_: str, value: str, where: str) -> None:
        if key[0] not in self.records:
            self.records.append(key[0])
        row = self.rows.setdefault(key, {})
        if field_ in row and row[field_] != value:
            self.problems.append(f"{where}: two values for field {field_!r} at {key[1]}")
        row[field_] = value


def redcap_records(ds: StudyDataset, design: RedcapDesign) -> pd.DataFrame:
    """The study dataset as REDCap's flat import table (every cell text, ``""`` = blank).

    Raises :class:`RedcapExportError` listing every row the design cannot hold (a week with
    no event, masked arms, a site that is not a valid data access group name, a referral id
    that is also another participant's id).
    """
    if ds.meta.protocol_id != design.protocol_id:
        raise RedcapExportError(
            [f"the dataset is for {ds.meta.protocol_id!r}, the design for {design.protocol_id!r}"]
        )
    if ds.meta.arms_masked:
        raise RedcapExportError(
            [
                "the dataset's arms are masked; export an unmasked dataset (the REDCap arm field "
                "holds the protocol's arms)"
            ]
        )
    sheet = _Sheet()
    base = design.event_for_week(0)
    assert base is not None
    baseline = base.unique_name

    def event_of(week: int, form: str, where: str) -> str | None:
        event = design.event_for_week(int(week))
        if event is None or form not in event.forms:
            sheet.problems.append(f"{where}: no REDCap event holds {form} at week {week}")
            return None
        return event.unique_name

    participants = ds.participants
    pids = set(participants["participant_id"].tolist())
    covariates = set(ds.covariates)
    for i, row in enumerate(participants.to_dict("records"), start=2):
        pid = str(row["participant_id"])
        key = (pid, baseline, "", "")
        sheet.put(key, "arm", design.arm_codes[str(row["arm"])], f"participants.csv row {i}")
        for col in ("cohort", "randomized_on", "withdrawn_week", "withdrawal_reason"):
            sheet.put(key, col, _text(row[col]), f"participants.csv row {i}")
        for cov in covariates:
            text = _text(row[cov])
            codes = design.covariate_codes.get(cov)
            sheet.put(key, cov, codes[text] if codes and text else text, "participants.csv")
        site = _text(row["site"])
        if site:
            if not _DAG_NAME.match(site):
                sheet.problems.append(
                    f"participants.csv row {i}: site {site!r} is not a REDCap data access group "
                    "name (lower-case letters, digits and _, at most 18 characters)"
                )
            sheet.dag[pid] = site
    for i, row in enumerate(ds.responses.to_dict("records"), start=2):
        instrument, item = str(row["instrument"]), str(row["item"])
        where = f"responses.csv row {i}"
        field_ = design.item_fields.get((instrument, item))
        if field_ is None:
            sheet.problems.append(f"{where}: {instrument}.{item} has no REDCap field")
            continue
        event = event_of(row["week"], instrument, where)
        if event is not None:
            sheet.put(
                (str(row["participant_id"]), event, "", ""), field_, _text(row["value"]), where
            )
    for i, row in enumerate(ds.toxicology.to_dict("records"), start=2):
        where = f"toxicology.csv row {i}"
        event = event_of(row["week"], TOXICOLOGY_FORM, where)
        if event is not None:
            sheet.put(
                (str(row["participant_id"]), event, "", ""),
                design.analyte_fields[str(row["analyte"])],
                TOX_CODES[str(row["result"])],
                where,
            )
    for i, row in enumerate(ds.attendance.to_dict("records"), start=2):
        where = f"attendance.csv row {i}"
        event = event_of(row["week"], ATTENDANCE_FORM, where)
        if event is not None:
            sheet.put(
                (str(row["participant_id"]), event, "", ""),
                "attended",
                _text(row["attended"]),
                where,
            )
    ae_event = next(e.unique_name for e in design.events if AE_FORM in e.forms)
    instances: dict[str, int] = {}
    ae_fields = {
        "ae_id": "ae_id",
        "onset_week": "ae_onset_week",
        "severity": "ae_severity",
        "serious": "ae_serious",
        "related": "ae_related",
        "expected": "ae_expected",
        "relatedness": "ae_relatedness",
        "outcome": "ae_outcome",
    }
    for i, row in enumerate(ds.adverse_events.to_dict("records"), start=2):
        pid = str(row["participant_id"])
        instances[pid] = instances.get(pid, 0) + 1
        key = (pid, ae_event, AE_FORM, str(instances[pid]))
        for col, field_ in ae_fields.items():
            if col in row:
                sheet.put(key, field_, _text(row[col]), f"adverse_events.csv row {i}")
    stage_codes = {s: str(n) for n, s in enumerate(STAGE_ORDER, start=1)}
    for i, row in enumerate(ds.screening.to_dict("records"), start=2):
        pid = _text(row["participant_id"])
        referral = str(row["referral_id"])
        if pid and pid in pids:
            record = pid
        else:
            record = referral
            if referral in pids:
                sheet.problems.append(
                    f"screening.csv row {i}: referral {referral!r} is not randomized but its id "
                    "is also a participant's id (the REDCap record ids would collide)"
                )
                continue
        key = (record, baseline, "", "")
        where = f"screening.csv row {i}"
        sheet.put(key, "referral_id", referral, where)
        sheet.put(key, "screening_participant_id", pid, where)
        sheet.put(key, "referred_on", _text(row["referred_on"]), where)
        sheet.put(key, "screening_stage", stage_codes[str(row["stage"])], where)
        sheet.put(key, "exclusion_reason", _text(row["exclusion_reason"]), where)
    if sheet.problems:
        raise RedcapExportError(sheet.problems)
    return _sheet_frame(sheet, design)


def _sheet_frame(sheet: _Sheet, design: RedcapDesign) -> pd.DataFrame:
    form_of = {f.name: f.form for f in design.fields}
    columns = [RECORD_ID, *_EVENT_COLUMNS]
    if sheet.dag:
        columns.append(DAG_COLUMN)
    for form in design.forms:
        columns += [f.name for f in design.fields if f.form == form and f.name != RECORD_ID]
        columns.append(f"{form}_complete")
    event_order = {e.unique_name: n for n, e in enumerate(design.events)}
    record_order = {r: n for n, r in enumerate(sheet.records)}
    keys = sorted(
        sheet.rows,
        key=lambda k: (record_order[k[0]], event_order[k[1]], k[2], int(k[3] or 0)),
    )
    out: list[dict[str, str]] = []
    for key in keys:
        values = sheet.rows[key]
        row = dict.fromkeys(columns, "")
        row.update(
            {
                RECORD_ID: key[0],
                "redcap_event_name": key[1],
                "redcap_repeat_instrument": key[2],
                "redcap_repeat_instance": key[3],
            }
        )
        if sheet.dag:
            row[DAG_COLUMN] = sheet.dag.get(key[0], "")
        for name, value in values.items():
            row[name] = value
        for form in {form_of[n] for n, v in values.items() if v != ""}:
            row[f"{form}_complete"] = "2"
        out.append(row)
    return pd.DataFrame(out, columns=columns, dtype=object)


def redcap_records_csv(ds: StudyDataset, design: RedcapDesign) -> str:
    """:func:`redcap_records` as CSV text."""
    frame = redcap_records(ds, design)
    return _csv([list(frame.columns), *frame.itertuples(index=False, name=None)])


# --------------------------------------------------------------------------- files


DESIGN_FILES: Final = (
    "dictionary.csv",
    "event.csv",
    "arm.csv",
    "instrument_event_mapping.csv",
    "repeating_instruments.csv",
    "mapping.yaml",
)


def write_files(folder: str | Path, texts: dict[str, str], *, overwrite: bool = False) -> Path:
    """Write ``texts`` (file name -> text) as a new folder, all or nothing."""
    target = Path(folder)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists (use overwrite to replace it)")
    return replace_folder(target, texts)


def design_files(design: RedcapDesign) -> dict[str, str]:
    """File name -> text of everything a team needs to build the project."""
    return {
        "dictionary.csv": design.dictionary_csv(),
        "event.csv": design.events_csv(),
        "arm.csv": design.arms_csv(),
        "instrument_event_mapping.csv": design.instrument_events_csv(),
        "repeating_instruments.csv": design.repeating_csv(),
        "mapping.yaml": mapping_yaml(design.mapping),
    }
