"""REDCap's project XML (CDISC ODM 1.3.1 with REDCap extensions): metadata and records."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from mindtrial.interop.redcap.dictionary import (
    DataDictionary,
    normalise_field_type,
    normalise_validation,
    parse_choices,
)
from mindtrial.interop.redcap.records import flat_layout
from mindtrial.interop.redcap.types import (
    Arm,
    Choice,
    Event,
    Field,
    ProjectMetadata,
    RedcapFormatError,
    RepeatSetting,
)

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
RC = "{https://projectredcap.org}"


def _text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    node = element.find(f"{ODM}TranslatedText")
    return (node.text or "") if node is not None else (element.text or "")


def _rc(element: ET.Element, name: str) -> str:
    return element.get(f"{RC}{name}", "")


# Columns REDCap adds to every export (and lists as items in its project XML) that are not
# fields of the data dictionary: the reader types them itself.
_NOT_FIELDS = frozenset(
    {
        "redcap_data_access_group",
        "redcap_survey_identifier",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
    }
)


def _is_form_column(name: str, form: str) -> bool:
    return name in (f"{form}_complete", f"{form}_timestamp")


def read_project_xml(path: Path | str) -> ProjectMetadata:
    """Fields, events, arms, repeating instruments and DAGs from a REDCap project XML."""
    path = Path(path)
    if path.is_dir():
        raise RedcapFormatError(f"project XML {path} is a folder: give the XML file itself")
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise RedcapFormatError(f"project XML {path} does not exist") from None
    except OSError as exc:
        raise RedcapFormatError(f"project XML {path} cannot be read: {exc.strerror}") from None
    except ET.ParseError as exc:
        raise RedcapFormatError(f"{path} is not well-formed XML: {exc}") from None
    if root.tag != f"{ODM}ODM":
        raise RedcapFormatError(f"{path} is not a CDISC ODM file (root element {root.tag!r})")
    study = root.find(f"{ODM}Study")
    mdv = study.find(f"{ODM}MetaDataVersion") if study is not None else None
    if study is None or mdv is None:
        raise RedcapFormatError(f"{path} has no Study/MetaDataVersion: not a REDCap project XML")
    gv = study.find(f"{ODM}GlobalVariables")

    item_defs = {d.get("OID", ""): d for d in mdv.iter(f"{ODM}ItemDef")}
    code_lists = {c.get("OID", ""): c for c in mdv.iter(f"{ODM}CodeList")}
    groups = {
        g.get("OID", ""): [r.get("ItemOID", "") for r in g.iter(f"{ODM}ItemRef")]
        for g in mdv.iter(f"{ODM}ItemGroupDef")
    }
    fields: list[Field] = []
    seen: set[str] = set()
    forms: list[str] = []
    for form_def in mdv.iter(f"{ODM}FormDef"):
        form = _rc(form_def, "FormName") or form_def.get("OID", "").removeprefix("Form.")
        forms.append(form)
        for gref in form_def.iter(f"{ODM}ItemGroupRef"):
            for item_oid in groups.get(gref.get("ItemGroupOID", ""), []):
                item = item_defs.get(item_oid)
                if item is None:
                    continue
                name = _rc(item, "Variable") or item.get("Name", "")
                if name in seen or name in _NOT_FIELDS or _is_form_column(name, form):
                    continue
                seen.add(name)
                fields.append(_field(item, form, name, code_lists))
    if not fields:
        raise RedcapFormatError(f"{path} defines no fields")

    arms: dict[int, str] = {}
    events: list[Event] = []
    for ev in mdv.iter(f"{ODM}StudyEventDef"):
        arm = int(_rc(ev, "ArmNum") or "1")
        arms.setdefault(arm, _rc(ev, "ArmName"))
        offset = _rc(ev, "DayOffset")
        events.append(
            Event(
                unique_name=_rc(ev, "UniqueEventName"),
                name=_rc(ev, "EventName") or ev.get("Name", ""),
                arm=arm,
                custom_label=_rc(ev, "CustomEventLabel"),
                day_offset=float(offset) if offset else None,
                forms=tuple(_rc(f, "FormName") for f in ev.iter(f"{ODM}FormRef")),
            )
        )
    repeating: list[RepeatSetting] = []
    dags: list[str] = []
    missing: tuple[Choice, ...] = ()
    surveys: list[str] = []
    title = ""
    if gv is not None:
        title = gv.findtext(f"{ODM}StudyName") or ""
        longitudinal = bool(events)
        for rep in gv.iter(f"{RC}RepeatingInstrument"):
            repeating.append(
                RepeatSetting(
                    event=_rc(rep, "UniqueEventName") if longitudinal else None,
                    instrument=_rc(rep, "RepeatInstrument") or None,
                )
            )
        for rep in gv.iter(f"{RC}RepeatingEvent"):
            repeating.append(RepeatSetting(event=_rc(rep, "UniqueEventName"), instrument=None))
        dags = [d.get("group_name", "") for d in gv.iter(f"{RC}DataAccessGroups")]
        missing = parse_choices(gv.findtext(f"{RC}MissingDataCodes") or "")
        surveys = [s.get("form_name", "") for s in gv.iter(f"{RC}Surveys")]
    return ProjectMetadata(
        fields=tuple(fields),
        events=tuple(events),
        arms=tuple(Arm(number=n, name=arms[n]) for n in sorted(arms)),
        repeating=tuple(repeating),
        data_access_groups=tuple(dags),
        missing_codes=missing,
        survey_forms=tuple(surveys),
        title=title,
    )


def _field(item: ET.Element, form: str, name: str, code_lists: dict[str, ET.Element]) -> Field:
    field_type = normalise_field_type(_rc(item, "FieldType") or "text")
    choices: tuple[Choice, ...] = ()
    if field_type == "checkbox":
        ref = item.find(f"{ODM}CodeListRef")
        cl = code_lists.get(ref.get("CodeListOID", "")) if ref is not None else None
        choices = parse_choices(_rc(cl, "CheckboxChoices")) if cl is not None else ()
    elif field_type in {"radio", "dropdown"}:
        ref = item.find(f"{ODM}CodeListRef")
        cl = code_lists.get(ref.get("CodeListOID", "")) if ref is not None else None
        if cl is not None:
            choices = tuple(
                Choice(code=ci.get("CodedValue", ""), label=_text(ci.find(f"{ODM}Decode")))
                for ci in cl.iter(f"{ODM}CodeListItem")
            )
    low = high = ""
    for rc in item.iter(f"{ODM}RangeCheck"):
        value = rc.findtext(f"{ODM}CheckValue") or ""
        if rc.get("Comparator") == "GE":
            low = value
        elif rc.get("Comparator") == "LE":
            high = value
    slider = _rc(item, "SliderLabels")
    return Field(
        name=name,
        form=form,
        field_type=field_type,
        label=_text(item.find(f"{ODM}Question")),
        choices=choices,
        validation=normalise_validation(_rc(item, "TextValidationType")),
        validation_min=low,
        validation_max=high,
        calculation=_rc(item, "Calculation"),
        slider_labels=tuple(p.strip() for p in slider.split("|")) if slider else (),
        note=_rc(item, "FieldNote"),
        section_header=_rc(item, "SectionHeader"),
        identifier=_rc(item, "Identifier") == "y",
        branching_logic=_rc(item, "BranchingLogic"),
        required=_rc(item, "RequiredField") == "y",
        matrix_group=_rc(item, "MatrixGroupName"),
        annotation=_rc(item, "FieldAnnotation"),
    )


def read_clinical_data(
    path: Path | str, *, dictionary: DataDictionary, repeating: tuple[RepeatSetting, ...] = ()
) -> pd.DataFrame:
    """The records of a project XML (its ClinicalData) laid out as REDCap's flat export:
    one row per record x event x repeat instance, every cell a string. ``repeating`` (from
    the same XML's metadata) says which instruments and events repeat."""
    repeat_events = {r.event for r in repeating if r.instrument is None}
    repeat_forms = {(r.event, r.instrument) for r in repeating if r.instrument}
    path = Path(path)
    if path.is_dir():
        raise RedcapFormatError(f"project XML {path} is a folder: give the XML file itself")
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise RedcapFormatError(f"project XML {path} does not exist") from None
    except ET.ParseError as exc:
        raise RedcapFormatError(f"{path} is not well-formed XML: {exc}") from None
    clinical = root.findall(f"{ODM}ClinicalData")
    if not clinical:
        raise RedcapFormatError(
            f"{path} holds no records (no ClinicalData): export the project XML with its data, "
            "or give the records file with --records"
        )
    rid = dictionary.record_id
    rows: dict[tuple[str, str, str, str], dict[str, str]] = {}
    columns: dict[str, None] = {rid: None}
    has_events = False
    has_repeats = False
    for block in clinical:
        for subject in block.iter(f"{ODM}SubjectData"):
            record = subject.get("SubjectKey", "")
            dag = ""
            event_nodes = subject.findall(f"{ODM}StudyEventData") or [subject]
            for ev in event_nodes:
                event = ""
                event_instance = ""
                if ev is not subject:
                    has_events = True
                    event = _rc(ev, "UniqueEventName") or ev.get("StudyEventOID", "").removeprefix(
                        "Event."
                    )
                    key = ev.get("StudyEventRepeatKey", "1")
                    event_instance = key if key != "1" or event in repeat_events else ""
                for form in ev.findall(f"{ODM}FormData"):
                    name = form.get("FormOID", "").removeprefix("Form.")
                    repeat = form.get("FormRepeatKey", "1")
                    instrument = instance = ""
                    if event_instance:
                        instance = event_instance
                    elif (
                        repeat != "1"
                        or (event or None, name) in repeat_forms
                        or (None, name) in repeat_forms
                    ):
                        instrument, instance = name, repeat
                    if instance:
                        has_repeats = True
                    row = rows.setdefault((record, event, instrument, instance), {rid: record})
                    for item in form.iter(f"{ODM}ItemData"):
                        oid = item.get("ItemOID", "")
                        value = item.get("Value", "")
                        if oid == "redcap_data_access_group":
                            dag = value
                            continue
                        row[oid] = value
                        columns.setdefault(oid, None)
            if dag:
                for row_key, row in rows.items():
                    if row_key[0] == record:
                        row["redcap_data_access_group"] = dag
    keys: list[str] = []
    if has_events:
        keys.append("redcap_event_name")
    if has_repeats:
        keys += ["redcap_repeat_instrument", "redcap_repeat_instance"]
    out = []
    for (record, event, instrument, instance), row in rows.items():
        flat = {rid: record}
        if has_events:
            flat["redcap_event_name"] = event
        if has_repeats:
            flat["redcap_repeat_instrument"] = instrument
            flat["redcap_repeat_instance"] = instance
        flat.update(row)
        out.append(flat)
    front = [rid, *keys]
    if any("redcap_data_access_group" in r for r in out):
        front.append("redcap_data_access_group")
    layout = flat_layout(dictionary, set(columns))
    order = [*front, *layout[1:], *[c for c in columns if c not in layout and c not in front]]
    frame = pd.DataFrame(out, columns=order, dtype=str)
    return frame.fillna("")
