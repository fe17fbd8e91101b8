"""Power and sample size by closed forms (scipy only).

* :func:`t_test_power` / :func:`t_test_sample_size` — two-sample t test with equal groups,
  exact noncentral t (both rejection tails, as R ``power.t.test(strict = TRUE)`` and
  statsmodels ``TTestIndPower``);
* :func:`proportions_power` / :func:`proportions_sample_size` — two proportions with the
  normal approximation of R ``power.prop.test`` (both tails counted).

Simulation power (the real analysis run on simulated trials) lives above the analysis and
the simulator, in :mod:`mindtrial.evaluation.simulation_power`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import optimize, stats

from mindtrial.design.sample_size import attrition_inflate

Alternative = Literal["two-sided", "larger", "smaller"]


class PowerError(ValueError):
    """Invalid options for a power calculation; the message names the option."""


# --------------------------------------------------------------------------- analytic


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise PowerError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def _check_power(power: float) -> None:
    if not 0 < power < 1:
        raise PowerError(f"power must lie strictly between 0 and 1, got {power!r}")


def t_test_power(*, d: float, n_per_arm: float, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t test with ``n_per_arm`` in each of two equal arms.

    ``d`` is the standardized difference (Cohen d). df = 2n - 2, noncentrality
    d·sqrt(n/2); both tails of the rejection region count.
    """
    check_alpha(alpha)
    if n_per_arm < 2:
        raise PowerError(f"n_per_arm must be at least 2, got {n_per_arm!r}")
    df = 2 * n_per_arm - 2
    ncp = abs(d) * math.sqrt(n_per_arm / 2)
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def t_test_sample_size(*, d: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Participants per arm (not rounded) for ``power`` in a two-sided two-sample t test."""
    _check_power(power)
    check_alpha(alpha)
    if d == 0:
        raise PowerError("effect size d must not be 0 (no sample size gives power for no effect)")
    return _solve_n(lambda n: t_test_power(d=d, n_per_arm=n, alpha=alpha), power, low=2.0)


def _solve_n(power_at: Callable[[float], float], power: float, *, low: float) -> float:
    """Smallest (fractional) n with power_at(n) = power; the bracket doubles until it holds."""
    high = max(4.0, 2 * low)
    while power_at(high) < power:
        high *= 2
        if high > 1e9:
            raise PowerError(f"no sample size below 1e9 per arm reaches power {power:g}")
    if power_at(low) >= power:
        return low
    return float(optimize.brentq(lambda n: power_at(n) - power, low, high, xtol=1e-10))


def proportions_power(*, p1: float, p2: float, n_per_arm: float, alpha: float = 0.05) -> float:
    """Power to detect proportions ``p1`` vs ``p2`` with ``n_per_arm`` per arm (two-sided).

    Normal approximation as R ``power.prop.test(strict = TRUE)``: pooled variance under
    the null, unpooled under the alternative.
    """
    check_alpha(alpha)
    for name, p in (("p1", p1), ("p2", p2)):
        if not 0 < p < 1:
            raise PowerError(f"{name} must lie strictly between 0 and 1, got {p!r}")
    if n_per_arm < 1:
        raise PowerError(f"n_per_arm must be at least 1, got {n_per_arm!r}")
    q1, q2 = 1 - p1, 1 - p2
    z = float(stats.norm.ppf(1 - alpha / 2))
    null_sd = math.sqrt((p1 + p2) * (q1 + q2) / 2)
    alt_sd = math.sqrt(p1 * q1 + p2 * q2)
    shift = math.sqrt(n_per_arm) * abs(p1 - p2)
    return float(
        stats.norm.cdf((shift - z * null_sd) / alt_sd)
        + stats.norm.cdf((-shift - z * null_sd) / alt_sd)
    )


def proportions_sample_size(
    *, p1: float, p2: float, power: float = 0.8, alpha: float = 0.05
) -> float:
    """Participants per arm (not rounded) for ``power`` to detect ``p1`` vs ``p2``."""
    _check_power(power)
    if p1 == p2:
        raise PowerError("p1 and p2 must differ")
    return _solve_n(
        lambda n: proportions_power(p1=p1, p2=p2, n_per_arm=n, alpha=alpha), power, low=1.0
    )


@dataclass(frozen=True)
class AnalyticResult:
    """An analytic power or sample-size answer (``n_per_arm`` unrounded, analysable).

    ``attrition`` is the share of randomized participants expected not to be analysable;
    :attr:`randomized_per_arm` inflates the rounded n per arm by it.
    """

    test: Literal["two_sample_t", "two_proportions"]
    effect: tuple[float, ...]
    alpha: float
    power: float
    n_per_arm: float
    attrition: float = 0.0

    @property
    def n_per_arm_rounded(self) -> int:
        return math.ceil(self.n_per_arm - 1e-9)

    @property
    def randomized_per_arm(self) -> int:
        return attrition_inflate(self.n_per_arm_rounded, attrition=self.attrition)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "effect": list(self.effect),
            "n_per_arm_rounded": self.n_per_arm_rounded,
            "randomized_per_arm": self.randomized_per_arm,
            "randomized_total": 2 * self.randomized_per_arm,
        }


def planned_attrition(planned: Mapping[str, float]) -> float:
    """The attrition a protocol's power section implies (``1 - effective_n / randomized``),
    or 0 when it names neither."""
    if "randomized" in planned and "effective_n" in planned:
        randomized, effective = planned["randomized"], planned["effective_n"]
        if not 0 < effective <= randomized:
            raise PowerError(
                f"power: effective_n {effective:g} must lie in (0, randomized {randomized:g}]"
            )
        return 1 - effective / randomized
    return 0.0


def analytic(
    *,
    effect: Sequence[float],
    n_per_arm: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    attrition: float = 0.0,
) -> AnalyticResult:
    """One effect (Cohen d) means a t test; two (p1, p2) mean two proportions.

    With ``n_per_arm`` (analysable) the power is computed; without it the n per arm for
    ``power``. ``attrition`` only sets how many to randomize.
    """
    if not 0 <= attrition < 1:
        raise PowerError(f"attrition must lie in [0, 1), got {attrition!r}")
    if len(effect) == 1:
        d = effect[0]
        if n_per_arm is None:
            n = t_test_sample_size(d=d, power=power, alpha=alpha)
            return AnalyticResult("two_sample_t", (d,), alpha, power, n, attrition)
        return AnalyticResult(
            "two_sample_t",
            (d,),
            alpha,
            t_test_power(d=d, n_per_arm=n_per_arm, alpha=alpha),
            n_per_arm,
            attrition,
        )
    if len(effect) == 2:
        p1, p2 = effect
        if n_per_arm is None:
            n = proportions_sample_size(p1=p1, p2=p2, power=power, alpha=alpha)
            return AnalyticResult("two_proportions", (p1, p2), alpha, power, n, attrition)
        got = proportions_power(p1=p1, p2=p2, n_per_arm=n_per_arm, alpha=alpha)
        return AnalyticResult("two_proportions", (p1, p2), alpha, got, n_per_arm, attrition)
    raise PowerError(
        f"effect: give one number (Cohen d) or two proportions (p1, p2), got {list(effect)}"
    )


def wilson_interval(successes: int, trials: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if trials <= 0:
        return (0.0, 1.0)
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return (max(0.0, centre - half), min(1.0, centre + half))
