"""One random stream per component of the simulator, all from one ``SeedSequence(seed)``.

The streams are spawned in the order of the fields below; a component only ever draws
from its own stream, so changing one knob leaves every other component's draws of a seed
as they were. New streams are appended at the end (earlier ones keep their draws).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Streams:
    """The random ``Generator`` of each component (field order = spawn order)."""

    sample: np.random.Generator
    allocation: np.random.Generator
    funnel: np.random.Generator
    retention: np.random.Generator
    attendance: np.random.Generator
    collection: np.random.Generator
    trajectories: np.random.Generator
    substances: np.random.Generator
    toxicology: np.random.Generator
    misuse_model: np.random.Generator
    events: np.random.Generator
    adverse_events: np.random.Generator
    generic: np.random.Generator
    # Added with format version 2 (appended, so the streams above keep their draws).
    demographics: np.random.Generator
    days: np.random.Generator
    ema: np.random.Generator
    medications: np.random.Generator
    # Added with the therapy-group effects (appended: earlier streams keep their draws).
    groups: np.random.Generator


def spawn_streams(seed: int) -> Streams:
    """Every component's stream for ``seed``."""
    names = [f.name for f in fields(Streams)]
    children = np.random.SeedSequence(seed).spawn(len(names))
    return Streams(
        **{name: np.random.default_rng(s) for name, s in zip(names, children, strict=True)}
    )
