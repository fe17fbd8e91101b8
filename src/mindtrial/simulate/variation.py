"""How much a single simulated trial varies: the Monte-Carlo spread of each estimate.

A simulated trial is one draw. ``simulate/spread/<protocol id>.json`` holds the figures of
``mindtrial simulate-check`` for the protocol's shipped scenario at the published n (the
command, seed and number of trials are recorded in the file), so a report of a simulated
trial can say where 95% of simulated trials' estimates fall, how often each analysis is
significant with the scenario's effects, and how often with none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

_SHIPPED = "mindtrial.simulate.spread"


@dataclass(frozen=True)
class EstimateSpread:
    """One analysis' estimates over many simulated trials (reporting scale)."""

    analysis_id: str
    truth: float | None
    low: float
    median: float
    high: float
    power: float | None
    type_i_error: float | None


@dataclass(frozen=True)
class Spread:
    """The Monte-Carlo spread of every checked analysis of one protocol."""

    protocol_id: str
    n: int
    reps: int
    seed: int
    command: str
    estimates: dict[str, EstimateSpread]


def spread_from_json(data: dict[str, Any], *, command: str = "") -> Spread:
    """A :class:`Spread` from ``simulate-check --json`` output."""
    estimates = {}
    for analysis_id, figures in data["estimands"].items():
        quantiles = figures.get("estimate_quantiles")
        if not quantiles:
            continue
        estimates[analysis_id] = EstimateSpread(
            analysis_id=analysis_id,
            truth=figures.get("truth"),
            low=float(quantiles[0]),
            median=float(quantiles[1]),
            high=float(quantiles[2]),
            power=figures["power"]["estimate"],
            type_i_error=figures["type_i_error"]["estimate"],
        )
    if not command:
        command = str(data.get("command", "")) or (
            f"mindtrial simulate-check --protocol {data['protocol_id']} --reps {data['reps']} "
            f"--seed {data['seed']}" + "".join(f" --analysis {a}" for a in data["estimands"])
        )
    return Spread(
        protocol_id=str(data["protocol_id"]),
        n=int(data["n"]),
        reps=int(data["reps"]),
        seed=int(data["seed"]),
        command=command,
        estimates=estimates,
    )


def shipped_spread(protocol_id: str) -> Spread | None:
    """The shipped spread of a protocol's simulated trials, or None."""
    resource = resources.files(_SHIPPED) / f"{protocol_id}.json"
    if not resource.is_file():
        return None
    return spread_from_json(json.loads(resource.read_text(encoding="utf-8")))


__all__ = ["EstimateSpread", "Spread", "shipped_spread", "spread_from_json"]
