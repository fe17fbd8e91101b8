"""Degenerate data are named, never reported as ok (issue 11, item 5).

* zero events in one arm: the arm contrast is not identified; the analysis is withheld with
  the cause in words and its p-value never enters the Benjamini–Hochberg family, whose other
  members say the family is incomplete (adjusted p recomputed by hand over the rest);
* a covariate level without events: a warning names it and its coefficient is reported as
  missing instead of R's and statsmodels' runaway −30 with p ≈ 0;
* levels of a missingness covariate are taken after rows with a missing covariate are dropped
  (R's model.frame + droplevels), so a cohort with no analysed rows no longer withholds
  the whole analysis;
* failures a statistician could not read are explained.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from trial_factory import make_trial

from mindtrial.analysis.plans.frames import ModelData, order_categories
from mindtrial.analysis.plans.identifiability import check_identified
from mindtrial.analysis.plans.summaries import Arms
from mindtrial.analysis.results import to_json
from mindtrial.analysis.runner import explain_failure, run_analysis
from mindtrial.protocols import load_protocol

MROCC = load_protocol("mrocc-2025")
SUBSTANCES = MROCC.model_copy(
    update={
        "analysis": MROCC.analysis.model_copy(
            update={
                "analyses": [
                    MROCC.analysis_spec(a) for a in ("primary", "benzodiazepines", "cocaine")
                ],
                "sensitivity": [],
            }
        )
    }
)
ARM = MROCC.arm_ids[0]  # the comparison arm of the plan


def _no_cocaine_in(arm: str) -> object:
    ds = make_trial()
    people = set(ds.participants.loc[ds.participants["arm"] == arm, "participant_id"])
    tox = ds.toxicology.copy()
    hit = tox["participant_id"].isin(people) & (tox["analyte"] == "cocaine")
    tox.loc[hit, "result"] = "negative"
    resp = ds.responses.copy()
    said = (
        resp["participant_id"].isin(people)
        & (resp["instrument"] == "substance_use_7d")
        & (resp["item"] == "cocaine")
    )
    resp.loc[said, "value"] = 0.0
    return dataclasses.replace(ds, toxicology=tox, responses=resp)


def test_zero_events_in_an_arm_is_withheld_and_left_out_of_bh() -> None:
    report = run_analysis(_no_cocaine_in(ARM), protocol=SUBSTANCES, imputations=2, seed=1)  # type: ignore[arg-type]
    spec = next(
        s for s in SUBSTANCES.analysis.analyses if s.derive.params.get("substance") == "cocaine"
    )
    withheld = report.analysis(spec.id)
    assert withheld.status == "error" and withheld.summary is None
    assert withheld.coefficients == ()
    label = MROCC.arm(ARM).label
    assert withheld.error is not None
    assert f"no period with cocaine use (non-abstinent period) in the {label} arm" in withheld.error
    assert "not identified" in withheld.error
    others = [a for a in report.analyses if a.id != spec.id]
    raw = [a.summary.contrast.p_value for a in others]  # type: ignore[union-attr]
    # BH over the two remaining p-values by hand: sort, p * n / rank, running minimum from
    # the top, capped at 1.
    order = np.argsort(raw)
    ranked = np.array(raw)[order] * 2 / np.array([1, 2])
    ranked = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    expected = np.empty(2)
    expected[order] = ranked
    for result, p in zip(others, expected, strict=True):
        summary = result.summary
        assert summary is not None and summary.multiplicity is not None
        assert summary.multiplicity.failed == (spec.id,)
        assert not summary.multiplicity.complete
        assert summary.contrast is not None
        assert summary.contrast.bh_p_value == pytest.approx(p, rel=1e-12)
        assert result.status == "warning"
        assert any("family" in w and "incomplete" in w for w in result.warnings)
    document = to_json(report)["analyses"]
    assert document[0]["summary"]["multiplicity"]["complete"] is False  # type: ignore[index,call-overload]


def _binary_data(level_events: dict[str, list[int]]) -> tuple[ModelData, pd.DataFrame]:
    rows = []
    for level, ys in level_events.items():
        for i, y in enumerate(ys):
            rows.append((f"{level}{i}", "b" if i % 2 else "a", level, float(y)))
    frame = pd.DataFrame(rows, columns=["participant_id", "arm", "income", "y"])
    frame["arm"] = pd.Categorical(frame["arm"], categories=["a", "b"])
    frame["income"] = pd.Categorical(frame["income"], categories=sorted(level_events))
    data = ModelData(frame=frame, outcome="y", covariates=("income",), event="relapse")
    return data, frame


def test_covariate_level_without_events_is_named_and_its_coefficient_withheld() -> None:
    data, frame = _binary_data(
        {"high": [0, 0, 0, 0], "low": [1, 0, 1, 0, 1, 1], "mid": [0, 1, 1, 0]}
    )
    arms = Arms(reference="a", comparison="b", labels={"a": "A", "b": "B"})
    found = check_identified("glm_logistic", data, frame, ["income"], arms, measure="odds ratio")
    # "high" is the reference level: every other income coefficient is relative to it.
    assert found.unidentified == ("income[T.low]", "income[T.mid]")
    assert found.warnings[0].startswith("income = high: no relapse among its 4 analysed rows")
    data, frame = _binary_data({"high": [0, 1, 1, 0], "low": [1, 0, 1, 0], "mid": [1, 1, 1]})
    found = check_identified("glm_logistic", data, frame, ["income"], arms, measure="odds ratio")
    assert found.unidentified == ("income[T.mid]",)
    assert "only outcomes that are a relapse" in found.warnings[0]


def test_an_arm_without_events_raises_in_words() -> None:
    from mindtrial.analysis.errors import AnalysisError

    rows = [("p1", "a", 0.0), ("p2", "a", 0.0), ("p3", "b", 1.0), ("p4", "b", 0.0)]
    frame = pd.DataFrame(rows, columns=["participant_id", "arm", "event"])
    frame["weeks"] = 4.0
    data = ModelData(
        frame=frame, outcome="event", covariates=(), duration="weeks", event="return to use"
    )
    arms = Arms(reference="a", comparison="b", labels={"a": "Usual care", "b": "MORE"})
    with pytest.raises(
        AnalysisError,
        match=r"no return to use in the Usual care arm \(2 analysed participants\): the hazard ratio is not identified",
    ):
        check_identified("cox_ph", data, frame, [], arms, measure="hazard ratio")


def test_levels_are_taken_after_rows_with_missing_covariates_are_dropped() -> None:
    # Cohort c3's only rows lack the dose: R's model.frame drops them and then the unused
    # level; before the fix c3 stayed a category and the model refused "a level with no
    # analysed rows".
    frame = pd.DataFrame(
        {
            "y": [1.0, 0.0, 1.0, 0.0, 1.0],
            "cohort": ["c1", "c2", "c1", "c3", "c2"],
            "dose": [8.0, 12.0, 16.0, np.nan, 10.0],
        }
    )
    out = order_categories(frame, ["cohort", "dose"], outcome="y", levels={})
    assert list(out["cohort"].cat.categories) == ["c1", "c2"]


def test_unreadable_failures_are_explained() -> None:
    spec = MROCC.analysis.analyses[0]
    overflow = explain_failure(spec, OverflowError("math range error"))
    assert "diverged" in overflow and "separation" in overflow
    singular = explain_failure(
        spec, ValueError("standard error nan: expected a positive finite number")
    )
    assert "no finite standard error" in singular and "not identified" in singular
