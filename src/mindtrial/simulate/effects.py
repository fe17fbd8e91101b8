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

from typing import Literal

from mindtrial.protocols.schema import AnalysisSpec, Protocol
from mindtrial.simulate.scenario import Scenario, ScenarioError

Kind = Literal["substance", "trajectory", "none"]


def scenario_key(scenario: Scenario, spec: AnalysisSpec) -> tuple[Kind, str]:
    """Which scenario knob drives ``spec``'s outcome: (kind, key)."""
    if spec.model == "gee_logistic" and spec.outcome in scenario.substances:
        return "substance", spec.outcome
    if spec.model == "lmm":
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


__all__ = ["scenario_key", "with_effect"]
