"""The MORE-LTOT and MORE-MMT published estimands against R on committed study datasets.

``tests/reference/more_pipeline.R`` derives the outcomes from the CSV files of
``tests/reference/data/{ltot,mmt}_trial`` in base R (independently of mindtrial.outcomes) and
fits ``glm(binomial)`` (odds ratio of not misusing at month 9, the Drug Misuse Index with its
interview part), ``lme4::lmer`` by ML (pain severity/interference: difference in change 0 → 9,
improvement positive), ``survival::coxph`` with Efron ties (return to use, treatment
dropout) and ``MASS::glm.nb`` with an offset (use-weeks). The script is rerun live whenever
Rscript exists (a missing Rscript fails under CI); otherwise the committed JSON is used.
Tolerances (relative): logistic, Cox and the mixed models 1e-6 on estimates, SEs and CIs;
negative binomial 1e-5 (theta is found by an iterative search in both).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mindtrial.analysis.results import AnalysisReport
from mindtrial.analysis.runner import run_analysis
from mindtrial.dataset import read_dataset
from mindtrial.protocols import load_protocol

pytestmark = [pytest.mark.r]

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
SCRIPT = REFERENCE / "more_pipeline.R"
TRIALS = {"ltot": "more-ltot-2022", "mmt": "more-mmt-2024"}


def _r(trial: str, tmp: Path) -> dict[str, Any]:
    committed = REFERENCE / f"more_{trial}.json"
    rscript = shutil.which("Rscript")
    if rscript is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Rscript is not installed: CI must rerun the R references")
        return dict(json.loads(committed.read_text(encoding="utf-8")))
    out = tmp / f"more_{trial}.json"
    done = subprocess.run(
        [
            rscript,
            "--vanilla",
            str(SCRIPT),
            trial,
            str(REFERENCE / "data" / f"{trial}_trial"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(out.read_text(encoding="utf-8")))


Pair = tuple[AnalysisReport, dict[str, Any]]


def _run(trial: str, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    protocol = load_protocol(TRIALS[trial])
    plan = protocol.model_copy(
        update={"analysis": protocol.analysis.model_copy(update={"sensitivity": []})}
    )
    dataset = read_dataset(REFERENCE / "data" / f"{trial}_trial")
    report = run_analysis(dataset, protocol=plan, imputations=2, seed=1)
    return report, _r(trial, tmp_path_factory.mktemp("r"))


@pytest.fixture(scope="module")
def ltot(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return _run("ltot", tmp_path_factory)


@pytest.fixture(scope="module")
def mmt(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return _run("mmt", tmp_path_factory)


def _close(ours: float | None, theirs: float, rel: float) -> None:
    assert ours is not None
    assert ours == pytest.approx(theirs, rel=rel, abs=1e-12), (ours, theirs)


RATIOS = {
    "ltot": [("misuse", "odds_ratio", "log_odds_ratio", 1e-6)],
    "mmt": [
        ("return_to_use", "hazard_ratio", "log_hazard_ratio", 1e-6),
        ("treatment_dropout", "hazard_ratio", "log_hazard_ratio", 1e-6),
        ("days_of_use", "ratio", "log_ratio", 1e-5),
    ],
}


def test_ltot_odds_ratio_equals_r(ltot: Pair) -> None:
    _ratios_equal_r("ltot", *ltot)


def test_mmt_hazard_ratios_and_ratio_of_means_equal_r(mmt: Pair) -> None:
    _ratios_equal_r("mmt", *mmt)


def _ratios_equal_r(trial: str, report: AnalysisReport, r: dict[str, Any]) -> None:
    keys = RATIOS[trial]
    for analysis_id, ratio_key, log_key, rel in keys:
        result = report.analysis(analysis_id)
        assert result.status == "ok", (analysis_id, result.error, result.warnings)
        contrast = result.summary.contrast  # type: ignore[union-attr]
        assert contrast is not None
        expected = r[analysis_id]
        _close(contrast.estimate, expected[ratio_key], rel)
        _close(contrast.ci_lower, expected["ci_lower"], rel)
        _close(contrast.ci_upper, expected["ci_upper"], rel)
        _close(contrast.std_error, expected[log_key]["std_error"], rel)
        _close(contrast.p_value, expected["p_value"], max(rel, 1e-6))
        assert result.n_observations == expected["n"]


def test_ltot_month9_percentages_and_pain_differences(ltot: Pair) -> None:
    report, r = ltot
    misuse = report.analysis("misuse")
    summary = misuse.summary
    assert summary is not None and summary.contrast is not None
    assert summary.contrast.measure == "odds ratio"
    # No covariates: the model-based % per arm is the observed % not misusing at month 9.
    for arm in summary.arms:
        _close(arm.estimate, r["misuse"]["percent_not_misusing"][arm.arm], 1e-6)
    for analysis_id in ("pain_severity", "pain_interference"):
        result = report.analysis(analysis_id)
        contrast = result.summary.contrast  # type: ignore[union-attr]
        assert contrast is not None
        expected = r[analysis_id]
        assert result.n_observations == expected["n_obs"]
        for key in ("estimate", "std_error", "ci_lower", "ci_upper"):
            _close(getattr(contrast, key), expected[key], 1e-5)
        assert contrast.direction is not None and "improvement positive" in contrast.direction


def test_mmt_events_and_person_time(mmt: Pair) -> None:
    report, r = mmt
    for analysis_id in ("return_to_use", "treatment_dropout"):
        summary = report.analysis(analysis_id).summary
        assert summary is not None
        for arm in summary.arms:
            assert arm.events == r[analysis_id]["events"][arm.arm]
            assert arm.person_time == pytest.approx(r[analysis_id]["person_time"][arm.arm])
    assert math.isfinite(r["days_of_use"]["theta"])
    assert report.analysis("days_of_use").formula == "use_days ~ arm"


def test_mmt_methadone_adherence_equals_geepack(mmt: Pair) -> None:
    report, r = mmt
    result = report.analysis("methadone_adherence")
    assert result.status == "ok", (result.error, result.warnings)
    summary = result.summary
    assert summary is not None and summary.contrast is not None
    expected = r["methadone_adherence"]
    assert result.n_observations == expected["n"]
    for arm in summary.arms:
        _close(arm.estimate, expected["percent"][arm.arm], 1e-5)
    for key in ("estimate", "std_error", "ci_lower", "ci_upper"):
        _close(getattr(summary.contrast, key), expected["difference"][key], 1e-4)
    assert summary.published is not None and summary.published.arms["more"] == 95.5
