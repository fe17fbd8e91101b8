"""Synthetic trials calibrated to the published results (see ``docs/simulation.md``)."""

from mindtrial.simulate.engine import simulate_trial
from mindtrial.simulate.scenario import (
    Scenario,
    ScenarioError,
    check_scenario,
    default_scenario,
    load_scenario,
)

__all__ = [
    "Scenario",
    "ScenarioError",
    "check_scenario",
    "default_scenario",
    "load_scenario",
    "simulate_trial",
]
