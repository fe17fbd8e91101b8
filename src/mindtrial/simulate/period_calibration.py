"""Calibrating latent substance use to the percentage a GEE reports.

The published figure (e.g. 13.4% non-abstinent opioid periods) is the model-based
percentage of an exchangeable-correlation GEE over the outcome periods. That is not the
pooled share of observed periods: the abstinence rule leaves a period without detected use
missing unless enough surveys and tests were done, while a period with detected use counts
even when data are incomplete, so people who use have more observed periods, and the
exchangeable GEE weights each person's periods by ``1 / (1 + (m_i - 1)·rho)``.

:func:`period_intercept` therefore simulates the same process as the engine (retention,
weekly surveys, one test per window, detection) for a large internal sample with common
random numbers, computes the intercept-only exchangeable GEE estimate (iterating the
moment estimator of rho), and solves for the logit intercept of latent use whose GEE
estimate equals the target.
"""

from __future__ import annotations

import functools

import numpy as np

from mindtrial.simulate.numerics import FloatArray, bisect, expit, survival_week

_DRAWS = 40_000
_SEED = 20_250_202


def gee_exchangeable_mean(flags: FloatArray, *, rho_start: float = 0.0) -> tuple[float, float]:
    """Intercept-only exchangeable GEE (mean, rho) of rows of 0/1/NaN (one row per cluster).

    The estimating equation of a logistic GEE with only an intercept and an exchangeable
    working correlation weights person i's periods by 1 / (1 + (m_i - 1)·rho); rho is the
    Pearson-residual moment estimator (as geepack), iterated to a fixed point.
    """
    observed = ~np.isnan(flags)
    m = observed.sum(axis=1).astype(np.float64)
    keep = m > 0
    y = np.where(observed, flags, 0.0)[keep]
    obs = observed[keep]
    m = m[keep]
    s = y.sum(axis=1)
    rho = rho_start
    mu = float(s.sum() / m.sum())
    for _ in range(25):
        w = 1.0 / (1.0 + (m - 1.0) * rho)
        mu = float((w * s).sum() / (w * m).sum())
        if not 0.0 < mu < 1.0:
            return mu, rho
        r = np.where(obs, (y - mu) / np.sqrt(mu * (1 - mu)), 0.0)
        phi = float((r**2).sum() / m.sum())
        rsum = r.sum(axis=1)
        pairs = float((m * (m - 1)).sum())
        if pairs == 0 or phi == 0:
            break
        new_rho = float(((rsum**2 - (r**2).sum(axis=1)).sum() / pairs) / phi)
        new_rho = min(max(new_rho, 0.0), 0.99)
        if abs(new_rho - rho) < 1e-7:
            break
        rho = new_rho
    return mu, rho


@functools.lru_cache(maxsize=256)
def period_intercept(
    *,
    target: float,
    person_sd: float,
    offsets: tuple[float, ...],
    weights: tuple[float, ...],
    survival: tuple[tuple[int, float], ...],
    final_week: int,
    window: int,
    periods: tuple[int, ...],
    survey_completion: float,
    test_completion: float,
    invalid_test: float,
    report_sensitivity: float,
    test_sensitivity: float,
    surveys_required: int,
    tests_required: int,
    has_item: bool,
) -> float:
    """The logit intercept of latent use whose exchangeable-GEE percentage is ``target``."""
    rng = np.random.default_rng(_SEED)
    n = _DRAWS
    offs = np.asarray(offsets)[
        rng.choice(len(offsets), size=n, p=np.asarray(weights) / sum(weights))
    ]
    b = rng.standard_normal(n) * person_sd + offs
    last = survival_week(rng.random(n), dict(survival), final_week)
    k = len(periods)
    u_use = rng.random((n, k))
    surveys = np.zeros((n, k))
    reported = np.zeros((n, k), dtype=np.bool_)
    for j, period in enumerate(periods):
        first = (period - 1) * window + 1
        for week in range(first, first + window):
            done = (week <= last) & (rng.random(n) < survey_completion)
            if has_item:
                surveys[:, j] += done
                reported[:, j] |= done & (rng.random(n) < report_sensitivity)
    test_week = (np.asarray(periods)[None, :] - 1) * window + 1 + rng.integers(0, window, (n, k))
    tested = (test_week <= last[:, None]) & (rng.random((n, k)) < test_completion)
    valid = tested & (rng.random((n, k)) >= invalid_test)
    positive = valid & (rng.random((n, k)) < test_sensitivity)
    need_s = surveys_required if has_item else 0
    enough = (surveys >= need_s) & (valid.astype(np.float64) >= tests_required)

    last_rho = [0.3]

    def gee_percent(intercept: float) -> float:
        use = u_use < expit(intercept + b)[:, None]
        seen = use & (reported | positive)
        flags = np.where(seen, 1.0, np.where(enough, 0.0, np.nan))
        mu, last_rho[0] = gee_exchangeable_mean(flags, rho_start=last_rho[0])
        return mu

    return bisect(gee_percent, target, -15.0, 15.0, xtol=1e-5)
