"""The whole M-ROCC pipeline against R on one simulated trial.

The simulator writes a study dataset folder; ``tests/reference/mrocc_pipeline.R`` derives
the outcomes from those CSV files in base R (independently of mindtrial.outcomes) and fits
geepack::geeglm, lme4::lmer (ML), MASS::glm.nb and mice + pool; ``run_analysis`` does the
same in Python. Tolerances (relative): GEE estimates and robust SEs 1e-3, mixed-model and
negative binomial estimates 1e-4 (the issue's bounds; observed agreement is ~1e-6, the
optimizers' convergence tolerance). Multiple imputation draws differ between mice and our PMM,
so the pooled estimates are compared within 4 Monte Carlo SDs: two independent m-imputation
estimates differ by about sqrt(2 B / m), B the between-imputation variance R reports.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mindtrial.analysis.results import AnalysisReport, AnalysisResult
from mindtrial.analysis.runner import run_analysis
from mindtrial.dataset import read_dataset, write_dataset
from mindtrial.protocols import load_protocol
from mindtrial.simulate import simulate_trial

pytestmark = [pytest.mark.slow, pytest.mark.r]

SCRIPT = Path(__file__).resolve().parents[1] / "reference" / "mrocc_pipeline.R"
M = 20
SEED = 20250101


def _r_name(term: str) -> str:
    """patsy term → R: ``arm[T.mrocc]:C(week)[T.8]`` → ``armmrocc:week8`` (the R script names
    its week factor ``week``; its period factor is renamed ``C(period)``)."""
    if term == "Intercept":
        return "(Intercept)"
    parts = [re.sub(r"^(.*)\[T\.(.*)\]$", r"\1\2", p) for p in term.split(":")]
    return ":".join(p.replace("C(week)", "week") for p in parts)


@pytest.fixture(scope="module", params=[SEED, 1], ids=lambda s: f"seed{s}")
def both(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[AnalysisReport, dict[str, Any]]:
    """One simulated trial per seed (seed 1 is the one whose craving model once sent the
    mixed-model optimizer to a non-finite likelihood), analysed by R and by MindTrial."""
    seed = int(request.param)
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("needs Rscript with lme4, geepack, MASS, mice, jsonlite")
    mrocc = load_protocol("mrocc-2025")
    folder = write_dataset(
        simulate_trial(mrocc, seed=seed), tmp_path_factory.mktemp("sim") / "trial"
    )
    out = folder.parent / "r.json"
    done = subprocess.run(
        [rscript, "--vanilla", str(SCRIPT), str(folder), str(out), str(M), "1"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sensitivity = [
        s.model_copy(update={"applies_to": ["primary"]})
        for s in mrocc.analysis.sensitivity
        if s.kind in ("multiple_imputation", "completers")
    ]
    plan = mrocc.model_copy(
        update={"analysis": mrocc.analysis.model_copy(update={"sensitivity": sensitivity})}
    )
    report = run_analysis(read_dataset(folder), protocol=plan, imputations=M, seed=seed)
    return report, json.loads(out.read_text(encoding="utf-8"))


def _coefficients(result: AnalysisResult, r: dict[str, Any], rel: float) -> None:
    table = r["coefficients"]
    r_rows = {
        t: (e, s)
        for t, e, s in zip(table["term"], table["estimate"], table["std_error"], strict=True)
    }
    assert len(result.coefficients) == len(r_rows)
    for c in result.coefficients:
        est, se = r_rows[_r_name(c.term)]
        assert c.estimate == pytest.approx(est, rel=rel, abs=1e-8), c.term
        assert c.std_error == pytest.approx(se, rel=rel), c.term


@pytest.mark.parametrize(
    ("analysis", "r_key"),
    [
        ("primary", "primary"),
        ("benzodiazepines", "benzodiazepines"),
        ("cocaine", "cocaine"),
        ("completers.primary", "completers_primary"),
    ],
)
def test_gee_substance_use_matches_geeglm(
    both: tuple[AnalysisReport, dict[str, Any]], analysis: str, r_key: str
) -> None:
    report, r = both
    result, ref = report.analysis(analysis), r[r_key]
    assert result.n_observations == ref["n_obs"] and result.n_participants == ref["n_groups"]
    _coefficients(result, ref, 1e-3)
    summary = result.summary
    assert summary is not None and summary.contrast is not None
    by_arm = {a.arm: a.estimate for a in summary.arms}
    assert by_arm["recovery_support"] == pytest.approx(ref["percent_reference"], rel=1e-3)
    assert by_arm["mrocc"] == pytest.approx(ref["percent_comparison"], rel=1e-3)
    diff = ref["difference"]
    assert summary.contrast.estimate == pytest.approx(diff["estimate"], rel=1e-3, abs=1e-6)
    assert summary.contrast.std_error == pytest.approx(diff["std_error"], rel=1e-3)
    assert summary.contrast.p_value == pytest.approx(diff["p_value"], rel=1e-3, abs=1e-8)


def test_bh_matches_p_adjust(both: tuple[AnalysisReport, dict[str, Any]]) -> None:
    report, r = both
    ours = [
        report.analysis(a).summary.contrast.bh_p_value  # type: ignore[union-attr]
        for a in ("primary", "benzodiazepines", "cocaine")
    ]
    assert ours == pytest.approx(r["substance_use_bh"], rel=1e-3, abs=1e-9)


@pytest.mark.parametrize("analysis", ["anxiety", "craving"])
def test_mixed_models_match_lmer(
    both: tuple[AnalysisReport, dict[str, Any]], analysis: str
) -> None:
    report, r = both
    result, ref = report.analysis(analysis), r[analysis]
    assert result.n_observations == ref["n_obs"] and result.n_participants == ref["n_groups"]
    _coefficients(result, ref, 1e-4)
    summary = result.summary
    assert summary is not None and summary.contrast is not None
    assert summary.interaction is not None
    assert summary.interaction.df == ref["interaction"]["df"]
    assert summary.interaction.chi2 == pytest.approx(ref["interaction"]["chi2"], rel=1e-4)
    by_arm = {a.arm: a for a in summary.arms}
    assert by_arm["recovery_support"].estimate == pytest.approx(
        ref["change_reference"]["estimate"], rel=1e-4
    )
    assert by_arm["mrocc"].estimate == pytest.approx(ref["change_comparison"]["estimate"], rel=1e-4)
    assert by_arm["mrocc"].std_error == pytest.approx(
        ref["change_comparison"]["std_error"], rel=1e-4
    )
    assert summary.contrast.estimate == pytest.approx(
        ref["difference_in_change"]["estimate"], rel=1e-4
    )
    assert summary.contrast.std_error == pytest.approx(
        ref["difference_in_change"]["std_error"], rel=1e-4
    )
    (at_last,) = summary.other_contrasts
    assert at_last.estimate == pytest.approx(ref["difference_at_last"]["estimate"], rel=1e-4)


def test_adverse_events_match_glm_nb(both: tuple[AnalysisReport, dict[str, Any]]) -> None:
    report, r = both
    result, ref = report.analysis("adverse_events"), r["adverse_events"]
    assert result.n_observations == ref["n_obs"]
    _coefficients(result, ref, 1e-4)
    assert result.summary.contrast.estimate == pytest.approx(ref["rate_ratio"], rel=1e-4)  # type: ignore[union-attr]


def test_multiple_imputation_agrees_with_mice_within_monte_carlo_error(
    both: tuple[AnalysisReport, dict[str, Any]],
) -> None:
    report, r = both
    result, ref = report.analysis("multiple_imputation.primary"), r["mi_primary"]
    assert result.imputations == M == ref["m"]
    contrast = result.summary.contrast  # type: ignore[union-attr]
    assert contrast is not None and contrast.df is not None
    monte_carlo_sd = math.sqrt(2 * ref["between"] / M)
    assert abs(contrast.estimate - ref["estimate"]) <= 4 * monte_carlo_sd
    # Same complete-data df (n_obs - coefficients) for the Barnard-Rubin correction.
    assert result.n_observations - len(result.coefficients) == ref["dfcom"]
    assert contrast.std_error == pytest.approx(ref["std_error"], rel=0.35)
