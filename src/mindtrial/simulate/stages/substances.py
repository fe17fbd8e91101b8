"""Use of each scenario substance in each testing period (true use, not yet seen)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mindtrial.simulate.numerics import BoolArray, FloatArray, expit
from mindtrial.simulate.period_calibration import period_intercept
from mindtrial.simulate.scenario import Scenario, ScenarioError, SubstanceSpec
from mindtrial.simulate.stages.allocation import Allocation, group_draws
from mindtrial.simulate.stages.design import TrialDesign
from mindtrial.simulate.stages.sample import Sample


@dataclass(frozen=True)
class SubstanceUse:
    use: Mapping[str, BoolArray]
    """Participants × testing periods, per substance (empty without toxicology)."""


def draw_substance_use(
    design: TrialDesign,
    sample: Sample,
    allocation: Allocation,
    intercepts: Mapping[str, FloatArray],
    rng: np.random.Generator,
    groups: np.random.Generator,
) -> SubstanceUse:
    """Use ~ Bernoulli(expit(a_arm + person + group + covariates)) in every period.

    ``a_arm`` is calibrated so the protocol's primary outcome hits the scenario's percent;
    the person effect may correlate with a trajectory's random intercept (``intercepts``).
    """
    protocol = design.protocol
    scenario = design.scenario
    tox = protocol.toxicology
    if tox is None or not scenario.substances:
        return SubstanceUse(use={})
    n_periods = protocol.weeks // tox.window_weeks
    col = scenario.collection
    outcome_periods = tuple(protocol.outcomes.primary_periods) or tuple(range(1, n_periods + 1))
    use: dict[str, BoolArray] = {}
    for name, spec in scenario.substances.items():
        offsets, weights = _covariate_offsets(scenario, spec)
        intercept = []
        for arm in design.arms:
            survival = scenario.retention.survival[arm]
            # A group effect adds to the person effect's variance in grouped arms.
            grouped = arm in allocation.grouped_arms
            total_sd = float(np.hypot(spec.person_sd, spec.group_sd if grouped else 0.0))
            intercept.append(
                period_intercept(
                    target=spec.percent[arm] / 100.0,
                    person_sd=total_sd,
                    offsets=tuple(float(x) for x in offsets),
                    weights=tuple(float(x) for x in weights),
                    survival=tuple(sorted(survival.items())),
                    final_week=design.final_week,
                    window=tox.window_weeks,
                    periods=outcome_periods,
                    survey_completion=col.survey_completion,
                    test_completion=col.test_completion,
                    invalid_test=col.invalid_test,
                    report_sensitivity=spec.report_sensitivity,
                    test_sensitivity=spec.test_sensitivity,
                    surveys_required=protocol.outcomes.surveys_required_per_period,
                    tests_required=protocol.outcomes.tests_required_per_period,
                    has_item=name in tox.self_report_items,
                )
            )
        z = rng.standard_normal(design.n)
        if spec.correlated_with and spec.correlated_with in intercepts:
            rho = spec.correlation
            z = rho * intercepts[spec.correlated_with] + np.sqrt(1 - rho**2) * z
        eta = np.array(intercept)[allocation.arm_index] + spec.person_sd * z
        if spec.group_sd > 0:
            group_index = allocation.group_index
            shared = group_draws(allocation, groups)[np.maximum(group_index, 0)]
            eta = eta + spec.group_sd * np.where(group_index >= 0, shared, 0.0)
        for cov, beta in spec.covariate_log_odds.items():
            eta = eta + beta * sample.covariates[cov].astype(np.float64)
        use[name] = rng.random((design.n, n_periods)) < expit(eta)[:, None]
    return SubstanceUse(use=use)


def _covariate_offsets(scenario: Scenario, spec: SubstanceSpec) -> tuple[FloatArray, FloatArray]:
    """The log-odds shifts of every combination of the binary covariates, and their weights."""
    offsets = np.zeros(1)
    weights = np.ones(1)
    for cov, beta in spec.covariate_log_odds.items():
        cspec = scenario.covariates.get(cov)
        if cspec is None or cspec.kind != "bernoulli" or cspec.p is None:
            raise ScenarioError(
                f"covariate_log_odds.{cov}: only covariates drawn as bernoulli can shift use"
            )
        offsets = np.concatenate([offsets, offsets + beta])
        weights = np.concatenate([weights * (1 - cspec.p), weights * cspec.p])
    return offsets, weights
