"""Continuous scores over time: latent trajectories turned into item answers.

A trajectory targets one score of one instrument (``promis_anxiety_8a.t_score``,
``ocs.mean``, ``bpi_sf.severity``, ``dass21.depression`` …). The latent value is clipped to
the score's range and then made into item answers whose score equals the latent value in
expectation:

* PROMIS (``promis_lookup``): the latent T lies between two table T values; the raw score
  is the upper one with probability proportional to the distance, so E[T] = latent T;
* scales (sum or mean of items): the latent score is turned into an item total, rounded
  up or down at random with the fractional part as probability (mean-preserving).

The item total is then split among the items (:func:`~mindtrial.simulate.numerics.split_total`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import PromisLookupRule, ScalesRule
from mindtrial.simulate.numerics import BoolArray, FloatArray, IntArray, bisect, split_total
from mindtrial.simulate.scenario import ScenarioError, TrajectorySpec

_CALIBRATION_DRAWS = 60_000
_CALIBRATION_SEED = 20_250_101


@dataclass(frozen=True)
class ScoreTarget:
    """What the latent value of a trajectory is turned into."""

    instrument: str
    score: str
    items: tuple[str, ...]
    item_min: int
    item_max: int
    kind: str  # "promis" | "mean" | "sum"
    multiplier: float
    table: tuple[float, ...] = ()  # PROMIS: T for raw = n_items*item_min + index

    @property
    def low(self) -> float:
        if self.kind == "promis":
            return self.table[0]
        k = len(self.items)
        return float(self.item_min) if self.kind == "mean" else k * self.item_min * self.multiplier

    @property
    def high(self) -> float:
        if self.kind == "promis":
            return self.table[-1]
        k = len(self.items)
        return float(self.item_max) if self.kind == "mean" else k * self.item_max * self.multiplier

    def totals(self, latent: FloatArray, uniforms: FloatArray) -> IntArray:
        """Item totals (raw sums) for latent values, using ``uniforms`` to round."""
        k = len(self.items)
        x = np.clip(latent, self.low, self.high)
        if self.kind == "promis":
            table = np.asarray(self.table)
            idx = np.clip(np.searchsorted(table, x, side="right") - 1, 0, table.size - 2)
            lower, upper = table[idx], table[idx + 1]
            frac = np.where(upper > lower, (x - lower) / (upper - lower), 0.0)
            raw_index = idx + (uniforms < frac)
            return (k * self.item_min + raw_index).astype(np.int64)
        total = x * k if self.kind == "mean" else x / self.multiplier
        base = np.floor(total)
        rounded = base + (uniforms < (total - base))
        clipped: IntArray = np.clip(rounded, k * self.item_min, k * self.item_max).astype(np.int64)
        return clipped

    def observed(self, totals: IntArray) -> FloatArray:
        """The score the instrument gives for item totals."""
        k = len(self.items)
        if self.kind == "promis":
            return np.asarray(self.table, dtype=np.float64)[totals - k * self.item_min]
        scale = 1.0 / k if self.kind == "mean" else self.multiplier
        return np.asarray(totals, dtype=np.float64) * scale

    def items_for(self, totals: IntArray, rng: np.random.Generator) -> IntArray:
        return split_total(
            totals, n_items=len(self.items), lo=self.item_min, hi=self.item_max, rng=rng
        )


@functools.cache
def score_target(key: str) -> ScoreTarget:
    """Resolve ``INSTRUMENT.SCORE`` against the shipped instrument definitions."""
    instrument_id, _, score = key.partition(".")
    try:
        instrument = get_instrument(instrument_id)
    except KeyError:
        raise ScenarioError(f"trajectories.{key}: unknown instrument {instrument_id!r}") from None
    rule = instrument.scoring
    if isinstance(rule, PromisLookupRule) and score == rule.t_score:
        items = tuple(i.id for i in instrument.items)
        lo = int(min(i.min or 0 for i in instrument.items))
        hi = int(max(i.max or 0 for i in instrument.items))
        raws = sorted(rule.lookup)
        return ScoreTarget(
            instrument_id, score, items, lo, hi, "promis", 1.0, tuple(rule.lookup[r] for r in raws)
        )
    if isinstance(rule, ScalesRule):
        for scale in rule.scales:
            if scale.id == score:
                members = [instrument.item(i) for i in scale.items]
                lows = {int(m.min or 0) for m in members}
                highs = {int(m.max or 0) for m in members}
                if len(lows) != 1 or len(highs) != 1:
                    raise ScenarioError(
                        f"trajectories.{key}: items of scale {score!r} have different ranges"
                    )
                return ScoreTarget(
                    instrument_id,
                    score,
                    tuple(scale.items),
                    lows.pop(),
                    highs.pop(),
                    scale.method,
                    scale.multiplier,
                )
    raise ScenarioError(f"trajectories.{key}: instrument {instrument_id!r} has no score {score!r}")


def shape(spec: TrajectorySpec, weeks: FloatArray, last: float) -> FloatArray:
    """Fraction of the final change reached at each week (0 at week 0, 1 at ``last``)."""
    w = np.asarray(weeks, dtype=np.float64)
    if spec.shape == "plateau":
        out = np.minimum(1.0, w / spec.tau)
    else:
        out = (1 - np.exp(-w / spec.tau)) / (1 - np.exp(-last / spec.tau))
    return np.asarray(out, dtype=np.float64)


@functools.lru_cache(maxsize=256)
def calibrate(
    spec_json: str, key: str, last: float, grouped: tuple[str, ...] = ()
) -> dict[str, tuple[float, float]]:
    """Per arm: (latent baseline location, latent change at ``last``) hitting the targets.

    Monte Carlo with common random numbers (a fixed internal seed) and bisection: first the
    location whose observed week-0 mean is ``baseline_mean[arm]``, then the change whose
    observed mean change at ``last`` (in the subgroup, when ``subgroup_min`` is set) is
    ``change[arm]``. In the ``grouped`` arms (group sessions) the therapy-group effect adds
    to the slope's variance; the residuals at 0 and ``last`` correlate by ``ar1 ** last``.
    """
    spec = TrajectorySpec.model_validate_json(spec_json)
    target = score_target(key)
    rng = np.random.default_rng(_CALIBRATION_SEED)
    m = _CALIBRATION_DRAWS
    u = rng.standard_normal(m) * spec.intercept_sd
    v = rng.standard_normal(m) * spec.slope_sd
    e0 = rng.standard_normal(m) * spec.residual_sd
    e1 = rng.standard_normal(m) * spec.residual_sd
    if spec.ar1 > 0:
        rho = spec.ar1**last
        e1 = rho * e0 + np.sqrt(1 - rho**2) * e1
    r0, r1 = rng.random(m), rng.random(m)
    widen = np.sqrt(spec.slope_sd**2 + spec.group_sd**2) / spec.slope_sd if spec.slope_sd else 1.0
    width = target.high - target.low
    out: dict[str, tuple[float, float]] = {}
    for arm in spec.baseline_mean:

        def baseline_mean(mu: float) -> float:
            return float(target.observed(target.totals(mu + u + e0, r0)).mean())

        try:
            mu = bisect(
                baseline_mean,
                spec.baseline_mean[arm],
                target.low - 3 * width,
                target.high + 3 * width,
            )
        except ValueError as exc:
            raise ScenarioError(f"trajectories.{key}.baseline_mean.{arm}: {exc}") from None
        y0 = target.observed(target.totals(mu + u + e0, r0))
        keep = np.ones(m, dtype=np.bool_) if spec.subgroup_min is None else y0 > spec.subgroup_min
        if not keep.any():
            raise ScenarioError(
                f"trajectories.{key}.subgroup_min: no simulated baseline exceeds {spec.subgroup_min}"
            )

        v_arm = v
        if arm in grouped and spec.group_sd > 0:
            v_arm = v * widen if spec.slope_sd else rng_group(m) * spec.group_sd

        def mean_change(
            delta: float,
            mu: float = mu,
            keep: BoolArray = keep,
            y0: FloatArray = y0,
            v_arm: FloatArray = v_arm,
        ) -> float:
            y1 = target.observed(target.totals(mu + delta + u + v_arm + e1, r1))
            return float((y1[keep] - y0[keep]).mean())

        try:
            delta = bisect(mean_change, spec.change[arm], -3 * width, 3 * width)
        except ValueError as exc:
            raise ScenarioError(f"trajectories.{key}.change.{arm}: {exc}") from None
        out[arm] = (mu, delta)
    return out


def rng_group(m: int) -> FloatArray:
    """Standard normals for the group-effect part of the calibration (own fixed seed)."""
    return np.random.default_rng(_CALIBRATION_SEED + 1).standard_normal(m)


def ar1_residuals(z: FloatArray, weeks: list[int], sd: float, rho: float) -> FloatArray:
    """Residuals from standard normals ``z`` (people × weeks): stationary SD ``sd`` and
    correlation ``rho ** (weeks apart)`` (independent when ``rho`` is 0)."""
    if rho <= 0:
        return np.asarray(z * sd, dtype=np.float64)
    out = np.empty_like(z)
    out[:, 0] = z[:, 0]
    for j in range(1, len(weeks)):
        r = rho ** (weeks[j] - weeks[j - 1])
        out[:, j] = r * out[:, j - 1] + np.sqrt(1 - r**2) * z[:, j]
    return np.asarray(out * sd, dtype=np.float64)


@dataclass(frozen=True)
class Clustering:
    """Who shares a therapy group, and the dropout propensity a slope may follow."""

    group_index: IntArray  # per participant; -1 = no group (arm without group sessions)
    group_z: FloatArray  # one standard normal per group
    grouped_arms: tuple[str, ...]
    dropout_z: FloatArray | None = None  # latent dropout propensity, when linked
    dropout_correlation: float = 0.0


def draw_latent(
    spec: TrajectorySpec,
    key: str,
    *,
    arm_index: IntArray,
    arms: list[str],
    weeks: list[int],
    last: float,
    intercept_z: FloatArray,
    rng: np.random.Generator,
    clustering: Clustering | None = None,
) -> FloatArray:
    """Latent scores, participants × ``weeks``."""
    grouped = clustering.grouped_arms if clustering is not None else ()
    params = calibrate(spec.model_dump_json(), key, float(last), grouped)
    mu = np.array([params[a][0] for a in arms])[arm_index]
    delta = np.array([params[a][1] for a in arms])[arm_index]
    n = arm_index.size
    f = shape(spec, np.asarray(weeks, dtype=np.float64), last)
    slope_z = rng.standard_normal(n)
    if clustering is not None and clustering.dropout_z is not None:
        c = clustering.dropout_correlation
        slope_z = c * clustering.dropout_z + np.sqrt(1 - c**2) * slope_z
    slope = slope_z * spec.slope_sd
    if clustering is not None and spec.group_sd > 0:
        idx = clustering.group_index
        shared = np.where(idx >= 0, clustering.group_z[np.maximum(idx, 0)], 0.0)
        slope = slope + shared * spec.group_sd
    resid = ar1_residuals(rng.standard_normal((n, len(weeks))), weeks, spec.residual_sd, spec.ar1)
    return np.asarray(
        mu[:, None]
        + (delta + slope)[:, None] * f[None, :]
        + (intercept_z * spec.intercept_sd)[:, None]
        + resid,
        dtype=np.float64,
    )


__all__ = [
    "Clustering",
    "ScoreTarget",
    "ar1_residuals",
    "calibrate",
    "draw_latent",
    "score_target",
    "shape",
]
