"""Closed-form sample size and power for the designs these trials use.

Each function answers one textbook question, with the source of its formula in its
docstring; the tests check each against R (``rpact``, ``pwr``, ``MASS::glm.nb`` by
simulation) or against the worked example the source prints.

* attrition: randomize ``n / (1 - attrition)`` to keep ``n`` analysable;
* group-delivered treatment: the design effect ``1 + ((cv² + 1)·m - 1)·ICC``;
* time to event: events by Schoenfeld (1983) or Freedman (1982), participants from the
  probability of an event during follow-up;
* counts: negative binomial rate ratio (Zhu & Lakkis 2014, their second approach);
* repeated measures: the difference in time-averaged response or in slopes under
  exchangeable correlation (Diggle, Heagerty, Liang & Zeger 2002, section 2.4), and the
  difference in slopes with random slopes (Edland 2009).

Everything here is two-sided at ``alpha`` unless ``sides=1`` is given, and answers per arm
unrounded unless the name says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats

SurvivalMethod = Literal["schoenfeld", "freedman"]
RepeatedContrast = Literal["average", "slope"]


class SampleSizeError(ValueError):
    """An option out of its range; the message names the option and the range."""


def _z_sum(alpha: float, power: float, sides: int) -> float:
    """z_{1-alpha/sides} + z_{power}: the numerator every normal-approximation formula shares."""
    if not 0 < alpha < 1:
        raise SampleSizeError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if not 0 < power < 1:
        raise SampleSizeError(f"power must lie strictly between 0 and 1, got {power!r}")
    if sides not in (1, 2):
        raise SampleSizeError(f"sides must be 1 or 2, got {sides!r}")
    return float(stats.norm.ppf(1 - alpha / sides) + stats.norm.ppf(power))


def _power_from_z(z_effect: float, alpha: float, sides: int) -> float:
    """Power of a z test whose statistic has mean ``z_effect`` under the alternative; a
    two-sided test counts both rejection tails."""
    if not 0 < alpha < 1:
        raise SampleSizeError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if sides not in (1, 2):
        raise SampleSizeError(f"sides must be 1 or 2, got {sides!r}")
    critical = float(stats.norm.ppf(1 - alpha / sides))
    power = float(stats.norm.cdf(abs(z_effect) - critical))
    if sides == 2:
        power += float(stats.norm.cdf(-abs(z_effect) - critical))
    return power


def _positive(name: str, value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise SampleSizeError(f"{name} must be a positive finite number, got {value!r}")


def _probability(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise SampleSizeError(f"{name} must lie strictly between 0 and 1, got {value!r}")


# ----------------------------------------------------------------------- design adjustments


def attrition_inflate(n_analysable: float, *, attrition: float) -> int:
    """Participants to randomize so that ``n_analysable`` remain after ``attrition``.

    M-ROCC planned 156 analysable and randomized 192: an attrition of 1 - 156/192.
    """
    if not 0 <= attrition < 1:
        raise SampleSizeError(f"attrition must lie in [0, 1), got {attrition!r}")
    _positive("n_analysable", n_analysable)
    return math.ceil(n_analysable / (1 - attrition) - 1e-9)


def design_effect(*, icc: float, mean_cluster_size: float, cv_cluster_size: float = 0.0) -> float:
    """Variance inflation of a treatment delivered in groups (clusters) of participants.

    ``1 + ((cv² + 1)·m - 1)·ICC`` with ``m`` the mean group size and ``cv`` the coefficient
    of variation of group sizes (Eldridge, Ashby & Kerry 2006); with equal groups this is
    the familiar ``1 + (m - 1)·ICC`` (Donner & Klar 2000).
    """
    if not 0 <= icc < 1:
        raise SampleSizeError(f"icc must lie in [0, 1), got {icc!r}")
    if mean_cluster_size < 1:
        raise SampleSizeError(f"mean_cluster_size must be at least 1, got {mean_cluster_size!r}")
    if cv_cluster_size < 0:
        raise SampleSizeError(f"cv_cluster_size must not be negative, got {cv_cluster_size!r}")
    return 1 + ((cv_cluster_size**2 + 1) * mean_cluster_size - 1) * icc


# ----------------------------------------------------------------------------- survival


def _check_hazard_ratio(hazard_ratio: float) -> None:
    _positive("hazard_ratio", hazard_ratio)
    if hazard_ratio == 1:
        raise SampleSizeError("hazard_ratio must differ from 1 (no trial detects no effect)")


def survival_events(
    *,
    hazard_ratio: float,
    power: float = 0.8,
    alpha: float = 0.05,
    allocation: float = 0.5,
    method: SurvivalMethod = "schoenfeld",
    sides: int = 2,
) -> float:
    """Events needed to detect ``hazard_ratio`` with a log-rank or Cox test.

    ``allocation`` is the share randomized to the treatment arm. Schoenfeld (1983):
    ``(z_a + z_b)² / (p(1-p)·log(HR)²)``. Freedman (1982), with ``k`` treated per control:
    ``(z_a + z_b)²·(k·HR + 1)² / (k·(HR - 1)²)``.
    """
    _check_hazard_ratio(hazard_ratio)
    _probability("allocation", allocation)
    z2 = _z_sum(alpha, power, sides) ** 2
    if method == "schoenfeld":
        return z2 / (allocation * (1 - allocation) * math.log(hazard_ratio) ** 2)
    if method == "freedman":
        k = allocation / (1 - allocation)
        return z2 * (k * hazard_ratio + 1) ** 2 / (k * (hazard_ratio - 1) ** 2)
    raise SampleSizeError(f"method must be 'schoenfeld' or 'freedman', got {method!r}")


def survival_power(
    *,
    hazard_ratio: float,
    events: float,
    alpha: float = 0.05,
    allocation: float = 0.5,
    method: SurvivalMethod = "schoenfeld",
    sides: int = 2,
) -> float:
    """Power of a log-rank or Cox test with ``events`` events (the inverse of
    :func:`survival_events`)."""
    _check_hazard_ratio(hazard_ratio)
    _probability("allocation", allocation)
    _positive("events", events)
    if method == "schoenfeld":
        z = math.sqrt(events * allocation * (1 - allocation)) * abs(math.log(hazard_ratio))
    elif method == "freedman":
        k = allocation / (1 - allocation)
        z = math.sqrt(k * events) * abs(hazard_ratio - 1) / (k * hazard_ratio + 1)
    else:
        raise SampleSizeError(f"method must be 'schoenfeld' or 'freedman', got {method!r}")
    return _power_from_z(z, alpha, sides)


def treated_event_probability(*, event_probability_control: float, hazard_ratio: float) -> float:
    """The treated arm's probability of an event during follow-up under proportional
    hazards: ``1 - (1 - p_c)^HR``."""
    _probability("event_probability_control", event_probability_control)
    _check_hazard_ratio(hazard_ratio)
    return float(1 - (1 - event_probability_control) ** hazard_ratio)


@dataclass(frozen=True)
class SurvivalSampleSize:
    """Events and participants per arm for a time-to-event comparison (unrounded)."""

    events: float
    n_treatment: float
    n_control: float

    @property
    def n_total_rounded(self) -> int:
        return math.ceil(self.n_treatment - 1e-9) + math.ceil(self.n_control - 1e-9)


def survival_sample_size(
    *,
    hazard_ratio: float,
    event_probability_control: float,
    event_probability_treatment: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    allocation: float = 0.5,
    method: SurvivalMethod = "schoenfeld",
    sides: int = 2,
) -> SurvivalSampleSize:
    """Participants per arm so that the expected number of events reaches
    :func:`survival_events`.

    The probabilities are those of an event during follow-up in each arm; without the
    treatment arm's, it follows from proportional hazards: ``1 - (1 - p_c)^HR``.
    """
    _probability("event_probability_control", event_probability_control)
    p_t = (
        treated_event_probability(
            event_probability_control=event_probability_control, hazard_ratio=hazard_ratio
        )
        if event_probability_treatment is None
        else event_probability_treatment
    )
    _probability("event_probability_treatment", p_t)
    events = survival_events(
        hazard_ratio=hazard_ratio,
        power=power,
        alpha=alpha,
        allocation=allocation,
        method=method,
        sides=sides,
    )
    per_participant = allocation * p_t + (1 - allocation) * event_probability_control
    total = events / per_participant
    return SurvivalSampleSize(events, total * allocation, total * (1 - allocation))


# ---------------------------------------------------------------------- negative binomial


def _nb_log_ratio_variance(
    rate_control: float, rate_ratio: float, dispersion: float, exposure: float, ratio: float
) -> float:
    """n_control × Var(log rate ratio) with the true rates in both arms (Zhu & Lakkis 2014,
    approach 2); ``dispersion`` is k in Var(Y) = mu + k·mu², ``ratio`` is n_treat / n_control.
    Every argument is checked first."""
    _positive("rate_control", rate_control)
    _positive("rate_ratio", rate_ratio)
    if rate_ratio == 1:
        raise SampleSizeError("rate_ratio must differ from 1 (no trial detects no effect)")
    if dispersion < 0:
        raise SampleSizeError(f"dispersion must not be negative, got {dispersion!r}")
    _positive("exposure", exposure)
    _positive("allocation_ratio", ratio)
    mu0 = rate_control * exposure
    mu1 = rate_control * rate_ratio * exposure
    return 1 / mu0 + 1 / (ratio * mu1) + (1 + ratio) * dispersion / ratio


def negative_binomial_sample_size(
    *,
    rate_control: float,
    rate_ratio: float,
    dispersion: float,
    exposure: float = 1.0,
    power: float = 0.8,
    alpha: float = 0.05,
    allocation_ratio: float = 1.0,
    sides: int = 2,
) -> float:
    """Control-arm participants (treatment arm: × ``allocation_ratio``) to detect a ratio of
    mean counts with a Wald test of a negative binomial regression.

    ``n0 = (z_a + z_b)²·V / log(RR)²`` with V from :func:`_nb_log_ratio_variance`.
    """
    variance = _nb_log_ratio_variance(
        rate_control, rate_ratio, dispersion, exposure, allocation_ratio
    )
    return _z_sum(alpha, power, sides) ** 2 * variance / math.log(rate_ratio) ** 2


def negative_binomial_power(
    *,
    n_control: float,
    rate_control: float,
    rate_ratio: float,
    dispersion: float,
    exposure: float = 1.0,
    alpha: float = 0.05,
    allocation_ratio: float = 1.0,
    sides: int = 2,
) -> float:
    """Power of the Wald test of the rate ratio with ``n_control`` control participants."""
    _positive("n_control", n_control)
    variance = _nb_log_ratio_variance(
        rate_control, rate_ratio, dispersion, exposure, allocation_ratio
    )
    return _power_from_z(abs(math.log(rate_ratio)) * math.sqrt(n_control / variance), alpha, sides)


# ----------------------------------------------------------------------- repeated measures


def _times_spread(times: Sequence[float]) -> float:
    """Sum of squared deviations of the measurement times from their mean."""
    if len(times) < 2:
        raise SampleSizeError(f"times: need at least two measurement times, got {list(times)}")
    mean = sum(times) / len(times)
    spread = sum((t - mean) ** 2 for t in times)
    if spread <= 0:
        raise SampleSizeError(f"times must not all be equal, got {list(times)}")
    return spread


def _repeated_variance(
    times: Sequence[float], rho: float, sigma2: float, contrast: RepeatedContrast
) -> float:
    """Variance of one participant's summary (time-averaged response or GLS slope) under
    exchangeable correlation; a two-arm comparison with n per arm has variance 2·this/n."""
    if not 0 <= rho < 1:
        raise SampleSizeError(f"rho must lie in [0, 1), got {rho!r}")
    _positive("sigma2", sigma2)
    if contrast == "average":
        m = len(times)
        if m < 1:
            raise SampleSizeError("times: need at least one measurement time")
        return sigma2 * (1 + (m - 1) * rho) / m
    if contrast == "slope":
        return sigma2 * (1 - rho) / _times_spread(times)
    raise SampleSizeError(f"contrast must be 'average' or 'slope', got {contrast!r}")


def _check_delta(delta: float) -> None:
    if delta == 0 or not math.isfinite(delta):
        raise SampleSizeError(f"delta must be a non-zero finite number, got {delta!r}")


def repeated_measures_sample_size(
    *,
    delta: float,
    times: Sequence[float],
    rho: float,
    sigma2: float = 1.0,
    contrast: RepeatedContrast = "average",
    power: float = 0.8,
    alpha: float = 0.05,
    sides: int = 2,
) -> float:
    """Participants per arm for ``m = len(times)`` measurements with exchangeable correlation
    ``rho`` and variance ``sigma2`` (Diggle, Heagerty, Liang & Zeger 2002, section 2.4).

    ``contrast="average"``: a difference ``delta`` in the time-averaged response,
    ``2(z_a + z_b)²·sigma2·(1 + (m - 1)·rho) / (m·delta²)``.
    ``contrast="slope"``: a difference ``delta`` in rates of change,
    ``2(z_a + z_b)²·sigma2·(1 - rho) / (Σ(t - t̄)²·delta²)``.
    """
    _check_delta(delta)
    variance = _repeated_variance(times, rho, sigma2, contrast)
    return 2 * _z_sum(alpha, power, sides) ** 2 * variance / delta**2


def repeated_measures_power(
    *,
    n_per_arm: float,
    delta: float,
    times: Sequence[float],
    rho: float,
    sigma2: float = 1.0,
    contrast: RepeatedContrast = "average",
    alpha: float = 0.05,
    sides: int = 2,
) -> float:
    """Power with ``n_per_arm`` participants per arm (the inverse of
    :func:`repeated_measures_sample_size`)."""
    _check_delta(delta)
    _positive("n_per_arm", n_per_arm)
    variance = _repeated_variance(times, rho, sigma2, contrast)
    return _power_from_z(abs(delta) / math.sqrt(2 * variance / n_per_arm), alpha, sides)


def _slope_variance(
    times: Sequence[float], slope_variance: float, residual_variance: float
) -> float:
    if slope_variance < 0:
        raise SampleSizeError(f"slope_variance must not be negative, got {slope_variance!r}")
    _positive("residual_variance", residual_variance)
    return slope_variance + residual_variance / _times_spread(times)


def random_slope_sample_size(
    *,
    delta: float,
    times: Sequence[float],
    slope_variance: float,
    residual_variance: float,
    power: float = 0.8,
    alpha: float = 0.05,
    sides: int = 2,
) -> float:
    """Participants per arm to detect a difference ``delta`` in mean slopes in a mixed model
    with random intercepts and slopes (Edland 2009):
    ``2(z_a + z_b)²·(slope_variance + residual_variance / Σ(t - t̄)²) / delta²``.
    """
    _check_delta(delta)
    variance = _slope_variance(times, slope_variance, residual_variance)
    return 2 * _z_sum(alpha, power, sides) ** 2 * variance / delta**2


def random_slope_power(
    *,
    n_per_arm: float,
    delta: float,
    times: Sequence[float],
    slope_variance: float,
    residual_variance: float,
    alpha: float = 0.05,
    sides: int = 2,
) -> float:
    """Power with ``n_per_arm`` participants per arm (the inverse of
    :func:`random_slope_sample_size`)."""
    _check_delta(delta)
    _positive("n_per_arm", n_per_arm)
    variance = _slope_variance(times, slope_variance, residual_variance)
    return _power_from_z(abs(delta) / math.sqrt(2 * variance / n_per_arm), alpha, sides)


# ----------------------------------------------------------------------------- enrolment


@dataclass(frozen=True)
class Enrolment:
    """From the participants each arm must contribute to the analysis to the number to
    randomize: inflate by the design effect of group treatment, then by attrition."""

    per_arm: tuple[float, ...]
    design_effect: float = 1.0
    attrition: float = 0.0

    def __post_init__(self) -> None:
        if not self.per_arm:
            raise SampleSizeError("per_arm: need at least one arm")
        for n in self.per_arm:
            _positive("per_arm", n)
        if self.design_effect < 1:
            raise SampleSizeError(f"design_effect must be at least 1, got {self.design_effect!r}")
        if not 0 <= self.attrition < 1:
            raise SampleSizeError(f"attrition must lie in [0, 1), got {self.attrition!r}")

    @property
    def analysable_per_arm(self) -> tuple[int, ...]:
        return tuple(math.ceil(n * self.design_effect - 1e-9) for n in self.per_arm)

    @property
    def analysable(self) -> int:
        return sum(self.analysable_per_arm)

    @property
    def randomized_per_arm(self) -> tuple[int, ...]:
        return tuple(
            attrition_inflate(n, attrition=self.attrition) for n in self.analysable_per_arm
        )

    @property
    def randomized(self) -> int:
        return sum(self.randomized_per_arm)
