"""Closed-form sample sizes against R and against the worked examples their sources print.

R values come from ``tests/reference/sample_size.R`` (rpact 3.3.4 for time to event,
``MASS::glm.nb`` by simulation for counts), committed as ``sample_size.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mindtrial.design.power import t_test_sample_size
from mindtrial.design.sample_size import (
    Enrolment,
    SampleSizeError,
    attrition_inflate,
    design_effect,
    negative_binomial_power,
    negative_binomial_sample_size,
    random_slope_power,
    random_slope_sample_size,
    repeated_measures_power,
    repeated_measures_sample_size,
    survival_events,
    survival_power,
    survival_sample_size,
)
from mindtrial.protocols import load_protocol

R = json.loads(
    (Path(__file__).resolve().parents[1] / "reference" / "sample_size.json").read_text("utf-8")
)


def _share(case: dict[str, Any]) -> float:
    """rpact's allocation ratio (treated per control) as the treated share."""
    ratio = float(case["allocation_ratio"])
    return ratio / (1 + ratio)


# ----------------------------------------------------------------------------- attrition


def test_mrocc_paper_justification_with_attrition() -> None:
    """M-ROCC: d = 0.45 at 80% needs 156 analysable; its plan randomized 192 for them."""
    power = load_protocol("mrocc-2025").analysis.power
    analysable = 2 * math.ceil(t_test_sample_size(d=power["effect_size_d"], power=power["power"]))
    assert analysable == power["effective_n"] + 2  # 79 per arm; the paper rounds 78.49 to 78
    attrition = 1 - power["effective_n"] / power["randomized"]
    assert attrition_inflate(power["effective_n"], attrition=attrition) == power["randomized"]
    # 20% attrition on 156: 156 / 0.8 = 195.
    assert attrition_inflate(156, attrition=0.2) == 195
    with pytest.raises(SampleSizeError, match="attrition"):
        attrition_inflate(156, attrition=1.0)


def test_design_effect_for_group_treatment() -> None:
    # Equal groups of 10 with ICC 0.05: 1 + 9 x 0.05 (Donner & Klar 2000, eq. 2.1).
    assert design_effect(icc=0.05, mean_cluster_size=10) == pytest.approx(1.45)
    # Eldridge, Ashby & Kerry (2006): mean size 20, cv 0.5, ICC 0.01 -> 1 + (1.25 x 20 - 1) x 0.01.
    assert design_effect(icc=0.01, mean_cluster_size=20, cv_cluster_size=0.5) == pytest.approx(1.24)
    assert design_effect(icc=0.3, mean_cluster_size=1) == 1
    with pytest.raises(SampleSizeError, match="icc"):
        design_effect(icc=1.2, mean_cluster_size=8)


# ----------------------------------------------------------------------------- survival


@pytest.mark.parametrize(
    "case", R["survival_events"], ids=lambda c: f"{c['method']}-{c['hazard_ratio']}"
)
def test_survival_events_match_rpact(case: dict[str, Any]) -> None:
    events = survival_events(
        hazard_ratio=case["hazard_ratio"],
        power=case["power"],
        alpha=case["alpha"],
        allocation=_share(case),
        method=case["method"],
    )
    assert events == pytest.approx(case["events"], rel=1e-9)


@pytest.mark.parametrize("case", R["survival_power"], ids=lambda c: f"{c['method']}-{c['events']}")
def test_survival_power_matches_rpact(case: dict[str, Any]) -> None:
    power = survival_power(
        hazard_ratio=case["hazard_ratio"],
        events=case["events"],
        allocation=_share(case),
        method=case["method"],
    )
    assert power == pytest.approx(case["power"], abs=1e-6)


def test_freedman_reproduces_rosner_example() -> None:
    """The inputs of Rosner, Fundamentals of Biostatistics (6th ed.), Example 14.42, which
    powerSurvEpi's ssizeCT.default documents: HR 0.7, failure probability 0.3707 treated and
    0.4890 control, 80% power. Its formula m = ((k·RR + 1)/(RR - 1))²(z_a + z_b)²/k gives
    252.04 events, and m / (k·pE + pC) rounded up gives 294 per group."""
    answer = survival_sample_size(
        hazard_ratio=0.7,
        event_probability_control=0.4890,
        event_probability_treatment=0.3707,
        method="freedman",
    )
    assert answer.events == pytest.approx(252.04, abs=0.01)
    assert math.ceil(answer.n_treatment) == math.ceil(answer.n_control) == 294
    assert answer.n_total_rounded == 588


def test_survival_participants_follow_proportional_hazards() -> None:
    answer = survival_sample_size(hazard_ratio=0.5, event_probability_control=0.6)
    p_treated = 1 - 0.4**0.5
    assert answer.events == pytest.approx(R["survival_events"][0]["events"], rel=1e-9)
    assert answer.n_treatment == pytest.approx(answer.events / (0.5 * p_treated + 0.5 * 0.6) / 2)
    with pytest.raises(SampleSizeError, match="hazard_ratio must differ from 1"):
        survival_events(hazard_ratio=1.0)


# ---------------------------------------------------------------------- negative binomial


@pytest.mark.parametrize("case", R["negative_binomial_power"], ids=lambda c: f"n{c['n_control']}")
def test_negative_binomial_power_matches_glm_nb_simulation(case: dict[str, Any]) -> None:
    """2,000 simulated trials fitted with MASS::glm.nb: the formula's power lies within
    3 Monte-Carlo standard errors of the share of significant Wald tests."""
    power = negative_binomial_power(
        n_control=case["n_control"],
        rate_control=case["rate_control"],
        rate_ratio=case["rate_ratio"],
        dispersion=case["dispersion"],
        allocation_ratio=case["allocation_ratio"],
    )
    mc_se = math.sqrt(case["power"] * (1 - case["power"]) / case["reps"])
    assert abs(power - case["power"]) < 3 * mc_se


def test_negative_binomial_sample_size_inverts_power() -> None:
    n0 = negative_binomial_sample_size(rate_control=2.0, rate_ratio=0.58, dispersion=0.8)
    assert negative_binomial_power(
        n_control=n0, rate_control=2.0, rate_ratio=0.58, dispersion=0.8
    ) == pytest.approx(0.8, abs=1e-6)
    # Without overdispersion the variance is Poisson's: (1/mu0 + 1/mu1) x z^2 / log(RR)^2.
    z2 = (1.959963984540054 + 0.8416212335729143) ** 2
    assert negative_binomial_sample_size(
        rate_control=1.0, rate_ratio=0.5, dispersion=0.0
    ) == pytest.approx(z2 * 3 / math.log(0.5) ** 2)


# ----------------------------------------------------------------------- repeated measures


@pytest.mark.parametrize(
    ("rho", "sigma2", "n"),
    [
        (0.2, 100, 313), (0.2, 200, 625), (0.2, 300, 938),
        (0.5, 100, 196), (0.5, 200, 391), (0.5, 300, 586),
        (0.8, 100, 79), (0.8, 200, 157), (0.8, 300, 235),
    ],
)  # fmt: skip
def test_slopes_reproduce_diggle_page_29(rho: float, sigma2: float, n: int) -> None:
    """Diggle, Heagerty, Liang & Zeger (2002), p. 29: times 0, 2, 5, slope difference 0.5,
    one-sided 5%, 80% power (the table longpower's tests reproduce)."""
    got = repeated_measures_sample_size(
        delta=0.5, times=[0, 2, 5], rho=rho, sigma2=sigma2, contrast="slope", sides=1
    )
    assert math.ceil(got) == n


@pytest.mark.parametrize(
    ("rho", "delta", "n"),
    [
        (0.2, 0.2, 145), (0.5, 0.2, 207), (0.8, 0.2, 268),
        (0.2, 0.3, 65), (0.5, 0.3, 92), (0.8, 0.3, 120),
        (0.2, 0.4, 37), (0.5, 0.4, 52), (0.8, 0.4, 67),
        (0.2, 0.5, 24), (0.5, 0.5, 33), (0.8, 0.5, 43),
    ],
)  # fmt: skip
def test_time_average_reproduces_diggle_page_30(rho: float, delta: float, n: int) -> None:
    """Diggle et al. (2002), p. 30: three measurements, standardized difference delta in the
    time-averaged response, one-sided 5%, 80% power."""
    got = repeated_measures_sample_size(
        delta=delta, times=[1, 2, 3], rho=rho, contrast="average", sides=1
    )
    assert math.ceil(got) == n


def test_random_slopes_match_longpower_edland() -> None:
    """longpower's test of lmmpower(method = "edland"): delta 1.5, times 0 to 1.5 by 0.25,
    slope variance 24, residual variance 10, two-sided 5%, 80% power -> 207.310093300903."""
    got = random_slope_sample_size(
        delta=1.5,
        times=[0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5],
        slope_variance=24,
        residual_variance=10,
    )
    assert got == pytest.approx(207.310093300903, rel=1e-6)
    with pytest.raises(SampleSizeError, match="times must not all be equal"):
        random_slope_sample_size(delta=1, times=[2, 2], slope_variance=1, residual_variance=1)


def test_enrolment_inflates_by_design_effect_then_attrition() -> None:
    """M-ROCC's plan: 78.49 per arm analysable; groups of 8 with ICC 0.02 (DE 1.14); 18.75%
    attrition (156 of 192) -> 90 per arm analysable, 111 per arm randomized."""
    plan = Enrolment(
        per_arm=(78.49, 78.49),
        design_effect=design_effect(icc=0.02, mean_cluster_size=8),
        attrition=1 - 156 / 192,
    )
    assert plan.analysable_per_arm == (math.ceil(78.49 * 1.14), math.ceil(78.49 * 1.14)) == (90, 90)
    assert plan.randomized_per_arm == (111, 111)  # 90 / 0.8125 = 110.8
    assert plan.randomized == 222
    with pytest.raises(SampleSizeError, match="design_effect"):
        Enrolment(per_arm=(10.0,), design_effect=0.5)


@pytest.mark.parametrize("contrast", ["average", "slope"])
def test_repeated_power_inverts_sample_size(contrast: str) -> None:
    times = [0, 8, 16, 24]
    n = repeated_measures_sample_size(delta=0.3, times=times, rho=0.4, contrast=contrast)  # type: ignore[arg-type]
    got = repeated_measures_power(
        n_per_arm=n,
        delta=0.3,
        times=times,
        rho=0.4,
        contrast=contrast,  # type: ignore[arg-type]
    )
    # Two-sided: the far tail adds a negligible amount at 80% power.
    assert got == pytest.approx(0.8, abs=1e-6)
    n_slope = random_slope_sample_size(
        delta=1.5, times=times, slope_variance=2, residual_variance=9
    )
    assert random_slope_power(
        n_per_arm=n_slope, delta=1.5, times=times, slope_variance=2, residual_variance=9
    ) == pytest.approx(0.8, abs=1e-6)
