"""The one JSON encoder of the result dataclasses: keys, order and number rules, checked
against documents written out by hand."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pandas as pd
import pytest

from mindtrial.analysis.results import (
    CONTRAST_COLUMNS,
    AnalysisResult,
    ArmEstimate,
    Contrast,
    Multiplicity,
    Summary,
    Tidy,
    WaldTest,
    to_json,
)


def _contrast(**changes: object) -> Contrast:
    values: dict[str, object] = {
        "label": "b vs a",
        "measure": "odds ratio",
        "comparison": "b",
        "reference": "a",
        "estimate": 2,  # an int in a float field is written as a float
        "std_error": math.nan,
        "ci_lower": 1.25,
        "ci_upper": math.inf,
        "p_value": 0.04,
    }
    values.update(changes)
    return Contrast(**values)  # type: ignore[arg-type]


def test_contrast_keys_in_document_order_and_missing_numbers_as_null() -> None:
    text = json.dumps(to_json(_contrast(direction="lower favours the comparison arm")))
    assert text == (
        '{"label": "b vs a", "measure": "odds ratio", '
        '"direction": "lower favours the comparison arm", "comparison": "b", '
        '"reference": "a", "estimate": 2.0, "std_error": null, "ci_lower": 1.25, '
        '"ci_upper": null, "p_value": 0.04, "df": null, "bh_p_value": null, "cohen_d": null}'
    )


def test_summary_repeats_bh_and_effect_sizes_and_nests_the_wald_test() -> None:
    arm = ArmEstimate(
        arm="a",
        label="A",
        estimate=1.0,
        std_error=0.5,
        ci_lower=0.0,
        ci_upper=2.0,
        n_participants=10,
        cohen_d=0.3,
    )
    summary = Summary(
        measure="m",
        arms=(arm,),
        contrast=_contrast(bh_p_value=0.08, cohen_d=-0.25),
        multiplicity=Multiplicity(name="substance", members=("x", "y"), failed=("y",)),
        interaction=WaldTest(terms=("t1", "t2"), chi2=5.0, df=2, p_value=0.0820849986238988),
    )
    document = to_json(summary)
    assert list(document) == [
        "measure",
        "arms",
        "contrast",
        "published",
        "multiplicity",
        "bh_p_value",
        "cohen_d",
        "other_contrasts",
        "interaction",
        "trajectory",
        "notes",
    ]
    assert document["bh_p_value"] == 0.08
    assert document["cohen_d"] == {"a": 0.3, "difference": -0.25}
    assert document["multiplicity"] == {
        "family": "substance",
        "members": ["x", "y"],
        "failed": ["y"],
        "complete": False,
    }
    assert document["interaction"] == {
        "terms": ["t1", "t2"],
        "chi2": 5.0,
        "df": 2,
        "p_value": 0.0820849986238988,
    }
    assert document["arms"][0]["events"] is None  # type: ignore[index,call-overload]


def test_analysis_result_writes_its_multiplicity_family_as_family() -> None:
    result = AnalysisResult(
        id="x",
        title="X",
        kind="analysis",
        model="lmm",
        outcome="x",
        formula=None,
        multiplicity_family="substance",
        status="error",
        n_participants=0,
        n_observations=0,
        converged=None,
        warnings=("w",),
        error="no rows",
    )
    document = to_json(result)
    assert document["family"] == "substance"
    assert "multiplicity_family" not in document
    assert list(document)[:10] == [
        "id",
        "title",
        "kind",
        "model",
        "outcome",
        "outcome_kind",
        "estimand",
        "published",
        "formula",
        "family",
    ]
    assert document["warnings"] == ["w"] and document["coefficients"] == []


def test_a_field_json_cannot_hold_is_refused() -> None:
    @dataclass(frozen=True)
    class Holder:
        table: pd.DataFrame

    with pytest.raises(TypeError, match="DataFrame"):
        to_json(Holder(table=pd.DataFrame()))
    with pytest.raises(TypeError, match="dataclass instance"):
        to_json({"a": 1})


def test_every_result_gives_a_tidy_table_with_fixed_columns() -> None:
    summary = Summary(
        measure="m",
        arms=(),
        contrast=_contrast(bh_p_value=0.08),
        other_contrasts=(_contrast(label="at week 24", estimate=1.5, p_value=0.2),),
    )
    table = summary.to_frame()
    assert list(table.columns) == list(CONTRAST_COLUMNS)
    assert table["label"].tolist() == ["b vs a", "at week 24"]
    assert table["estimate"].tolist() == [2, 1.5]
    assert table["bh_p_value"].iloc[0] == 0.08
    wald = WaldTest(terms=("t1", "t2"), chi2=5.0, df=2, p_value=0.08)
    assert wald.to_frame().values.tolist() == [["t1, t2", 5.0, 2, 0.08]]
    for result in (summary, wald):
        assert isinstance(result, Tidy)
