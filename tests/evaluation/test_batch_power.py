"""Batch simulation power: every replicate's fit against the single-fit estimators (which are
checked against geepack and lme4 in tests/analysis), power under the null, agreement with
the full engine, executors and resuming."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mindtrial.analysis.contrasts import marginal_probabilities
from mindtrial.analysis.models import OneReProfile, fit_gee, fit_lmm
from mindtrial.analysis.models.common import CovStructName
from mindtrial.analysis.plans.frames import ARM, ID
from mindtrial.analysis.plans.summaries import change_summary
from mindtrial.analysis.results import ModelResult
from mindtrial.analysis.runner import MainFit, fit_main_model
from mindtrial.cli.main import app
from mindtrial.dataset import StudyDataset, write_dataset
from mindtrial.design.power import PowerError
from mindtrial.evaluation.batch_power import (
    BatchDesign,
    batch_power,
    build_design,
    contrasts,
    draw_outcomes,
    fit_replicates,
)
from mindtrial.evaluation.simulation_power import RepResult, simulation_power
from mindtrial.protocols import load_protocol
from mindtrial.simulate import simulate_trial

MROCC = load_protocol("mrocc-2025")
runner = CliRunner()


@cache
def _template(n: int = 120, seed: int = 11) -> StudyDataset:
    return simulate_trial(MROCC, n=n, seed=seed)


@cache
def _main(analysis: str) -> MainFit:
    return fit_main_model(_template(), MROCC, MROCC.analysis_spec(analysis))


@cache
def _design(analysis: str, effect: float) -> BatchDesign:
    return build_design(_template(), MROCC, MROCC.analysis_spec(analysis), effect)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _numbers(results: tuple[RepResult, ...]) -> list[tuple[object, ...]]:
    """What a rep found (its timing aside)."""
    return [dataclasses.replace(r, seconds=0.0) for r in results]  # type: ignore[misc]


# ----------------------------------------------------------------------------- template


def test_template_is_the_runners_analysed_rows_with_the_effect_set() -> None:
    design = _design("primary", -10.0)
    main = _main("primary")
    assert design.formula == main.formula
    assert len(design.frame) == main.result.n_obs
    # the model's marginal difference (comparison − reference) is the effect, -10 points
    core = design.core
    assert core.x_comparison is not None and core.x_reference is not None
    p_cmp = np.mean(1 / (1 + np.exp(-core.x_comparison @ core.beta)))
    p_ref = np.mean(1 / (1 + np.exp(-core.x_reference @ core.beta)))
    assert 100 * (p_cmp - p_ref) == pytest.approx(-10.0, abs=1e-9)
    craving = _design("craving", -1.5).core
    assert craving.weights is not None
    assert float(craving.weights @ craving.beta) == pytest.approx(-1.5, abs=1e-12)
    # the nuisance parameters are the template fit's
    fitted = _main("craving").result
    assert craving.sigma2 == fitted.residual_variance
    keep = ~np.array([ARM in t for t in _design("craving", -1.5).terms])
    assert np.array_equal(
        craving.beta[keep], fitted.coefficients["estimate"].to_numpy(dtype=float)[keep]
    )


def test_binary_replicates_keep_the_marginal_probabilities() -> None:
    design = _design("primary", -10.0)
    y = draw_outcomes(design, list(range(4000)))
    expected = 1 / (1 + np.exp(-design.core.x @ design.core.beta))
    # every row's share of ones over 4,000 replicates: within 4.5 binomial SEs of its p
    se = np.sqrt(expected * (1 - expected) / len(y))
    assert np.all(np.abs(y.mean(axis=0) - expected) < 4.5 * se + 1e-12)


# ----------------------------------------------------------------------------- equal to fits


def _single_gee(design: BatchDesign, y: np.ndarray, cov_struct: CovStructName) -> ModelResult:
    """The one replicate ``y`` fitted alone by the analysis layer's ``fit_gee``."""
    return fit_gee(
        design.frame.assign(**{design.outcome: y}),
        design.formula,
        groups=ID,
        family="binomial",
        cov_struct=cov_struct,
        time=design.time,
        levels=design.levels,
    )


def test_gee_replicates_equal_fit_gee() -> None:
    design = _design("primary", -10.0)
    main = _main("primary")
    y = draw_outcomes(design, [101, 102, 103, 104, 105])
    fit = fit_replicates(design, y)
    estimate, se = contrasts(design, fit)
    assert not fit.refit.any()
    compared = 0
    for r in range(len(y)):
        single = _single_gee(design, y[r], "exchangeable")
        table = single.coefficients
        if not np.isfinite(table["estimate"].to_numpy(dtype=float)).all():
            # separation (an income band without events in replicate 105): no estimates
            assert not fit.ok[r] and not fit.converged[r] and not single.converged
            continue
        compared += 1
        assert fit.ok[r] and fit.converged[r] == single.converged
        assert _relative(fit.beta[r], table["estimate"].to_numpy(dtype=float)) <= 1e-8
        assert _relative(np.sqrt(np.diag(fit.cov[r])), table["std_error"].to_numpy()) <= 1e-8
        # the estimand: model-based % difference by the delta method, as the runner reports
        marginal = marginal_probabilities(
            single, arm=ARM, levels=[main.arms.reference, main.arms.comparison]
        )
        assert estimate[r] == pytest.approx(marginal.difference.estimate, rel=1e-8)
        assert se[r] == pytest.approx(marginal.difference.std_error, rel=1e-8)
    assert compared == 4


def _lmm_checks(design: BatchDesign, y: np.ndarray) -> np.ndarray:
    main = _main("craving")
    fit = fit_replicates(design, y)
    estimate, se = contrasts(design, fit)
    assert fit.ok.all() and not fit.refit.any() and fit.theta is not None
    codes = pd.factorize(design.frame[ID])[0]
    for r in range(len(y)):
        frame = design.frame.assign(**{design.outcome: y[r]})
        single = fit_lmm(frame, design.formula, groups=ID, reml=False, levels=design.levels)
        summary = change_summary(single, main.arms, dataclasses.replace(main.data, frame=frame))
        assert summary.contrast is not None
        # the estimand (difference in change) and its SE, as the runner reports them
        assert estimate[r] == pytest.approx(summary.contrast.estimate, rel=1e-8)
        assert se[r] == pytest.approx(summary.contrast.std_error, rel=1e-8)
        table = single.coefficients
        profile = OneReProfile(y[r], design.core.x, np.ones(len(y[r])), codes)
        best = profile.optimum(reml=False)
        theta = float(fit.theta[r])
        if fit.boundary[r]:
            assert theta == 0.0 and best.theta == 0.0
            assert any("estimated as 0" in w for w in single.warnings)
        # fit_lmm stops Brent's search at its tolerance (1e-8 relative in theta and more near
        # 0, where the deviance is flat to rounding); the batch solves the score equation
        # instead: the same optimum (deviance no higher, to rounding), theta within 1e-6.
        mine = profile.solve(theta, reml=False)
        assert mine.deviance <= best.deviance + 1e-12 * abs(best.deviance)
        assert theta == pytest.approx(best.theta, rel=1e-6, abs=1e-12)
        # at that theta, every coefficient and SE is the single fit's GLS solution
        assert _relative(fit.beta[r], mine.beta) <= 1e-8
        cov = mine.scale * np.linalg.inv(mine.info)
        assert _relative(np.sqrt(np.diag(fit.cov[r])), np.sqrt(np.diag(cov))) <= 1e-8
        # and fit_lmm's own coefficients differ only by its theta's last digits
        assert np.allclose(fit.beta[r], table["estimate"].to_numpy(dtype=float), rtol=1e-6)
        assert np.allclose(np.sqrt(np.diag(fit.cov[r])), table["std_error"], rtol=1e-7)
    return fit.boundary


def test_lmm_replicates_equal_fit_lmm() -> None:
    design = _design("craving", -1.0)
    _lmm_checks(design, draw_outcomes(design, [201, 202, 203, 204]))


def test_lmm_replicates_on_the_boundary_equal_the_linear_model() -> None:
    """Without a random intercept in the truth, some replicates' variance estimate is 0
    (lme4's singular fit): the batch gives fit_lmm's linear-model answer for those."""
    null = _design("craving", 0.0)
    design = dataclasses.replace(null, core=dataclasses.replace(null.core, tau2=0.0))
    boundary = _lmm_checks(design, draw_outcomes(design, list(range(300, 308))))
    assert boundary.any() and not boundary.all()


# ----------------------------------------------------------------------------- power


def test_batch_power_under_the_null_is_near_alpha() -> None:
    result = batch_power(MROCC, n=120, reps=400, seed=5, analysis_id="craving", effect=0.0)
    (point,) = result.points
    assert result.engine == "batch" and result.true_effect == 0.0
    assert point.fitted == 400
    # 400 replicates: 0.05 within 3 binomial SEs (0.033)
    assert abs(point.power - 0.05) <= 3 * np.sqrt(0.05 * 0.95 / 400)
    assert point.ci_lower <= 0.05 <= point.ci_upper


@pytest.mark.slow
def test_batch_and_full_engines_agree_within_monte_carlo_error() -> None:
    """The same question answered both ways (30 full trials, 400 batch replicates): the
    difference in power is within 2.5 SEs of the two Monte-Carlo proportions combined."""
    full = simulation_power(MROCC, n=120, reps=30, seed=8, analysis_id="craving", jobs=2)
    batch = batch_power(MROCC, n=120, reps=400, seed=8, analysis_id="craving")
    (f,), (b,) = full.points, batch.points
    se = np.sqrt(f.power * (1 - f.power) / f.fitted + b.power * (1 - b.power) / b.fitted)
    assert abs(f.power - b.power) <= 2.5 * max(se, 0.02)
    assert full.true_effect == batch.true_effect


def test_dask_cluster_gives_the_same_reps_as_local_processes() -> None:
    from dask.distributed import Client, LocalCluster

    args = {"n": 100, "reps": 12, "seed": 3, "analysis_id": "primary", "chunk": 5}
    local = batch_power(MROCC, jobs=2, **args)  # type: ignore[arg-type]
    serial = batch_power(MROCC, **args)  # type: ignore[arg-type]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        on_dask = batch_power(MROCC, dask_address=client, **args)  # type: ignore[arg-type]
        address = cluster.scheduler_address
        by_address = batch_power(MROCC, dask_address=address, **args)  # type: ignore[arg-type]
    assert _numbers(on_dask.results) == _numbers(local.results) == _numbers(serial.results)
    assert _numbers(by_address.results) == _numbers(serial.results)
    assert on_dask.points == local.points


class _Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    args = {"n": 100, "reps": 10, "seed": 4, "analysis_id": "craving", "chunk": 4}
    whole = batch_power(MROCC, **args)  # type: ignore[arg-type]
    results = tmp_path / "reps.jsonl"

    def stop_after_first_chunk(done: int, total: int) -> None:
        if done >= 4:
            raise _Stop

    with pytest.raises(_Stop):
        batch_power(MROCC, resume=results, progress=stop_after_first_chunk, **args)  # type: ignore[arg-type]
    assert len(results.read_text().splitlines()) == 4
    resumed = batch_power(MROCC, resume=results, **args)  # type: ignore[arg-type]
    assert resumed.resumed == 4
    assert len(results.read_text().splitlines()) == 10
    assert _numbers(resumed.results) == _numbers(whole.results)
    assert resumed.points == whole.points
    # Asking for fewer reps than the file holds: progress counts only those asked for.
    calls: list[tuple[int, int]] = []
    batch_power(MROCC, resume=results, progress=lambda *c: calls.append(c), **{**args, "reps": 4})  # type: ignore[arg-type]
    assert calls == [(4, 4)]
    # another chunk size draws the same replicates (fitted alongside others: the same
    # numbers up to the rounding of products over a different number of rows)
    other = batch_power(MROCC, **{**args, "chunk": 7})  # type: ignore[arg-type]
    for a, b in zip(other.results, whole.results, strict=True):
        assert (a.rep, a.seed, a.significant) == (b.rep, b.seed, b.significant)
        assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
        assert a.std_error == pytest.approx(b.std_error, rel=1e-12)


def test_batch_power_errors() -> None:
    with pytest.raises(PowerError, match="full engine"):
        batch_power(MROCC, n=100, reps=1, seed=1, analysis_id="adverse_events", effect=1.2)
    with pytest.raises(PowerError, match="not in protocol"):
        batch_power(MROCC, n=100, reps=1, seed=1, analysis_id="nope")
    with pytest.raises(PowerError, match="one or the other"):
        batch_power(MROCC, n=100, reps=1, seed=1, template=_template())


# ----------------------------------------------------------------------------- CLI


def test_cli_batch_engine_on_a_study_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    write_dataset(_template(), folder, protocol=MROCC)
    curve = tmp_path / "curve.svg"
    args = ["power", "--protocol", "mrocc-2025", "--method", "simulation", "--engine", "batch"]
    options = ["--template", str(folder), "--analysis", "craving", "--reps", "6"]
    answer = runner.invoke(app, [*args, *options, "--json", "--plot", str(curve)])
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.stdout)
    assert data["engine"] == "batch" and data["points"][0]["n"] == 120
    assert data["points"][0]["reps"] == 6
    assert "replicates of one design" in curve.read_text()
    wrong = runner.invoke(app, [*args[:-2], "--template", str(folder)])
    assert wrong.exit_code != 0 and "--engine batch" in wrong.output
    both = runner.invoke(app, [*args, "--template", str(folder), "--n", "100"])
    assert both.exit_code != 0 and "leave out --n" in both.output
    unsupported = runner.invoke(app, [*args, "--analysis", "adverse_events", "--effect", "1.2"])
    assert unsupported.exit_code != 0 and "--engine full" in unsupported.output
    assert "Traceback" not in unsupported.output


def test_power_against_the_effect_follows_the_normal_theory_curve(tmp_path: Path) -> None:
    """On a curve against the effect each point is its own run (the same as asking for that
    effect alone), and power follows the Wald test's normal-theory power at the replicates'
    mean SE: Phi(|d| / SE - z) + Phi(-|d| / SE - z), within 3 Monte-Carlo SEs."""
    from scipy.stats import norm

    from mindtrial.evaluation.simulation_power import power_curve_figure

    args = {"n": 100, "reps": 300, "seed": 2, "analysis_id": "craving"}
    curve = batch_power(MROCC, effect=[0.0, -0.8, -1.6], **args)  # type: ignore[arg-type]
    assert [p.effect for p in curve.points] == [0.0, -0.8, -1.6]
    assert curve.true_effect is None
    alone = batch_power(MROCC, effect=-0.8, **args)  # type: ignore[arg-type]
    assert dataclasses.replace(curve.points[1], effect=None) == alone.points[0]
    z = norm.ppf(0.975)
    for point, results in zip(curve.points, np.split(np.array(curve.results), 3), strict=True):
        assert point.effect is not None
        se = float(np.mean([r.std_error for r in results]))
        expected = norm.cdf(abs(point.effect) / se - z) + norm.cdf(-abs(point.effect) / se - z)
        assert abs(point.power - expected) <= 3 * np.sqrt(expected * (1 - expected) / 300)
    figure = power_curve_figure(curve)
    (axes,) = figure.axes
    assert list(axes.lines[0].get_xdata()) == [-1.6, -0.8, 0.0]
    assert "effect" in axes.get_xlabel()


def test_replicates_beyond_the_grid_are_fitted_one_by_one() -> None:
    """A random-intercept SD above 1,000 residual SDs lies beyond the shared grid: those
    replicates are handed back and fitted by fit_lmm itself (which extends its grid)."""
    null = _design("craving", 0.0)
    design = dataclasses.replace(null, core=dataclasses.replace(null.core, sigma2=1e-9))
    y = draw_outcomes(design, [7, 8])
    fit = fit_replicates(design, y)
    assert fit.refit.all() and fit.ok.all()
    for r in range(2):
        frame = design.frame.assign(**{design.outcome: y[r]})
        single = fit_lmm(frame, design.formula, groups=ID, reml=False, levels=design.levels)
        assert np.array_equal(fit.beta[r], single.coefficients["estimate"].to_numpy(dtype=float))


def test_independence_gee_and_odds_ratio_estimand() -> None:
    """The other GEE paths: an independence working correlation (replicates drawn without
    within-participant correlation) and an odds-ratio estimand (the arm coefficient)."""
    spec = MROCC.analysis_spec("primary")
    as_odds = spec.model_copy(
        update={
            "correlation": "independence",
            "estimand": spec.estimand.model_copy(update={"measure": "odds_ratio"}),
        }
    )
    design = build_design(_template(), MROCC, as_odds, 0.5)
    arm = design.terms.index(f"{ARM}[T.{design.levels[ARM][1]}]")
    assert not design.core.exchangeable
    assert design.core.beta[arm] == pytest.approx(np.log(0.5), abs=1e-15)
    y = draw_outcomes(design, [31, 32, 33])
    fit = fit_replicates(design, y)
    estimate, se = contrasts(design, fit)
    for r in range(len(y)):
        single = _single_gee(design, y[r], "independence")
        table = single.coefficients
        assert _relative(fit.beta[r], table["estimate"].to_numpy(dtype=float)) <= 1e-8
        assert estimate[r] == pytest.approx(table["estimate"].iloc[arm], rel=1e-8)
        assert se[r] == pytest.approx(table["std_error"].iloc[arm], rel=1e-8)
