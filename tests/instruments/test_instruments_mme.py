"""MME calculator: worked examples with the CDC 2022 and CDC 2016 factors (docs/sources.md, Instruments)."""

from __future__ import annotations

import pytest

from mindtrial.instruments.mme import (
    DRUGS,
    MmeError,
    MmeLine,
    conversion_factor,
    daily_mme,
    regimen_mme,
    unit,
)

# dose x factor, worked by hand from the CDC 2022 table
CDC2022_EXAMPLES = [
    ("methadone", 30, 141.0),  # 30 x 4.7
    ("hydromorphone", 8, 40.0),  # 8 x 5
    ("fentanyl_transdermal", 25, 60.0),  # 25 mcg/hr x 2.4
    ("oxycodone", 20, 30.0),  # 20 x 1.5
    ("hydrocodone", 20, 20.0),
    ("codeine", 240, 36.0),  # 240 x 0.15
    ("morphine", 60, 60.0),
    ("oxymorphone", 10, 30.0),
    ("tapentadol", 100, 40.0),  # 100 x 0.4
    ("tramadol", 200, 40.0),  # 200 x 0.2
]

CDC2016_EXAMPLES = [
    ("methadone", 30, 240.0),  # 21-40 mg/day: x 8
    ("methadone", 20, 80.0),  # 1-20: x 4
    ("methadone", 20.5, 164.0),  # just over 20: x 8
    ("methadone", 40, 320.0),  # 21-40: x 8
    ("methadone", 41, 410.0),  # 41-60: x 10
    ("methadone", 60, 600.0),
    ("methadone", 61, 732.0),  # >= 61: x 12
    ("methadone", 100, 1200.0),
    ("hydromorphone", 8, 32.0),  # x 4 in 2016
    ("oxycodone", 20, 30.0),  # unchanged
    ("fentanyl_transdermal", 25, 60.0),  # unchanged
    ("tramadol", 200, 20.0),  # x 0.1 in CDC's 2016-era file
]


@pytest.mark.parametrize(("drug", "dose", "mme"), CDC2022_EXAMPLES)
def test_cdc2022(drug: str, dose: float, mme: float) -> None:
    assert daily_mme(drug, dose) == mme
    assert daily_mme(drug, dose, guideline="cdc2022") == mme


@pytest.mark.parametrize(("drug", "dose", "mme"), CDC2016_EXAMPLES)
def test_cdc2016(drug: str, dose: float, mme: float) -> None:
    assert daily_mme(drug, dose, guideline="cdc2016") == mme


def test_methadone_factor_tiers_2016() -> None:
    factors = [
        conversion_factor("methadone", d, guideline="cdc2016") for d in (1, 20, 21, 40, 41, 60, 61)
    ]
    assert factors == [4, 4, 8, 8, 10, 10, 12]
    assert conversion_factor("methadone", 200) == 4.7


def test_drug_names() -> None:
    assert daily_mme("Fentanyl patch", 12) == daily_mme("fentanyl_transdermal", 12) == 28.8
    assert daily_mme(" Oxycodone ", 10) == 15.0
    assert unit("fentanyl transdermal") == "mcg/hr"
    assert unit("morphine") == "mg/day"
    assert "buprenorphine" not in DRUGS
    assert len(DRUGS) == 10


def test_buprenorphine_not_converted() -> None:
    with pytest.raises(MmeError, match=r"buprenorphine is not converted to MME"):
        daily_mme("buprenorphine", 16)


def test_errors() -> None:
    with pytest.raises(MmeError, match=r"unknown drug 'heroin'; expected one of codeine, "):
        daily_mme("heroin", 10)
    with pytest.raises(MmeError, match=r"give the patch as fentanyl_transdermal, in mcg/hr"):
        daily_mme("fentanyl", 25)
    with pytest.raises(MmeError, match=r"morphine: dose -5 must be a finite number >= 0"):
        daily_mme("morphine", -5)
    with pytest.raises(
        MmeError, match=r"unknown guideline 'cdc2019'; expected one of cdc2022, cdc2016"
    ):
        daily_mme("morphine", 5, guideline="cdc2019")
    assert isinstance(MmeError("x"), ValueError)


def test_regimen_sums_doses_per_drug_before_the_methadone_tier() -> None:
    regimen = [
        ("oxycodone", 20),
        ("fentanyl_transdermal", 25),
        ("methadone", 15),
        ("methadone", 10),
    ]
    # 2016: oxycodone 30 + fentanyl 60 + methadone 25 mg (21-40 tier, x 8) 200 = 290
    result_2016 = regimen_mme(regimen, guideline="cdc2016")
    assert result_2016.total == 290.0
    assert result_2016.lines[2] == MmeLine(
        drug="methadone", dose=25.0, unit="mg/day", factor=8.0, mme=200.0
    )
    # 2022: 30 + 60 + 25 x 4.7 = 117.5 -> 207.5
    result_2022 = regimen_mme(regimen)
    assert result_2022.total == 207.5
    assert result_2022.guideline == "cdc2022"


def test_regimen_mapping_and_buprenorphine() -> None:
    with pytest.raises(MmeError, match="buprenorphine"):
        regimen_mme({"buprenorphine": 16, "oxycodone": 10})
    result = regimen_mme({"buprenorphine": 16, "oxycodone": 10}, skip_not_converted=True)
    assert result.total == 15.0
    assert result.not_converted == ("buprenorphine",)
    assert [line.drug for line in result.lines] == ["oxycodone"]
    assert regimen_mme([]).total == 0.0
