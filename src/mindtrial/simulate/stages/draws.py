"""Small draws shared by several stages: categories by weight, numbers by spec."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from mindtrial.simulate.numerics import FloatArray, truncated_normal_parameters
from mindtrial.simulate.scenario import CovariateSpec, ScenarioError

ObjectArray = NDArray[np.object_]
Values = NDArray[Any]
"""One value per participant, of any dtype (a covariate: strings, numbers or booleans)."""


def choice(rng: np.random.Generator, table: dict[str, float], size: int) -> ObjectArray:
    """``size`` keys of ``table`` drawn with probability proportional to their values."""
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=np.float64)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=size, p=p / p.sum())]


def largest_remainder(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Whole counts summing to ``total`` in proportion to ``shares`` (no randomness)."""
    keys = list(shares)
    w = np.array([shares[k] for k in keys], dtype=np.float64)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return dict(zip(keys, (int(c) for c in counts), strict=True))


def draw_number(spec: CovariateSpec, rng: np.random.Generator, n: int) -> FloatArray:
    """``n`` values of a discrete or (truncated, rounded) normal covariate."""
    if spec.kind == "discrete":
        keys = np.array(list(spec.values), dtype=np.float64)
        p = np.array(list(spec.values.values()), dtype=np.float64)
        return np.asarray(keys[rng.choice(keys.size, size=n, p=p / p.sum())], dtype=np.float64)
    assert spec.mean is not None and spec.sd is not None
    lo = -np.inf if spec.minimum is None else spec.minimum
    hi = np.inf if spec.maximum is None else spec.maximum
    try:
        mu, sigma = truncated_normal_parameters(spec.mean, spec.sd, lo, hi)
    except ValueError as exc:
        raise ScenarioError(f"covariate: {exc}") from None
    x = rng.normal(mu, sigma, n)
    bad = (x < lo) | (x > hi)
    while bad.any():  # truncation by redrawing
        x[bad] = rng.normal(mu, sigma, int(bad.sum()))
        bad = (x < lo) | (x > hi)
    if spec.round_to:
        x = np.clip(np.round(x / spec.round_to) * spec.round_to, lo, hi)
    return x
