"""Small numeric helpers of the simulator: calibration roots and item generation.

Everything is vectorised numpy; randomness comes only from the ``Generator`` passed in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# Gauss-Hermite nodes for expectations over a standard normal random effect.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(60)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()


def expit(x: FloatArray | float) -> FloatArray:
    return np.asarray(special.expit(x), dtype=np.float64)


def logit(p: float) -> float:
    return float(special.logit(p))


def bisect(
    fn: Callable[[float], float], target: float, lo: float, hi: float, *, xtol: float = 1e-9
) -> float:
    """The x in [lo, hi] with fn(x) = target for an increasing fn (Brent's method)."""
    f_lo, f_hi = fn(lo) - target, fn(hi) - target
    if f_lo > 0 or f_hi < 0:
        raise ValueError(
            f"cannot calibrate: target {target:g} lies outside [{f_lo + target:g}, {f_hi + target:g}]"
        )
    if f_lo == 0:
        return lo
    if f_hi == 0:
        return hi
    return float(optimize.brentq(lambda x: fn(x) - target, lo, hi, xtol=xtol, rtol=1e-12))


def logit_normal_mean(
    intercept: float, sd: float, offsets: FloatArray, weights: FloatArray
) -> float:
    """E[expit(intercept + offset + sd·Z)], Z ~ N(0, 1), offset drawn with ``weights``."""
    grid = intercept + offsets[:, None] + sd * _GH_NODES[None, :]
    return float(weights @ expit(grid) @ _GH_WEIGHTS)


def solve_intercept(
    target: float,
    *,
    sd: float,
    offsets: FloatArray | None = None,
    weights: FloatArray | None = None,
) -> float:
    """The logit intercept whose marginal probability (over Z and the offsets) is ``target``."""
    if not 0.0 < target < 1.0:
        raise ValueError(
            f"a probability to calibrate must lie strictly between 0 and 1, got {target:g}"
        )
    off = np.zeros(1) if offsets is None else np.asarray(offsets, dtype=np.float64)
    w = np.ones(off.size) / off.size if weights is None else np.asarray(weights, dtype=np.float64)
    return bisect(lambda a: logit_normal_mean(a, sd, off, w), target, -30.0, 30.0)


def clipped_normal_mean(mu: float, sd: float, lo: float, hi: float) -> float:
    """E[min(max(X, lo), hi)] for X ~ N(mu, sd²) (closed form)."""
    if sd <= 0:
        return float(min(max(mu, lo), hi))

    def tail(c: float) -> float:  # E[max(X - c, 0)]
        z = (mu - c) / sd
        return float((mu - c) * stats.norm.cdf(z) + sd * stats.norm.pdf(z))

    return lo + tail(lo) - tail(hi)


@functools.lru_cache(maxsize=64)
def truncated_normal_parameters(
    mean: float, sd: float, lo: float, hi: float
) -> tuple[float, float]:
    """(mu, sigma) of the normal that, truncated to [lo, hi], has the given mean and SD."""
    if not (np.isfinite(lo) or np.isfinite(hi)) or sd == 0:
        return mean, sd

    def moments(x: FloatArray) -> FloatArray:
        mu, sigma = float(x[0]), abs(float(x[1]))
        a, b = (lo - mu) / sigma, (hi - mu) / sigma
        m = stats.truncnorm.mean(a, b, loc=mu, scale=sigma)
        s = stats.truncnorm.std(a, b, loc=mu, scale=sigma)
        return np.array([m - mean, s - sd])

    solution, _, ok, _ = optimize.fsolve(moments, np.array([mean, sd]), full_output=True)
    if ok != 1 or np.max(np.abs(moments(solution))) > 1e-6:
        raise ValueError(f"no normal truncated to [{lo:g}, {hi:g}] has mean {mean:g} and SD {sd:g}")
    return float(solution[0]), abs(float(solution[1]))


def stochastic_round(x: FloatArray, rng: np.random.Generator) -> IntArray:
    """Round each value up with probability equal to its fractional part (mean-preserving)."""
    base = np.floor(x)
    return (base + (rng.random(x.shape) < (x - base))).astype(np.int64)


def split_total(
    totals: IntArray, *, n_items: int, lo: int, hi: int, rng: np.random.Generator
) -> IntArray:
    """Item answers (rows × ``n_items``, each in lo..hi) whose row sums are ``totals``.

    Each item has ``hi - lo`` unit slots above ``lo``; a row's ``total - n_items·lo`` units
    go to slots chosen uniformly without replacement, so items of one row sit near the row's
    mean and every composition that respects the bounds is possible.
    """
    totals = np.asarray(totals, dtype=np.int64)
    width = hi - lo
    extra = totals - n_items * lo
    if np.any(extra < 0) or np.any(extra > n_items * width):
        raise ValueError(f"item totals outside {n_items * lo}..{n_items * hi}")
    if totals.size == 0:
        return np.zeros((0, n_items), dtype=np.int64)
    if width == 0:
        return np.full((totals.size, n_items), lo, dtype=np.int64)
    slots = n_items * width
    order = np.argsort(rng.random((totals.size, slots)), axis=1)
    chosen = np.zeros((totals.size, slots), dtype=np.bool_)
    np.put_along_axis(chosen, order, np.arange(slots)[None, :] < extra[:, None], axis=1)
    counts: IntArray = chosen.reshape(totals.size, n_items, width).sum(axis=2).astype(np.int64)
    return counts + lo


def survival_week(uniforms: FloatArray, anchors: dict[int, float], last_week: int) -> IntArray:
    """The last week each participant completes, from retention anchors ``{week: fraction}``.

    Retention is 1 at week 0 and log-linear between anchors (a constant weekly hazard in
    each segment), flat after the last anchor. A participant with uniform ``u`` completes
    every week whose retention exceeds ``u``; the result is in 0..last_week.
    """
    weeks = np.arange(last_week + 1)
    points = sorted({0: 1.0, **anchors}.items())
    xs = np.array([w for w, _ in points], dtype=np.float64)
    ys = np.log(np.clip(np.array([s for _, s in points], dtype=np.float64), 1e-12, 1.0))
    curve = np.exp(np.interp(weeks, xs, ys))
    # completed[i, w] = u_i < curve[w]; curve is non-increasing, so count the weeks.
    completed: IntArray = (uniforms[:, None] < curve[None, 1:]).sum(axis=1).astype(np.int64)
    return completed
