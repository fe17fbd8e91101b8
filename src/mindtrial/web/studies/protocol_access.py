"""The one place the web app reads protocols and instruments (the pure layers)."""

from __future__ import annotations

from mindtrial.instruments.registry import get_instrument
from mindtrial.instruments.schema import Instrument
from mindtrial.protocols import Protocol, ProtocolError, load_protocol, shipped_protocol_ids
from mindtrial.protocols.criteria import Criterion, CriterionGroup

__all__ = [
    "Instrument",
    "Protocol",
    "ProtocolError",
    "baseline_instrument_ids",
    "get_instrument",
    "load_protocol",
    "screening_conditions",
    "shipped_protocol_ids",
]


def screening_conditions(protocol: Protocol) -> list[Criterion]:
    """Every condition of the eligibility criteria, groups flattened, one per record field."""
    seen: dict[str, Criterion] = {}
    for item in protocol.eligibility:
        members = item.any_of if isinstance(item, CriterionGroup) else (item,)
        for member in members:
            seen.setdefault(member.field, member)
    return list(seen.values())


def baseline_instrument_ids(protocol: Protocol) -> list[str]:
    """Instruments the protocol collects at week 0 (the baseline), in protocol order."""
    found: dict[str, None] = {}
    for assessment in protocol.assessments:
        if 0 in assessment.weeks:
            found.setdefault(assessment.instrument)
    return list(found)
