"""The clustered sensitivity analyses as ``run_analysis`` runs them from a protocol, against
lme4 and geepack fitted to the same analysis rows with the therapy groups formed in R.

R side: ``tests/reference/clustered_runner.R`` (rerun live when Rscript exists; CI requires
it), reading the analysis frames committed under ``tests/reference/data/`` — the PHQ-9 rows of
the frozen MORE-MMT dataset (usual care has no groups: every control participant is a group of
one) and the misuse rows of the frozen MORE-LTOT dataset. The first test checks that the
outcome layer still derives exactly those rows. Tolerances as in ``test_clustered_vs_r.py``
(lme4 run to 1e-15, geepack to ``epsilon = 1e-12``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mindtrial.analysis.plans.frames import model_data
from mindtrial.analysis.results import AnalysisResult
from mindtrial.analysis.runner import run_analysis
from mindtrial.dataset import read_dataset
from mindtrial.protocols import Protocol, load_protocol
from mindtrial.protocols.schema import SensitivitySpec

pytestmark = pytest.mark.r

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
SCRIPT = REFERENCE / "clustered_runner.R"
CASES = {
    # analysis -> (dataset folder, protocol, frame CSV, time column)
    "depression": ("mmt_trial", "more-mmt-2024", "mmt_depression_frame.csv", "week"),
    "misuse_trajectory": ("ltot_trial", "more-ltot-2022", "ltot_misuse_frame.csv", "month"),
}


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Rscript is not installed: CI must rerun the R references")
        found: dict[str, Any] = json.loads((REFERENCE / "clustered_runner.json").read_text())
        return found
    out = tmp_path_factory.mktemp("clustered_runner") / "clustered_runner.json"
    done = subprocess.run(
        [rscript, "--vanilla", str(SCRIPT), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{SCRIPT.name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    fresh: dict[str, Any] = json.loads(out.read_text())
    return fresh


def _plan(analysis: str) -> tuple[Protocol, Any]:
    """The shipped protocol reduced to ``analysis`` and the clustered sensitivity analyses
    the protocol declares for it."""
    folder, protocol_id, _, _ = CASES[analysis]
    protocol = load_protocol(protocol_id)
    plan = protocol.analysis
    sensitivity = [
        s.model_copy(update={"applies_to": [analysis]})
        for s in plan.sensitivity
        if analysis in s.applies_to
        and s.kind in ("random_slopes", "therapy_group_random_effect", "therapy_group_gee")
    ]
    reduced = plan.model_copy(
        update={"analyses": [protocol.analysis_spec(analysis)], "sensitivity": sensitivity}
    )
    return protocol.model_copy(update={"analysis": reduced}), read_dataset(
        REFERENCE / "data" / folder
    )


def _r_term(term: str) -> str:
    if term == "Intercept":
        return "(Intercept)"
    parts = [re.sub(r"^(.*)\[T\.(.*)\]$", r"\1\2", p) for p in term.split(":")]
    return ":".join(
        p.replace("C(week)", "fweek").replace("C(month)", "factor(month)") for p in parts
    )


def _assert_matches(result: AnalysisResult, want: dict[str, Any], *, rtol: float) -> None:
    assert result.status in ("ok", "warning"), result.error
    mine = {_r_term(c.term): c for c in result.coefficients}
    assert sorted(mine) == sorted(want["terms"])
    for term, estimate, se in zip(want["terms"], want["estimate"], want["std_error"], strict=True):
        got = mine[term]
        assert abs(got.estimate - estimate) <= rtol * max(abs(estimate), se), term
        assert got.std_error == pytest.approx(se, rel=rtol), term


@pytest.mark.parametrize("analysis", sorted(CASES))
def test_the_committed_frames_are_the_derived_rows(analysis: str) -> None:
    folder, protocol_id, csv, time = CASES[analysis]
    protocol = load_protocol(protocol_id)
    data = model_data(
        read_dataset(REFERENCE / "data" / folder), protocol, protocol.analysis_spec(analysis)
    )
    frame = data.frame[data.frame[data.outcome].notna()]
    derived = frame[["participant_id", "arm", "cohort", time]].assign(value=frame[data.outcome])
    committed = pd.read_csv(REFERENCE / "data" / csv, keep_default_na=False, na_values=[""])
    np.testing.assert_array_equal(derived["participant_id"], committed["participant_id"])
    np.testing.assert_array_equal(derived["arm"], committed["arm"])
    assert list(derived["cohort"].isna()) == list(committed["cohort"].isna())
    np.testing.assert_allclose(derived["value"], committed["value"], rtol=1e-12)


def test_mmt_depression_random_slopes_and_nested_groups_match_lmer(ref: dict[str, Any]) -> None:
    protocol, dataset = _plan("depression")
    report = run_analysis(dataset, protocol=protocol, imputations=2, seed=1)
    by_kind = {r.sensitivity: r for r in report.analyses if r.kind == "sensitivity"}
    # R: lmer(value ~ arm * fweek + (1 | therapy_group) + (1 | therapy_group:participant_id),
    #         REML = TRUE, control = tight)
    nested = by_kind["therapy_group_effect"]
    _assert_matches(nested, ref["nested"], rtol=1e-6)
    assert nested.summary is not None
    assert any(f"{ref['nested']['n_groups']} therapy groups" in n for n in nested.summary.notes)
    # R: lmer(value ~ arm * fweek + (1 + week | participant_id), REML = TRUE, control = tight)
    _assert_matches(by_kind["random_slopes"], ref["slopes"], rtol=1e-6)
    # results.json states the random part in lme4's notation
    assert by_kind["random_slopes"].formula == (
        "phq9_total ~ arm * C(week) + (1 + week | participant_id)"
    )
    assert nested.formula == (
        "phq9_total ~ arm * C(week) + (1 | therapy_group) + (1 | therapy_group:participant_id)"
    )
    main = next(r for r in report.analyses if r.kind == "analysis")
    assert by_kind["random_slopes"].applies_to == main.id


def test_ltot_misuse_gee_clustered_by_therapy_group_matches_geeglm(ref: dict[str, Any]) -> None:
    # R: geeglm(value ~ arm + factor(month), binomial, id = therapy_group,
    #           corstr = "exchangeable", control = geese.control(epsilon = 1e-12))
    protocol, dataset = _plan("misuse_trajectory")
    report = run_analysis(dataset, protocol=protocol, imputations=2, seed=1)
    (gee,) = [r for r in report.analyses if r.sensitivity == "therapy_group_gee"]
    _assert_matches(gee, ref["gee"], rtol=1e-8)
    assert gee.n_observations == ref["gee"]["n_obs"]
    rows = pd.read_csv(REFERENCE / "data" / CASES["misuse_trajectory"][2])
    assert gee.n_participants == rows["participant_id"].nunique()  # people, not clusters
    assert gee.summary is not None
    assert any(f"{ref['gee']['n_groups']} therapy groups" in n for n in gee.summary.notes)


def test_runner_refuses_a_clustered_kind_on_a_model_it_cannot_refit() -> None:
    # a plan assembled in code (model_copy skips the schema's check) gets the reason in words
    protocol, dataset = _plan("misuse_trajectory")
    wrong = SensitivitySpec(
        id="slopes", title="Slopes", kind="random_slopes", applies_to=["misuse_trajectory"]
    )
    plan = protocol.analysis.model_copy(update={"sensitivity": [wrong]})
    report = run_analysis(
        dataset, protocol=protocol.model_copy(update={"analysis": plan}), imputations=2, seed=1
    )
    (result,) = [r for r in report.analyses if r.kind == "sensitivity"]
    assert result.status == "error"
    assert result.error == (
        "sensitivity 'slopes' (random_slopes) refits lmm models, not the gee_logistic model of "
        "analysis 'misuse_trajectory'"
    )


def test_masked_report_does_not_count_the_arm_without_groups() -> None:
    # usual care has no groups: its size as a count of groups of one would unmask its code
    protocol, dataset = _plan("depression")
    codes = {"more": "QX", "usual_care": "KB"}
    people = dataset.participants.assign(arm=dataset.participants["arm"].map(codes))
    masked = replace(dataset, participants=people, meta=replace(dataset.meta, arms_masked=True))
    open_report = run_analysis(dataset, protocol=protocol, imputations=2, seed=1)
    masked_report = run_analysis(masked, protocol=protocol, imputations=2, seed=1)

    def notes(report: Any) -> str:
        (nested,) = [r for r in report.analyses if r.sensitivity == "therapy_group_effect"]
        return " ".join(nested.summary.notes)

    n_alone = int((dataset.participants["cohort"].isna()).sum())
    assert f"{n_alone} participants without a group" in notes(open_report)
    assert "; participants without a group count as groups of one" in notes(masked_report)
    assert str(n_alone) not in notes(masked_report)


def test_runner_names_the_model_multiple_imputation_cannot_refit() -> None:
    # The month-9 misuse analysis is one logistic regression, not a repeated outcome.
    protocol = load_protocol("more-ltot-2022")
    dataset = read_dataset(REFERENCE / "data" / "ltot_trial")
    mi = SensitivitySpec(
        id="mi", title="MI", kind="multiple_imputation", applies_to=["misuse"], imputations=2
    )
    plan = protocol.analysis.model_copy(
        update={"analyses": [protocol.analysis_spec("misuse")], "sensitivity": [mi]}
    )
    report = run_analysis(
        dataset, protocol=protocol.model_copy(update={"analysis": plan}), imputations=2, seed=1
    )
    (result,) = [r for r in report.analyses if r.kind == "sensitivity"]
    assert result.status == "error"
    assert result.error is not None
    assert result.error.endswith("not for a glm_logistic model")
