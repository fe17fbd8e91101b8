"""The shipped instrument files and the errors a bad definition gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindtrial.instruments import (
    InstrumentDefinitionError,
    get_instrument,
    list_instruments,
    load_instrument_file,
    parse_instrument,
)

EXPECTED_IDS = [
    "adverse_event",
    "bpi_sf",
    "comm",
    "dass21",
    "dmi_interview",
    "drug_use_days",
    "ema_craving",
    "home_practice",
    "ocs",
    "phq9",
    "promis_anxiety_8a",
    "promis_depression_8a",
    "substance_use_7d",
    "toxicology_14",
]

DATA_DIR = Path(__file__).parents[2] / "src" / "mindtrial" / "instruments" / "data"


def test_shipped_instruments() -> None:
    assert list_instruments() == EXPECTED_IDS


@pytest.mark.parametrize("instrument_id", EXPECTED_IDS)
def test_every_file_reloads_from_its_path(instrument_id: str) -> None:
    instrument = load_instrument_file(DATA_DIR / f"{instrument_id}.yaml")
    assert instrument == get_instrument(instrument_id)
    assert instrument.reference
    for item in instrument.items:
        assert item.text or instrument.item_text_source == "withheld", item.id


def test_unknown_instrument_lookup() -> None:
    with pytest.raises(KeyError, match="unknown instrument 'nope'"):
        get_instrument("nope")


def test_item_lists() -> None:
    assert get_instrument("ocs").item_ids == ("ocs_1", "ocs_2", "ocs_3")
    assert get_instrument("substance_use_7d").item_ids == (
        "opioids",
        "benzodiazepines",
        "cocaine",
        "methamphetamine",
        "alcohol",
    )
    assert get_instrument("phq9").item_ids == tuple(f"phq9_{i}" for i in range(1, 10))
    assert get_instrument("dass21").item_ids == tuple(f"dass_{i:02d}" for i in range(1, 22))
    bpi = get_instrument("bpi_sf")
    assert bpi.item_ids[:4] == ("worst", "least", "average", "now")
    assert [bpi.item(i).required for i in bpi.item_ids] == [True] * 4 + [False] * 7
    assert get_instrument("ema_craving").item_ids == ("craving", "pain")
    assert get_instrument("home_practice").item_ids == (
        "formal_minutes",
        "informal_minutes",
        "days_practised",
    )


MINIMAL = """
id: demo
name: Demo
version: "1"
reference: none
item_text_source: paraphrase
items:
  - {id: a, text: A, type: integer, min: 0, max: 3}
  - {id: b, text: B, type: integer, min: 0, max: 3}
scoring:
  rule: scales
  scales:
    - {id: total, items: [a, b], method: sum}
"""


def test_minimal_definition_parses() -> None:
    instrument = parse_instrument(MINIMAL, source="demo.yaml")
    assert instrument.score_ids == ("total",)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("{id: b, text: B,", "{id: a, text: B,", r"item ids are not unique: \['a'\]"),
        (
            "min: 0, max: 3}\n  - {id: b",
            "min: 5, max: 3}\n  - {id: b",
            r"items\[0\]: .*min 5 is above max 3",
        ),
        (
            "type: integer, min: 0, max: 3}\n  - {id: b",
            "type: integr, min: 0, max: 3}\n  - {id: b",
            r"items\[0\]\.type: Input should be 'integer'",
        ),
        ("items: [a, b]", "items: [a, c]", r"scale total refers to unknown item c"),
        ("method: sum", "method: median", r"scoring\.scales\[0\]\.method"),
        (
            "rule: scales",
            "rule: magic",
            r"scoring: Input tag 'magic' found using 'rule' does not match",
        ),
        ("name: Demo", "name: Demo\ncolour: blue", r"colour: Extra inputs are not permitted"),
        ("{id: a, text: A,", "{id: a,", r"items \['a'\] have no text"),
        (
            "method: sum}",
            "method: sum, bands: [{label: low}, {lower: 3, label: high}, {lower: 2, label: x}]}",
            r"band lower bounds must increase",
        ),
        (
            "method: sum}",
            "method: sum, min_answered: 1}",
            r"min_answered only applies to mean scales",
        ),
        ("method: sum}", "method: mean, min_answered: 1}", r"item a must be optional"),
    ],
)
def test_bad_definitions(old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    with pytest.raises(InstrumentDefinitionError, match=message) as info:
        parse_instrument(MINIMAL.replace(old, new, 1), source="bad.yaml")
    assert str(info.value).startswith("bad.yaml: invalid instrument definition:")


def test_lookup_must_cover_raw_range() -> None:
    text = (
        (DATA_DIR / "promis_anxiety_8a.yaml")
        .read_text(encoding="utf-8")
        .replace("    40: 83.1\n", "")
    )
    with pytest.raises(
        InstrumentDefinitionError,
        match=r"lookup must cover raw scores 8\.\.40 exactly \(missing \[40\]",
    ):
        parse_instrument(text, source="x.yaml")


def test_choice_item_needs_choices() -> None:
    text = MINIMAL.replace(
        "{id: b, text: B, type: integer, min: 0, max: 3}", "{id: b, text: B, type: choice}"
    )
    text = text.replace("items: [a, b]", "items: [a]")
    with pytest.raises(
        InstrumentDefinitionError, match=r"item b: a choice item needs at least two choices"
    ):
        parse_instrument(text, source="x.yaml")


def test_load_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InstrumentDefinitionError, match=r"nope\.yaml: cannot read"):
        load_instrument_file(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(InstrumentDefinitionError, match=r"broken\.yaml: not valid YAML"):
        load_instrument_file(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n", encoding="utf-8")
    with pytest.raises(InstrumentDefinitionError, match=r"scalar\.yaml: expected a mapping"):
        load_instrument_file(scalar)
