"""A study dataset as CDISC ODM 1.3.2 XML, and back.

:func:`odm_xml` writes one ``ODM`` document (``FileType="Snapshot"``) with

* ``Study/GlobalVariables`` (short title, title, protocol id) and a ``MetaDataVersion``:
  ``StudyEventDef`` ``SE.ENROLMENT`` (participant and screening forms), one ``SE.WEEK.<w>`` per
  study week (instrument forms, toxicology, attendance), ``SE.AE_LOG`` (the repeating
  adverse-event form); a ``FormDef`` and an ``ItemGroupDef`` per form; ``ItemDef`` with
  ``DataType`` per item; ``CodeList`` for every set of codes (arms, covariate levels,
  toxicology results, screening stages, adverse-event choices, choice items);
* ``AdminData`` (users and the MindTrial location) and ``ClinicalData/AuditRecords`` when an
  audit trail is given;
* ``ClinicalData/SubjectData`` per participant (``SubjectKey`` = participant id) and per
  screening-only referral (``SubjectKey`` = referral id).

Two facts of ``study.json`` that ODM has no place for (``arms_masked`` and ``source``) are
attributes in the MindTrial namespace :data:`MT_NS` on the root element, as ODM allows for
vendor extensions. :func:`read_odm` reads such a document back into the same study dataset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd
from lxml import etree

import mindtrial
from mindtrial.atomic_files import replace_file
from mindtrial.dataset import DatasetError, StudyDataset, StudyMeta, build_dataset, follow_up_week
from mindtrial.dataset.schema import (
    ADVERSE_EVENT_COLUMNS,
    PARTICIPANT_COLUMNS,
    SCREENING_COLUMNS,
    STAGES,
    TOX_RESULTS,
    cell_text,
    format_number,
)
from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import Item, ItemType
from mindtrial.protocols import load_protocol
from mindtrial.protocols.schema import Protocol

ODM_NS: Final = "http://www.cdisc.org/ns/odm/v1.3"
MT_NS: Final = "https://mindtrial.invalid/ns/odm-extension/v1"
XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"
ODM_VERSION: Final = "1.3.2"

SE_ENROLMENT: Final = "SE.ENROLMENT"
SE_AE_LOG: Final = "SE.AE_LOG"
F_PARTICIPANT: Final = "F.PARTICIPANT"
F_SCREENING: Final = "F.SCREENING"
F_TOXICOLOGY: Final = "F.TOXICOLOGY"
F_ATTENDANCE: Final = "F.ATTENDANCE"
F_AE: Final = "F.ADVERSE_EVENT"
_SPECIAL: Final = frozenset({"adverse_event", "toxicology_14"})


def _q(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


class OdmError(ValueError):
    """An ODM document that cannot be written or read as a study dataset."""


@dataclass(frozen=True)
class AuditEntry:
    """One entry of an audit trail, written as an ODM ``AuditRecord``.

    ``timestamp`` must be timezone-aware. ``source_id`` is the id of the audit row in the
    system that kept it (ODM ``SourceID``).
    """

    user: str
    timestamp: datetime
    reason: str | None = None
    source_id: str | None = None

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError("AuditEntry.timestamp must be timezone-aware")
        if not self.user:
            raise ValueError("AuditEntry.user must not be empty")


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class _ItemSpec:
    oid: str
    name: str
    data_type: str
    question: str
    codelist: str | None = None
    range: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class _FormSpec:
    oid: str
    name: str
    repeating: bool
    items: tuple[_ItemSpec, ...]

    @property
    def group(self) -> str:
        return "IG." + self.oid.removeprefix("F.")


_TYPE: Final = {
    ItemType.INTEGER: "integer",
    ItemType.NUMBER: "float",
    ItemType.BOOLEAN: "boolean",
    ItemType.CHOICE: "text",
    ItemType.TEXT: "text",
    ItemType.DATE: "date",
}


@dataclass
class _Meta:
    protocol: Protocol
    forms: dict[str, _FormSpec]
    codelists: dict[str, tuple[str, str, list[tuple[str, str]]]]  # oid -> name, type, items
    instrument_forms: dict[str, str]  # instrument id -> form oid
    weeks: list[int]
    week_forms: dict[int, list[str]]


def _item_oid(form: str, name: str) -> str:
    return f"I.{form.removeprefix('F.')}.{name}"


def _instrument_item(form: str, item: Item, codelists: dict[str, Any]) -> _ItemSpec:
    codelist = None
    if item.type is ItemType.CHOICE:
        codelist = f"CL.{form.removeprefix('F.')}.{item.id}"
        codelists[codelist] = (
            f"{item.id} choices",
            "text",
            [(c.code, c.label) for c in item.choices],
        )
    elif item.type is ItemType.INTEGER and item.labels:
        assert item.min is not None and item.max is not None
        if set(item.labels) == set(range(int(item.min), int(item.max) + 1)):
            codelist = f"CL.{form.removeprefix('F.')}.{item.id}"
            codelists[codelist] = (
                f"{item.id} responses",
                "integer",
                [(str(k), v) for k, v in sorted(item.labels.items())],
            )
    return _ItemSpec(
        oid=_item_oid(form, item.id),
        name=item.id,
        data_type=_TYPE[item.type],
        question=" ".join((item.text or item.id).split()),
        codelist=codelist,
        range=(item.min, item.max),
    )


def _metadata(protocol: Protocol, data_weeks: Iterable[int]) -> _Meta:
    codelists: dict[str, tuple[str, str, list[tuple[str, str]]]] = {}
    forms: dict[str, _FormSpec] = {}
    codelists["CL.ARM"] = ("Arm", "text", [(a.id, a.label) for a in protocol.arms])
    part_items = [
        _ItemSpec(_item_oid(F_PARTICIPANT, "arm"), "arm", "text", "Randomized arm", "CL.ARM"),
        _ItemSpec(_item_oid(F_PARTICIPANT, "site"), "site", "text", "Site"),
        _ItemSpec(_item_oid(F_PARTICIPANT, "cohort"), "cohort", "text", "Cohort"),
        _ItemSpec(
            _item_oid(F_PARTICIPANT, "randomized_on"), "randomized_on", "date", "Date randomized"
        ),
        _ItemSpec(
            _item_oid(F_PARTICIPANT, "withdrawn_week"),
            "withdrawn_week",
            "integer",
            "Study week of withdrawal",
        ),
        _ItemSpec(
            _item_oid(F_PARTICIPANT, "withdrawal_reason"),
            "withdrawal_reason",
            "text",
            "Reason for withdrawal",
        ),
    ]
    cov_types = {"number": "float", "integer": "integer", "boolean": "boolean", "category": "text"}
    for cov in protocol.baseline_covariates:
        codelist = None
        if cov.type == "category":
            codelist = f"CL.COV.{cov.name}"
            codelists[codelist] = (cov.label, "text", [(lv, lv) for lv in cov.levels])
        part_items.append(
            _ItemSpec(
                _item_oid(F_PARTICIPANT, cov.name),
                cov.name,
                cov_types[cov.type],
                cov.label,
                codelist,
                (cov.minimum, cov.maximum),
            )
        )
    forms[F_PARTICIPANT] = _FormSpec(F_PARTICIPANT, "Participant", False, tuple(part_items))
    codelists["CL.STAGE"] = ("Screening stage", "text", [(s, s.capitalize()) for s in STAGES])
    scr_types = {"referred_on": "date"}
    forms[F_SCREENING] = _FormSpec(
        F_SCREENING,
        "Screening",
        False,
        tuple(
            _ItemSpec(
                _item_oid(F_SCREENING, c.name),
                c.name,
                scr_types.get(c.name, "text"),
                c.name.replace("_", " ").capitalize(),
                "CL.STAGE" if c.name == "stage" else None,
            )
            for c in SCREENING_COLUMNS
        ),
    )
    due: dict[str, set[int]] = {}
    for a in protocol.assessments:
        if a.instrument not in _SPECIAL:
            due.setdefault(a.instrument, set()).update(
                set(a.weeks) | {follow_up_week(m) for m in a.months}
            )
    instrument_forms: dict[str, str] = {}
    for instrument_id in due:
        instrument = get_instrument(instrument_id)
        oid = f"F.{instrument_id}"
        instrument_forms[instrument_id] = oid
        forms[oid] = _FormSpec(
            oid,
            instrument.name,
            False,
            tuple(_instrument_item(oid, item, codelists) for item in instrument.items),
        )
    if protocol.toxicology is not None:
        codelists["CL.TOX_RESULT"] = (
            "Toxicology result",
            "text",
            [(r, r.capitalize()) for r in TOX_RESULTS],
        )
        forms[F_TOXICOLOGY] = _FormSpec(
            F_TOXICOLOGY,
            "Toxicology",
            False,
            tuple(
                _ItemSpec(_item_oid(F_TOXICOLOGY, a), a, "text", f"Result: {a}", "CL.TOX_RESULT")
                for a in protocol.toxicology.panel
            ),
        )
    forms[F_ATTENDANCE] = _FormSpec(
        F_ATTENDANCE,
        "Attendance",
        False,
        (_ItemSpec(_item_oid(F_ATTENDANCE, "attended"), "attended", "boolean", "Attended"),),
    )
    ae = get_instrument("adverse_event")
    ae_items: list[_ItemSpec] = []
    for c in ADVERSE_EVENT_COLUMNS:
        if c.name == "participant_id":
            continue
        if c.name in ae.item_ids:
            spec = _instrument_item(F_AE, ae.item(c.name), codelists)
        else:
            dtype = {"int": "integer", "bool": "boolean"}.get(c.kind, "text")
            spec = _ItemSpec(_item_oid(F_AE, c.name), c.name, dtype, c.name.replace("_", " "))
        ae_items.append(spec)
    forms[F_AE] = _FormSpec(F_AE, "Adverse event", True, tuple(ae_items))

    scheduled = {0} | set(range(1, protocol.weeks + 1))
    scheduled |= {w for ws in due.values() for w in ws}
    scheduled |= {follow_up_week(m) for m in protocol.follow_up_months}
    weeks = sorted(scheduled | set(data_weeks))
    week_forms: dict[int, list[str]] = {}
    for w in weeks:
        names = [instrument_forms[i] for i, ws in due.items() if w in ws]
        if F_TOXICOLOGY in forms:
            names.append(F_TOXICOLOGY)
        if 1 <= w <= protocol.session.n_sessions:
            names.append(F_ATTENDANCE)
        week_forms[w] = names
    return _Meta(protocol, forms, codelists, instrument_forms, weeks, week_forms)


# --------------------------------------------------------------------------- writing


def _text(value: Any) -> str | None:
    return cell_text(value)


def _sub(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _q(tag), dict(attrs))


def _translated(parent: etree._Element, tag: str, text: str) -> None:
    holder = _sub(parent, tag)
    t = _sub(holder, "TranslatedText")
    t.set(XML_LANG, "en")
    t.text = text


def _oid_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def _write_metadata(root: etree._Element, meta: _Meta, study_oid: str, mdv_oid: str) -> None:
    p = meta.protocol
    study = _sub(root, "Study", OID=study_oid)
    gv = _sub(study, "GlobalVariables")
    _sub(gv, "StudyName").text = p.short_title
    _sub(gv, "StudyDescription").text = p.title
    _sub(gv, "ProtocolName").text = p.id
    mdv = _sub(study, "MetaDataVersion", OID=mdv_oid, Name=f"{p.id} version {p.version}")
    mdv.set(f"{{{MT_NS}}}ProtocolVersion", p.version)
    proto = _sub(mdv, "Protocol")
    events: list[tuple[str, str, str, list[tuple[str, bool]]]] = [
        (
            SE_ENROLMENT,
            "Enrolment and screening",
            "Common",
            [(F_PARTICIPANT, False), (F_SCREENING, False)],
        )
    ]
    for w in meta.weeks:
        events.append(
            (f"SE.WEEK.{w}", f"Week {w}", "Scheduled", [(f, False) for f in meta.week_forms[w]])
        )
    events.append((SE_AE_LOG, "Adverse events", "Unscheduled", [(F_AE, False)]))
    for n, (oid, _, _, _) in enumerate(events, start=1):
        _sub(proto, "StudyEventRef", StudyEventOID=oid, OrderNumber=str(n), Mandatory="No")
    for oid, name, kind, refs in events:
        se = _sub(mdv, "StudyEventDef", OID=oid, Name=name, Repeating="No", Type=kind)
        for n, (form_oid, _) in enumerate(refs, start=1):
            _sub(se, "FormRef", FormOID=form_oid, OrderNumber=str(n), Mandatory="No")
    for form in meta.forms.values():
        fd = _sub(
            mdv,
            "FormDef",
            OID=form.oid,
            Name=form.name,
            Repeating="Yes" if form.repeating else "No",
        )
        _sub(fd, "ItemGroupRef", ItemGroupOID=form.group, Mandatory="Yes")
    for form in meta.forms.values():
        ig = _sub(mdv, "ItemGroupDef", OID=form.group, Name=form.name, Repeating="No")
        for n, item in enumerate(form.items, start=1):
            _sub(ig, "ItemRef", ItemOID=item.oid, OrderNumber=str(n), Mandatory="No")
    for form in meta.forms.values():
        for item in form.items:
            idef = _sub(mdv, "ItemDef", OID=item.oid, Name=item.name, DataType=item.data_type)
            _translated(idef, "Question", item.question)
            lo, hi = item.range
            if item.codelist is None:
                for comparator, bound in (("GE", lo), ("LE", hi)):
                    if bound is None:
                        continue
                    rc = _sub(idef, "RangeCheck", Comparator=comparator, SoftHard="Hard")
                    _sub(rc, "CheckValue").text = format_number(float(bound))
            else:
                _sub(idef, "CodeListRef", CodeListOID=item.codelist)
    for oid, (name, dtype, entries) in meta.codelists.items():
        cl = _sub(mdv, "CodeList", OID=oid, Name=name, DataType=dtype)
        for code, label in entries:
            cli = _sub(cl, "CodeListItem", CodedValue=code)
            _translated(cli, "Decode", label)


class _Subjects:
    """SubjectKey -> StudyEvent OID -> list of (form, repeat key, {item: value})."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, list[tuple[str, str | None, dict[str, str]]]]] = {}

    def put(self, subject: str, event: str, form: str, item: str, value: str | None) -> None:
        if value is None:
            return
        forms = self.data.setdefault(subject, {}).setdefault(event, [])
        for f, key, items in forms:
            if f == form and key is None:
                items[item] = value
                return
        forms.append((form, None, {item: value}))

    def put_form(
        self, subject: str, event: str, form: str, key: str, items: dict[str, str]
    ) -> None:
        self.data.setdefault(subject, {}).setdefault(event, []).append((form, key, items))


def _clinical(ds: StudyDataset, meta: _Meta) -> _Subjects:
    s = _Subjects()
    covs = list(ds.covariates)
    pids: set[str] = set()
    for row in ds.participants.to_dict("records"):
        pid = str(row["participant_id"])
        pids.add(pid)
        for col in [c.name for c in PARTICIPANT_COLUMNS if c.name != "participant_id"] + covs:
            s.put(pid, SE_ENROLMENT, F_PARTICIPANT, col, _text(row[col]))
    for row in ds.responses.to_dict("records"):
        form = meta.instrument_forms.get(str(row["instrument"]))
        if form is None:
            raise OdmError(f"instrument {row['instrument']!r} is not a form of the protocol")
        s.put(
            str(row["participant_id"]),
            f"SE.WEEK.{int(row['week'])}",
            form,
            str(row["item"]),
            _text(row["value"]),
        )
    for row in ds.toxicology.to_dict("records"):
        s.put(
            str(row["participant_id"]),
            f"SE.WEEK.{int(row['week'])}",
            F_TOXICOLOGY,
            str(row["analyte"]),
            _text(row["result"]),
        )
    for row in ds.attendance.to_dict("records"):
        s.put(
            str(row["participant_id"]),
            f"SE.WEEK.{int(row['week'])}",
            F_ATTENDANCE,
            "attended",
            _text(row["attended"]),
        )
    counts: dict[str, int] = {}
    for row in ds.adverse_events.to_dict("records"):
        pid = str(row["participant_id"])
        counts[pid] = counts.get(pid, 0) + 1
        items = {
            str(k): t
            for k, v in row.items()
            if k != "participant_id" and (t := _text(v)) is not None
        }
        s.put_form(pid, SE_AE_LOG, F_AE, str(counts[pid]), items)
    for row in ds.screening.to_dict("records"):
        screened = _text(row["participant_id"])
        referral = str(row["referral_id"])
        subject = screened if screened is not None and screened in pids else referral
        if subject == referral and referral in pids and screened != referral:
            # a participant's own referral may carry the participant's id (the web app
            # does this); only another referral with a participant's id would collide
            raise OdmError(
                f"screening referral {referral!r} (not randomized) has the same id as a "
                "participant; ODM SubjectKeys would collide"
            )
        for col in [c.name for c in SCREENING_COLUMNS]:
            s.put(subject, SE_ENROLMENT, F_SCREENING, col, _text(row[col]))
    return s


def _user_oid(user: str) -> str:
    return "USR." + _oid_part(user)


def odm_xml(
    ds: StudyDataset,
    *,
    protocol: Protocol | None = None,
    audit: Sequence[AuditEntry] = (),
    file_oid: str | None = None,
) -> bytes:
    """The dataset (and optional audit trail) as an ODM 1.3.2 document (UTF-8 bytes)."""
    chosen = protocol if protocol is not None else load_protocol(ds.meta.protocol_id)
    data_weeks = {int(w) for t in (ds.responses, ds.toxicology, ds.attendance) for w in t["week"]}
    meta = _metadata(chosen, data_weeks)
    study_oid = f"ST.{_oid_part(chosen.id)}"
    mdv_oid = f"MDV.{_oid_part(chosen.id)}.{_oid_part(chosen.version)}"
    stamp = ds.meta.exported_at.isoformat()
    root = etree.Element(_q("ODM"), nsmap={None: ODM_NS, "mt": MT_NS})
    root.set("ODMVersion", ODM_VERSION)
    root.set("FileType", "Snapshot")
    root.set("FileOID", file_oid or f"MT.{_oid_part(chosen.id)}.{_oid_part(stamp)}")
    root.set("CreationDateTime", stamp)
    root.set("Granularity", "All")
    root.set("Originator", "MindTrial")
    root.set("SourceSystem", "MindTrial")
    root.set("SourceSystemVersion", mindtrial.__version__)
    root.set(f"{{{MT_NS}}}ArmsMasked", "Yes" if ds.meta.arms_masked else "No")
    if ds.meta.source is not None:
        root.set(f"{{{MT_NS}}}Source", ds.meta.source)
    _write_metadata(root, meta, study_oid, mdv_oid)
    if audit:
        admin = _sub(root, "AdminData", StudyOID=study_oid)
        for user in dict.fromkeys(e.user for e in audit):
            u = _sub(admin, "User", OID=_user_oid(user))
            _sub(u, "LoginName").text = user
        loc = _sub(admin, "Location", OID="LOC.MINDTRIAL", Name="MindTrial", LocationType="Other")
        _sub(loc, "MetaDataVersionRef", StudyOID=study_oid, MetaDataVersionOID=mdv_oid,
             EffectiveDate=ds.meta.exported_at.date().isoformat())  # fmt: skip
    clinical = _sub(root, "ClinicalData", StudyOID=study_oid, MetaDataVersionOID=mdv_oid)
    subjects = _clinical(ds, meta)
    event_order = [SE_ENROLMENT, *(f"SE.WEEK.{w}" for w in meta.weeks), SE_AE_LOG]
    for subject, events in subjects.data.items():
        sd = _sub(clinical, "SubjectData", SubjectKey=subject)
        for event in sorted(events, key=event_order.index):
            sed = _sub(sd, "StudyEventData", StudyEventOID=event)
            for form, key, items in events[event]:
                fd = _sub(sed, "FormData", FormOID=form)
                if key is not None:
                    fd.set("FormRepeatKey", key)
                igd = _sub(fd, "ItemGroupData", ItemGroupOID=meta.forms[form].group)
                order = {it.name: n for n, it in enumerate(meta.forms[form].items)}
                for item in sorted(items, key=lambda k: order.get(k, len(order))):
                    _sub(igd, "ItemData", ItemOID=_item_oid(form, item), Value=items[item])
    if audit:
        records = _sub(clinical, "AuditRecords")
        for n, entry in enumerate(audit, start=1):
            ar = _sub(records, "AuditRecord", ID=f"AR.{n}")
            _sub(ar, "UserRef", UserOID=_user_oid(entry.user))
            _sub(ar, "LocationRef", LocationOID="LOC.MINDTRIAL")
            _sub(ar, "DateTimeStamp").text = entry.timestamp.isoformat()
            if entry.reason is not None:
                _sub(ar, "ReasonForChange").text = entry.reason
            if entry.source_id is not None:
                _sub(ar, "SourceID").text = entry.source_id
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def write_odm(
    ds: StudyDataset,
    path: str | Path,
    *,
    protocol: Protocol | None = None,
    audit: Sequence[AuditEntry] = (),
    overwrite: bool = False,
) -> Path:
    """Write :func:`odm_xml` to ``path`` all or nothing (temporary file, then rename)."""
    target = Path(path)
    if target.is_dir():
        raise OdmError(f"{target} is a folder: give the name of the XML file to write")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists (use overwrite to replace it)")
    if not target.parent.is_dir():
        raise OdmError(
            f"the folder {target.parent} of {target.name} does not exist: create it first"
        )
    return replace_file(target, odm_xml(ds, protocol=protocol, audit=audit))


# --------------------------------------------------------------------------- reading


def _parse(source: str | Path | bytes) -> etree._Element:
    try:
        if isinstance(source, bytes):
            root = etree.fromstring(source, parser=etree.XMLParser(resolve_entities=False))
        else:
            root = etree.parse(
                str(source), parser=etree.XMLParser(resolve_entities=False)
            ).getroot()
    except OSError as exc:
        raise OdmError(f"{source!s}: cannot read: {exc}") from None
    except etree.XMLSyntaxError as exc:
        raise OdmError(f"not well-formed XML: {exc}") from None
    if root.tag != _q("ODM"):
        raise OdmError(f"the root element is {root.tag}, expected ODM in namespace {ODM_NS}")
    version = root.get("ODMVersion")
    if version not in (None, "1.3.2", "1.3.1", "1.3"):
        raise OdmError(f"ODMVersion {version!r} is not ODM 1.3")
    return root


def _text_of(parent: etree._Element, path: str) -> str:
    found = parent.find(path, namespaces={"o": ODM_NS})
    if found is None or not (found.text or "").strip():
        raise OdmError(f"missing {path.replace('o:', '')}")
    return str(found.text).strip()


def _name(oid: str, prefix: str) -> str:
    return oid.split(".", 2)[2] if oid.startswith(prefix) else oid


def read_odm(source: str | Path | bytes, *, protocol: Protocol | None = None) -> StudyDataset:
    """Read an ODM document written by :func:`odm_xml` back into a validated study dataset.

    Raises :class:`OdmError` when the document is not ODM 1.3 of this shape and
    :class:`~mindtrial.dataset.DatasetError` when its data do not make a valid dataset.
    """
    root = _parse(source)
    ns = {"o": ODM_NS}
    study = root.find("o:Study", ns)
    if study is None:
        raise OdmError("the document has no Study element")
    protocol_id = _text_of(study, "o:GlobalVariables/o:ProtocolName")
    mdv = study.find("o:MetaDataVersion", ns)
    if mdv is None:
        raise OdmError("the Study has no MetaDataVersion")
    version = mdv.get(f"{{{MT_NS}}}ProtocolVersion")
    chosen = protocol if protocol is not None else load_protocol(protocol_id)
    stamp = root.get("CreationDateTime", "")
    try:
        exported = datetime.fromisoformat(stamp)
    except ValueError:
        raise OdmError(f"CreationDateTime {stamp!r} is not an ISO 8601 date-time") from None
    if exported.tzinfo is None:
        raise OdmError(f"CreationDateTime {stamp!r} has no time zone offset")
    meta = StudyMeta(
        protocol_id=protocol_id,
        protocol_version=version or chosen.version,
        exported_at=exported,
        arms_masked=root.get(f"{{{MT_NS}}}ArmsMasked") == "Yes",
        source=root.get(f"{{{MT_NS}}}Source"),
    )
    instrument_of = {
        fd.get("OID", ""): fd.get("OID", "").removeprefix("F.")
        for fd in mdv.findall("o:FormDef", ns)
    }
    participants: list[dict[str, str]] = []
    responses: list[dict[str, str]] = []
    toxicology: list[dict[str, str]] = []
    attendance: list[dict[str, str]] = []
    adverse: list[dict[str, str]] = []
    screening: list[dict[str, str]] = []
    clinical = root.find("o:ClinicalData", ns)
    subjects = clinical.findall("o:SubjectData", ns) if clinical is not None else []
    for sd in subjects:
        subject = sd.get("SubjectKey", "")
        for sed in sd.findall("o:StudyEventData", ns):
            event = sed.get("StudyEventOID", "")
            week = event.removeprefix("SE.WEEK.") if event.startswith("SE.WEEK.") else None
            for fd in sed.findall("o:FormData", ns):
                form = fd.get("FormOID", "")
                items: dict[str, str] = {}
                for item in fd.iterfind("o:ItemGroupData/o:ItemData", ns):
                    items[_name(item.get("ItemOID", ""), "I.")] = item.get("Value", "")
                if form == F_PARTICIPANT:
                    participants.append({"participant_id": subject, **items})
                elif form == F_SCREENING:
                    screening.append(items)
                elif form == F_AE:
                    adverse.append({"participant_id": subject, **items})
                elif week is None:
                    raise OdmError(f"subject {subject!r}: form {form} outside a week event")
                elif form == F_TOXICOLOGY:
                    toxicology += [
                        {"participant_id": subject, "week": week, "analyte": k, "result": v}
                        for k, v in items.items()
                    ]
                elif form == F_ATTENDANCE:
                    attendance.append(
                        {"participant_id": subject, "week": week, "attended": items["attended"]}
                    )
                else:
                    instrument = instrument_of.get(form, form.removeprefix("F."))
                    responses += [
                        {
                            "participant_id": subject,
                            "week": week,
                            "instrument": instrument,
                            "item": k,
                            "value": v,
                        }
                        for k, v in items.items()
                    ]
    covs = [c.name for c in chosen.baseline_covariates]
    part_cols = [c.name for c in PARTICIPANT_COLUMNS] + covs
    ae_cols = [c.name for c in ADVERSE_EVENT_COLUMNS]

    def frame(rows: list[dict[str, str]], columns: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in columns})

    try:
        return build_dataset(
            meta,
            participants=frame(participants, part_cols),
            responses=frame(responses, ["participant_id", "week", "instrument", "item", "value"]),
            toxicology=frame(toxicology, ["participant_id", "week", "analyte", "result"]),
            attendance=frame(attendance, ["participant_id", "week", "attended"]),
            adverse_events=frame(adverse, ae_cols),
            screening=frame(screening, [c.name for c in SCREENING_COLUMNS]),
            protocol=chosen,
        )
    except DatasetError as exc:
        raise DatasetError(exc.problems, where="read from ODM") from None


def read_odm_audit(source: str | Path | bytes) -> tuple[AuditEntry, ...]:
    """The ``AuditRecord`` entries of an ODM document, in document order."""
    root = _parse(source)
    ns = {"o": ODM_NS}
    users = {
        u.get("OID", ""): (u.findtext("o:LoginName", default="", namespaces=ns) or u.get("OID", ""))
        for u in root.iterfind("o:AdminData/o:User", ns)
    }
    out: list[AuditEntry] = []
    for ar in root.iterfind("o:ClinicalData/o:AuditRecords/o:AuditRecord", ns):
        ref = ar.find("o:UserRef", ns)
        user_oid = ref.get("UserOID", "") if ref is not None else ""
        stamp = _text_of(ar, "o:DateTimeStamp")
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            raise OdmError(f"AuditRecord {ar.get('ID')}: bad DateTimeStamp {stamp!r}") from None
        out.append(
            AuditEntry(
                user=users.get(user_oid, user_oid),
                timestamp=when,
                reason=ar.findtext("o:ReasonForChange", namespaces=ns),
                source_id=ar.findtext("o:SourceID", namespaces=ns),
            )
        )
    return tuple(out)
