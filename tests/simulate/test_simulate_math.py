"""The simulator's numeric building blocks, each against an independent reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from mindtrial.instruments.scoring import score
from mindtrial.simulate.numerics import (
    clipped_normal_mean,
    logit_normal_mean,
    solve_intercept,
    split_total,
    stochastic_round,
    survival_week,
    truncated_normal_parameters,
)
from mindtrial.simulate.period_calibration import gee_exchangeable_mean
from mindtrial.simulate.score_trajectories import score_target


def test_split_total_respects_sums_and_bounds() -> None:
    rng = np.random.default_rng(1)
    totals = rng.integers(8, 41, 5000)
    items = split_total(totals, n_items=8, lo=1, hi=5, rng=rng)
    assert items.shape == (5000, 8)
    assert (items.sum(axis=1) == totals).all()
    assert items.min() >= 1 and items.max() <= 5
    # The extremes are forced: 8 -> all ones, 40 -> all fives.
    edge = split_total(np.array([8, 40]), n_items=8, lo=1, hi=5, rng=rng)
    assert edge.tolist() == [[1] * 8, [5] * 8]


def test_split_total_rejects_impossible_totals() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.30"):
        split_total(np.array([31]), n_items=3, lo=0, hi=10, rng=np.random.default_rng(0))


def test_stochastic_round_preserves_the_mean() -> None:
    rng = np.random.default_rng(2)
    x = np.full(200_000, 2.3)
    rounded = stochastic_round(x, rng)
    assert set(np.unique(rounded)) == {2, 3}
    # Binomial: P(3) = 0.3, SE of the mean = sqrt(.3 * .7 / 2e5) ≈ 0.001.
    assert abs(rounded.mean() - 2.3) < 0.005


def test_logit_normal_mean_matches_numerical_integration() -> None:
    a, sd = -1.2, 1.5

    def integrand(z: float) -> float:
        return float(stats.norm.pdf(z) / (1 + np.exp(-(a + sd * z))))

    expected, _ = integrate.quad(integrand, -12, 12)
    assert logit_normal_mean(a, sd, np.zeros(1), np.ones(1)) == pytest.approx(expected, abs=1e-9)


def test_solve_intercept_hand_worked_cases() -> None:
    # Symmetry: a 50% marginal needs intercept 0 whatever the random-effect SD.
    assert solve_intercept(0.5, sd=2.0) == pytest.approx(0.0, abs=1e-7)
    # No random effect: the intercept is logit(p) = log(0.2 / 0.8).
    assert solve_intercept(0.2, sd=0.0) == pytest.approx(np.log(0.25), abs=1e-7)
    # Offsets: half the people at +1 (p = expit(a+1)), half at a: mean 0.3.
    a = solve_intercept(0.3, sd=0.0, offsets=np.array([0.0, 1.0]), weights=np.array([0.5, 0.5]))
    assert 0.5 / (1 + np.exp(-a)) + 0.5 / (1 + np.exp(-(a + 1))) == pytest.approx(0.3, abs=1e-7)


def test_clipped_normal_mean_matches_integration() -> None:
    mu, sd, lo, hi = 1.0, 2.0, 0.0, 10.0

    def integrand(x: float) -> float:
        return float(min(max(x, lo), hi) * stats.norm.pdf(x, mu, sd))

    expected, _ = integrate.quad(integrand, -30, 30, points=[lo, hi])
    assert clipped_normal_mean(mu, sd, lo, hi) == pytest.approx(expected, abs=1e-7)


def test_truncated_normal_parameters_reproduce_the_published_age() -> None:
    # M-ROCC: age 41.0 ± 10.3 among people aged 18-70.
    mu, sigma = truncated_normal_parameters(41.0, 10.3, 18.0, 70.0)
    a, b = (18 - mu) / sigma, (70 - mu) / sigma
    assert stats.truncnorm.mean(a, b, loc=mu, scale=sigma) == pytest.approx(41.0, abs=1e-6)
    assert stats.truncnorm.std(a, b, loc=mu, scale=sigma) == pytest.approx(10.3, abs=1e-6)


def test_survival_week_hand_worked() -> None:
    # Retention 1 -> 0.25 over weeks 0-2 (log-linear): 0.5 at week 1, 0.25 at week 2.
    u = np.array([0.1, 0.3, 0.6, 0.9])
    assert survival_week(u, {2: 0.25}, 3).tolist() == [3, 1, 0, 0]


def test_gee_exchangeable_mean_equal_cluster_sizes_is_the_pooled_mean() -> None:
    # With every cluster the same size the weights are equal: the plain mean.
    flags = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    mu, _ = gee_exchangeable_mean(flags)
    assert mu == pytest.approx(4 / 9)


def test_promis_items_score_to_the_table_t() -> None:
    """Item answers made from a latent T score (official scorer) to T in expectation."""
    target = score_target("promis_anxiety_8a.t_score")
    rng = np.random.default_rng(3)
    latent = np.full(4000, 60.0)  # between raw 21 (59.4) and raw 22 (60.4)
    totals = target.totals(latent, rng.random(latent.size))
    assert set(np.unique(totals)) == {21, 22}
    assert target.observed(totals).mean() == pytest.approx(60.0, abs=0.05)
    items = target.items_for(totals[:20], rng)
    for row, total in zip(items, totals[:20], strict=True):
        answers = dict(zip(target.items, (int(v) for v in row), strict=True))
        result = score("promis_anxiety_8a", answers)
        assert result.scores["raw"] == total
        assert result.scores["t_score"] == target.observed(np.array([total]))[0]


def test_ocs_items_score_to_the_latent_mean() -> None:
    target = score_target("ocs.mean")
    rng = np.random.default_rng(4)
    latent = rng.uniform(-1, 11, 3000)
    totals = target.totals(latent, rng.random(latent.size))
    items = target.items_for(totals, rng)
    assert (items.sum(axis=1) == totals).all()
    for row in items[:10]:
        result = score("ocs", dict(zip(target.items, (int(v) for v in row), strict=True)))
        assert result.scores["mean"] == pytest.approx(row.sum() / 3)
    # Mean-preserving after clipping to 0..10.
    assert target.observed(totals).mean() == pytest.approx(np.clip(latent, 0, 10).mean(), abs=0.03)
