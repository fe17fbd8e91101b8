"""Random-intercept mixed models that statsmodels' MixedLM, from its default start, got wrong.

MixedLM starts at random-effect SD / residual SD = 1 and its L-BFGS first trial step has
length 1: when the optimum lies below 1 the step lands on exactly 0, where statsmodels'
log-likelihood (written with ``log det`` of the random-effect covariance) is ``+inf``, so the
optimizer stops there: an "infinite log-likelihood, singular fit" although lme4 converges.
``fit_lmm`` now maximises lme4's profiled likelihood (finite at 0) first. References:
``tests/reference/lmm_hard_cases.R`` (lme4 1.1) and its output ``lmm_hard_cases.json``; the
R call is written beside each assertion.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mindtrial.analysis import ModelResult, fit_lmm
from mindtrial.analysis.models.lmm import OneReProfile

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
SCRIPT = REFERENCE / "lmm_hard_cases.R"
CRAVING = (
    "ocs_mean ~ arm * C(week) + bup_dose_mg + cocaine_use_baseline + income_category"
    " + baseline_craving"
)
LEVELS = {
    "arm": ["recovery_support", "mrocc"],
    "income_category": ["<10k", "10k-30k", ">30k"],  # the level order that used to fail
}


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((REFERENCE / "lmm_hard_cases.json").read_text("utf-8"))
    return found


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / name)


def _craving(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals with the reference level first, as the runner builds them."""
    out = frame.copy()
    out["participant_id"] = out["participant_id"].astype(str)
    for column, levels in LEVELS.items():
        out[column] = pd.Categorical(out[column].astype(str), categories=levels)
    return out


def _r_term(term: str) -> str:
    """patsy → R: ``arm[T.mrocc]:C(week)[T.8]`` → ``armmrocc:week8``."""
    if term == "Intercept":
        return "(Intercept)"
    parts = [p.replace("C(week)", "week").replace("[T.", "").rstrip("]") for p in term.split(":")]
    return ":".join(parts)


def _assert_matches(fit: ModelResult, want: dict[str, Any], *, loglik: bool = True) -> None:
    assert fit.n_obs == want["n_obs"]
    table = fit.coefficients.set_index(fit.coefficients["term"].map(_r_term))
    assert sorted(table.index) == sorted(want["terms"])
    mine = table.loc[want["terms"]]
    scale = float(np.max(np.abs(want["estimate"])))
    # relative 1e-4 per coefficient (absolute 1e-6 of the largest for estimates near 0)
    np.testing.assert_allclose(mine["estimate"], want["estimate"], rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(mine["std_error"], want["std_error"], rtol=1e-4)
    assert fit.random_effects_cov is not None
    assert fit.random_effects_cov.iloc[0, 0] == pytest.approx(want["var_re"], rel=1e-4, abs=1e-10)
    assert fit.residual_variance == pytest.approx(want["residual_variance"], rel=1e-4)
    if loglik:
        assert fit.loglik == pytest.approx(want["loglik"], abs=1e-6)


def test_craving_seed1_with_lowest_income_as_reference(ref: dict[str, Any]) -> None:
    # R: lmer(ocs_mean ~ arm * week + bup_dose_mg + cocaine_use_baseline + income_category
    #         + baseline_craving + (1 | participant_id), REML = FALSE), income "<10k" first
    fit = fit_lmm(
        _craving(_data("lmm_craving_seed1.csv")),
        CRAVING,
        groups="participant_id",
        levels=LEVELS,
    )
    want = ref["craving_seed1_ml"]
    assert not want["singular"]
    assert fit.converged, fit.warnings
    assert fit.warnings == ()
    assert fit.loglik is not None and np.isfinite(fit.loglik)
    _assert_matches(fit, want)


def test_craving_seed1_reml(ref: dict[str, Any]) -> None:
    # R: the same lmer(..., REML = TRUE); logLik is the REML log-likelihood
    fit = fit_lmm(
        _craving(_data("lmm_craving_seed1.csv")),
        CRAVING,
        groups="participant_id",
        levels=LEVELS,
        reml=True,
    )
    assert fit.converged, fit.warnings
    _assert_matches(fit, ref["craving_seed1_reml"])


def test_small_but_positive_intercept_variance_is_not_a_boundary(ref: dict[str, Any]) -> None:
    # R: lmer(y ~ x + (1 | g), REML = FALSE): sd(Intercept) 0.259, isSingular() FALSE.
    # statsmodels from its default start reported a zero variance here.
    want = ref["small_variance"]
    assert not want["singular"]
    fit = fit_lmm(_data("lmm_small_variance.csv"), "y ~ x", groups="g")
    assert not any("boundary" in w for w in fit.warnings)
    _assert_matches(fit, want)


def test_singular_fit_gives_lme4_boundary_answer(ref: dict[str, Any]) -> None:
    # R: lmer(y ~ x + (1 | g), REML = FALSE) -> "boundary (singular) fit", variance 0
    want = ref["singular"]
    assert want["singular"]
    assert want["var_re"] == 0
    data = _data("lmm_singular.csv")
    fit = fit_lmm(data, "y ~ x", groups="g")
    assert fit.converged
    assert any("boundary" in w for w in fit.warnings)
    _assert_matches(fit, want)
    # the boundary answer is the linear model: OLS coefficients, sigma^2 = RSS / n
    x = np.column_stack([np.ones(len(data)), data["x"]])
    beta, rss, *_ = np.linalg.lstsq(x, data["y"].to_numpy(), rcond=None)
    np.testing.assert_allclose(fit.coefficients["estimate"], beta, rtol=1e-12)
    assert fit.residual_variance == pytest.approx(float(rss[0]) / len(data), rel=1e-12)


def test_random_slope_only(ref: dict[str, Any]) -> None:
    # R: lmer(Reaction ~ Days + (0 + Days | Subject), sleepstudy, REML = FALSE)
    data = _data("sleepstudy.csv")
    data["Subject"] = data["Subject"].astype(str)
    fit = fit_lmm(data, "Reaction ~ Days", groups="Subject", re_formula="~ 0 + Days")
    assert fit.converged, fit.warnings
    _assert_matches(fit, ref["sleepstudy_slope_only"])


def test_profiled_deviance_at_zero_is_the_linear_model() -> None:
    # Hand check of the boundary: at theta = 0 the ML deviance is n (1 + log(2 pi RSS / n))
    # (the OLS log-likelihood), and the REML one adds log det(X'X) with n - p in place of n.
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(6), 5)
    x = np.column_stack([np.ones(30), rng.normal(size=30)])
    y = x @ [1.0, 2.0] + rng.normal(size=30)
    profile = OneReProfile(y, x, np.ones(30), groups)
    rss = float(np.sum((y - x @ np.linalg.lstsq(x, y, rcond=None)[0]) ** 2))
    ml = profile.solve(0.0, reml=False)
    assert ml.deviance == pytest.approx(30 * (1 + np.log(2 * np.pi * rss / 30)), rel=1e-12)
    reml = profile.solve(0.0, reml=True)
    logdet = float(np.linalg.slogdet(x.T @ x)[1])
    assert reml.deviance == pytest.approx(
        logdet + 28 * (1 + np.log(2 * np.pi * rss / 28)), rel=1e-12
    )
    # away from 0 it equals the dense Gaussian deviance with V = sigma^2 (I + theta^2 J)
    theta = 0.7
    sol = profile.solve(theta, reml=False)
    v = sol.scale * (np.eye(30) + theta**2 * (groups[:, None] == groups[None, :]))
    r = y - x @ sol.beta
    dense = float(np.linalg.slogdet(2 * np.pi * v)[1] + r @ np.linalg.solve(v, r))
    assert sol.deviance == pytest.approx(dense, rel=1e-10)


@pytest.mark.slow
@pytest.mark.r
def test_craving_5000_participants(tmp_path: Path) -> None:
    """``mindtrial simulate --protocol mrocc-2025 --n 5000 --seed 3``: craving model vs lme4
    (the R script rerun live on the same rows)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("needs Rscript with lme4 and jsonlite")
    from mindtrial.analysis.plans.frames import (
        drop_constant_covariates,
        model_data,
        order_categories,
        set_arm_levels,
    )
    from mindtrial.protocols import load_protocol
    from mindtrial.simulate import simulate_trial

    protocol = load_protocol("mrocc-2025")
    spec = protocol.analysis_spec("craving")
    data = model_data(simulate_trial(protocol, n=5000, seed=3), protocol, spec)
    kept, _ = drop_constant_covariates(data, spec.covariates)
    frame = order_categories(
        set_arm_levels(data.frame, LEVELS["arm"]), kept, outcome=data.outcome, levels=LEVELS
    )
    columns = [
        "participant_id",
        "arm",
        "week",
        "ocs_mean",
        "bup_dose_mg",
        "cocaine_use_baseline",
        "income_category",
        "baseline_craving",
    ]
    frame = frame[columns].dropna()
    csv, out = tmp_path / "craving_5000.csv", tmp_path / "r.json"
    frame.to_csv(csv, index=False)
    done = subprocess.run(
        [rscript, "--vanilla", str(SCRIPT), str(out), str(csv)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    want = json.loads(out.read_text("utf-8"))["craving_5000"]
    fit = fit_lmm(frame, CRAVING, groups="participant_id", levels=LEVELS)
    assert fit.converged, fit.warnings
    assert fit.n_groups is not None and fit.n_groups > 4000
    _assert_matches(fit, want)
