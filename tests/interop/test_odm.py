"""CDISC ODM 1.3.2: structure of the document, audit records, and the round trip back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from test_redcap_export import assert_same_dataset, mrocc_dataset

from mindtrial.interop.odm import AuditEntry, OdmError, odm_xml, read_odm, read_odm_audit, write_odm

NS = {"o": "http://www.cdisc.org/ns/odm/v1.3"}


def test_document_structure_and_required_attributes() -> None:
    root = etree.fromstring(odm_xml(mrocc_dataset()))
    assert root.tag == "{http://www.cdisc.org/ns/odm/v1.3}ODM"
    assert root.get("ODMVersion") == "1.3.2"
    for attr in ("FileType", "FileOID", "CreationDateTime"):
        assert root.get(attr), attr
    assert root.get("CreationDateTime") == "2024-05-01T12:30:00+00:00"
    assert root.findtext("o:Study/o:GlobalVariables/o:ProtocolName", namespaces=NS) == "mrocc-2025"
    mdv = root.find("o:Study/o:MetaDataVersion", NS)
    assert mdv is not None and mdv.get("OID") and mdv.get("Name")
    events = [e.get("OID") for e in mdv.findall("o:StudyEventDef", NS)]
    # enrolment, weeks 0..24, adverse-event log
    assert events[0] == "SE.ENROLMENT" and events[1] == "SE.WEEK.0" and len(events) == 27
    for tag, attrs in {
        "StudyEventDef": ("OID", "Name", "Repeating", "Type"),
        "FormDef": ("OID", "Name", "Repeating"),
        "ItemGroupDef": ("OID", "Name", "Repeating"),
        "ItemDef": ("OID", "Name", "DataType"),
        "CodeList": ("OID", "Name", "DataType"),
    }.items():
        elements = mdv.findall(f"o:{tag}", NS)
        assert elements, tag
        for el in elements:
            assert all(el.get(a) for a in attrs), (tag, el.attrib)
    ocs1 = mdv.find("o:ItemDef[@OID='I.ocs.ocs_1']", NS)
    assert ocs1 is not None and ocs1.get("DataType") == "integer"
    assert [
        c.findtext("o:CheckValue", namespaces=NS) for c in ocs1.findall("o:RangeCheck", NS)
    ] == ["0", "10"]
    promis = mdv.find("o:CodeList[@OID='CL.promis_anxiety_8a.EDANX01']", NS)
    assert promis is not None
    assert [i.get("CodedValue") for i in promis.findall("o:CodeListItem", NS)] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    every_oid = {e.get("OID") for e in mdv.iter() if e.get("OID")}
    refs = [
        e.get(a)
        for e in mdv.iter()
        for a in ("FormOID", "ItemGroupOID", "ItemOID", "CodeListOID")
        if e.get(a)
    ]
    assert set(refs) <= every_oid  # every reference resolves
    # clinical data: the subject, its week-3 OCS answer, the screening-only referral
    s007 = root.find("o:ClinicalData/o:SubjectData[@SubjectKey='007']", NS)
    assert s007 is not None
    value = s007.find(
        "o:StudyEventData[@StudyEventOID='SE.WEEK.3']/o:FormData[@FormOID='F.ocs']/"
        "o:ItemGroupData/o:ItemData[@ItemOID='I.ocs.ocs_3']",
        NS,
    )
    assert value is not None and value.get("Value") == "10"
    aes = s007.findall("o:StudyEventData[@StudyEventOID='SE.AE_LOG']/o:FormData", NS)
    assert [f.get("FormRepeatKey") for f in aes] == ["1", "2"]
    assert root.find("o:ClinicalData/o:SubjectData[@SubjectKey='R3']", NS) is not None


def test_round_trip_is_the_same_dataset(tmp_path: Path) -> None:
    ds = mrocc_dataset(source="web")
    path = write_odm(ds, tmp_path / "study.xml")
    assert_same_dataset(read_odm(path), ds)


def test_audit_records_round_trip() -> None:
    ny = timezone(timedelta(hours=-5))
    audit = [
        AuditEntry("alice", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "typo in dose", "17"),
        AuditEntry("bob", datetime(2024, 2, 1, 9, 0, tzinfo=ny), None, "18"),
    ]
    xml = odm_xml(mrocc_dataset(), audit=audit)
    root = etree.fromstring(xml)
    records = root.findall("o:ClinicalData/o:AuditRecords/o:AuditRecord", NS)
    assert [r.get("ID") for r in records] == ["AR.1", "AR.2"]
    first = records[0]
    assert first.find("o:UserRef", NS).get("UserOID") == "USR.alice"
    assert first.find("o:LocationRef", NS).get("LocationOID") == "LOC.MINDTRIAL"
    assert root.find("o:AdminData/o:Location[@OID='LOC.MINDTRIAL']", NS) is not None
    assert read_odm_audit(xml) == tuple(audit)


def test_not_odm_is_a_clear_error() -> None:
    with pytest.raises(OdmError, match="not well-formed XML"):
        read_odm(b"<ODM")
    with pytest.raises(OdmError, match="expected ODM in namespace"):
        read_odm(b"<ODM xmlns='urn:other'/>")
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditEntry("alice", datetime(2024, 1, 1))
