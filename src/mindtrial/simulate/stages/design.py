"""The fixed inputs of one simulated trial and the protocol's assessment schedule."""

from __future__ import annotations

from dataclasses import dataclass

from mindtrial.dataset import follow_up_week
from mindtrial.protocols import Protocol
from mindtrial.simulate.scenario import Scenario

# dmi_interview: the Drug Misuse Index interview belongs to the misuse model.
_SKIPPED_INSTRUMENTS = frozenset({"adverse_event", "dmi_interview"})


@dataclass(frozen=True)
class TrialDesign:
    """What every stage may read: the protocol, the scenario knobs and the trial size."""

    protocol: Protocol
    scenario: Scenario
    n: int
    """Participants randomized."""
    arms: tuple[str, ...]
    final_week: int
    """The last week anyone is followed (end of treatment or the last follow-up)."""
    instruments: frozenset[str]
    """The protocol's participant-answered instruments the simulator fills."""


def trial_design(protocol: Protocol, scenario: Scenario, n: int) -> TrialDesign:
    return TrialDesign(
        protocol=protocol,
        scenario=scenario,
        n=n,
        arms=tuple(protocol.arm_ids),
        final_week=final_week(protocol),
        instruments=frozenset(
            a.instrument for a in protocol.assessments if a.instrument not in _SKIPPED_INSTRUMENTS
        ),
    )


def assessment_weeks(protocol: Protocol, instrument: str) -> list[int]:
    """The weeks ``instrument`` is answered by participants (staff-rated ones excluded)."""
    weeks: set[int] = set()
    for a in protocol.assessments:
        if a.instrument == instrument and a.mode != "staff":
            weeks.update(a.weeks)
            weeks.update(follow_up_week(m) for m in a.months)
    return sorted(weeks)


def final_week(protocol: Protocol) -> int:
    weeks = [protocol.weeks]
    for a in protocol.assessments:
        weeks += list(a.weeks) + [follow_up_week(m) for m in a.months]
    weeks += [follow_up_week(m) for m in protocol.follow_up_months]
    return max(weeks)
