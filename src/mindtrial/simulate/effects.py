"""Setting the simulated effect of one prespecified analysis (for power calculations).

An analysis is matched to the scenario knob that drives its outcome:

* a GEE of a toxicology substance (M-ROCC ``primary``, ``benzodiazepines``, ``cocaine``) to
  ``substances.<substance>.percent``; the effect is the difference in percentage points
  (first arm minus second), the second (control) arm keeping its percentage;
* a mixed model of a score (``anxiety``, ``craving``, ``pain_severity`` …) to
  ``trajectories.<instrument>.<score>.change``; the effect is the difference in change at
  the last assessment (first arm minus second), the control arm keeping its change.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Final, Literal

from mindtrial.outcomes.kinds.common import time_weeks
from mindtrial.protocols.schema import AnalysisSpec, Protocol
from mindtrial.simulate.scenario import Scenario, ScenarioError

Kind = Literal["substance", "trajectory", "none"]


def scenario_key(scenario: Scenario, spec: AnalysisSpec) -> tuple[Kind, str]:
    """Which scenario knob drives ``spec``'s outcome: (kind, key)."""
    if spec.model == "gee_logistic" and spec.outcome in scenario.substances:
        return "substance", spec.outcome
    if spec.model == "lmm_gaussian":
        if spec.outcome in scenario.trajectories:
            return "trajectory", spec.outcome
        instrument = spec.outcome.partition(".")[0]
        same = [k for k in scenario.trajectories if k.partition(".")[0] == instrument]
        if len(same) == 1:
            return "trajectory", same[0]
    return "none", ""


def with_effect(
    scenario: Scenario, protocol: Protocol, spec: AnalysisSpec, effect: float
) -> Scenario:
    """``scenario`` with the effect of analysis ``spec`` set to ``effect``."""
    intervention, control = protocol.arm_ids[0], protocol.arm_ids[1]
    kind, key = scenario_key(scenario, spec)
    if kind == "substance":
        base = scenario.substances[key].percent[control]
        value = base + effect
        if not 0 < value < 100:
            raise ScenarioError(
                f"effect {effect:g}: {intervention} would have {value:g}% non-abstinent periods "
                f"({control}: {base:g}%); the percentage must lie strictly between 0 and 100"
            )
        return scenario.with_overrides({"substances": {key: {"percent": {intervention: value}}}})
    if kind == "trajectory":
        base = scenario.trajectories[key].change[control]
        return scenario.with_overrides(
            {"trajectories": {key: {"change": {intervention: base + effect}}}}
        )
    raise ScenarioError(
        f"analysis {spec.id!r} ({spec.model} of {spec.outcome}): no scenario knob sets its "
        "effect; set the effect in a scenario file instead"
    )


# The arm-keyed tables of a scenario that carry treatment effects (paths in the scenario;
# "*" = every entry). Retention, attendance and adverse-event rates are not effects on an
# estimand and keep their values in a null scenario.
_EFFECT_TABLES: Final = tuple(
    tuple(path.split("."))
    for path in (
        "substances.*.percent",
        "trajectories.*.change",
        "trajectories.*.baseline_mean",
        "misuse.not_misusing_percent",
        "events.return_hr",
        "events.dropout_hr",
        "events.days_ratio",
        "events.adherence_percent",
        "ema.items.*.change",
        "ema.items.*.baseline_mean",
        "medications.change_percent",
    )
)


def _null_tables(node: Any, path: tuple[str, ...], reference: str) -> Any:
    if node is None:
        return None
    if not path:
        if isinstance(node, dict) and reference in node:
            return dict.fromkeys(node, node[reference])
        return node
    head, rest = path[0], path[1:]
    if not isinstance(node, dict):
        return node
    if head == "*":
        return {k: _null_tables(v, rest, reference) for k, v in node.items()}
    if head not in node:
        return node
    return {**node, head: _null_tables(node[head], rest, reference)}


def null_scenario(scenario: Scenario, protocol: Protocol) -> Scenario:
    """``scenario`` with every treatment effect removed: each arm-keyed effect table
    (percentages, changes, hazard and days ratios, adherence, dose changes) gives every arm
    the reference (last) arm's value."""
    reference = protocol.arm_ids[-1]
    data = scenario.model_dump(mode="python")
    for path in _EFFECT_TABLES:
        data = _null_tables(data, path, reference)
    return Scenario.model_validate(data)


def _at_week(table: dict[int, float], week: int) -> float:
    weeks = sorted(table)
    if week <= weeks[0]:
        return table[weeks[0]]
    if week >= weeks[-1]:
        return table[weeks[-1]]
    for lo, hi in itertools.pairwise(weeks):
        if lo <= week <= hi:
            return table[lo] + (table[hi] - table[lo]) * (week - lo) / (hi - lo)
    raise AssertionError("unreachable")


def _misuse_odds_ratio(
    table: dict[str, dict[int, float]],
    protocol: Protocol,
    spec: AnalysisSpec,
    comparison: str,
    reference: str,
) -> float | None:
    """The odds ratio of not misusing at the analysis' time level; over several levels, the
    common odds ratio when it is the same at each (what a logistic GEE with a time term then
    estimates), else None. Levels are read at the screening instrument's assessment weeks,
    as the outcome derivation reads them."""
    if spec.estimand.measure != "odds_ratio" or not spec.time_levels:
        return None
    screen = spec.derive.params.get("screen")
    instrument = screen.get("instrument") if isinstance(screen, dict) else None
    if not isinstance(instrument, str):
        return None
    weeks = time_weeks(protocol, spec, instrument)
    ratios = []
    for level in spec.time_levels:
        week = weeks[level]
        p1 = _at_week(table[comparison], week) / 100
        p0 = _at_week(table[reference], week) / 100
        ratios.append((p1 / (1 - p1)) / (p0 / (1 - p0)))
    if max(ratios) - min(ratios) > 1e-9 * max(ratios):
        return None
    return ratios[-1]


def true_effect(scenario: Scenario, protocol: Protocol, spec: AnalysisSpec) -> float | None:
    """The simulated truth of ``spec``'s contrast on its estimand's scale (comparison =
    first arm, reference = last arm; a difference flipped when improvement is positive, a
    ratio as a ratio), or None when no single scenario knob sets it."""
    comparison, reference = protocol.arm_ids[0], protocol.arm_ids[-1]
    sign = -1.0 if spec.estimand.flips_sign else 1.0
    kind, key = scenario_key(scenario, spec)
    if kind == "substance":
        percent = scenario.substances[key].percent
        return sign * (percent[comparison] - percent[reference])
    if kind == "trajectory":
        change = scenario.trajectories[key].change
        return sign * (change[comparison] - change[reference])
    derive = spec.derive
    if derive.kind == "misuse_index" and scenario.misuse is not None:
        ratio = _misuse_odds_ratio(
            scenario.misuse.not_misusing_percent, protocol, spec, comparison, reference
        )
        if ratio is None:
            return None
        return ratio if derive.params.get("one_is") == "no_misuse" else 1 / ratio
    events = scenario.events
    if events is None:
        return None
    if derive.kind == "time_to_event" and spec.estimand.measure == "hazard_ratio":
        event = derive.params.get("event")
        hazards: dict[str, float] | None = None
        if event == "first_use":
            hazards = events.return_hr
        elif event == "week_column":
            hazards = events.dropout_hr
        return None if hazards is None else hazards[comparison] / hazards[reference]
    if derive.kind == "drug_use_count" and spec.estimand.measure == "ratio_of_means":
        ratios = events.days_ratio or {}
        if not ratios:
            return None
        return ratios[comparison] / ratios[reference]
    if derive.kind == "medication_adherence" and spec.estimand.measure.startswith("difference"):
        adherence = events.adherence_percent
        return sign * (adherence[comparison] - adherence[reference])
    return None


def null_effect(spec: AnalysisSpec) -> float:
    """No effect on ``spec``'s estimand scale: 1 for a ratio, 0 for a difference."""
    return 1.0 if spec.estimand.is_ratio else 0.0


def on_model_scale(spec: AnalysisSpec, value: float) -> float:
    """A value of the estimand on the scale of its standard error (log for ratios)."""
    return math.log(value) if spec.estimand.is_ratio else value


__all__ = [
    "null_effect",
    "null_scenario",
    "on_model_scale",
    "scenario_key",
    "true_effect",
    "with_effect",
]
