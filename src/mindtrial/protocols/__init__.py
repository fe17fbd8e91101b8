"""Protocols as data: the schema and the shipped trial protocols."""

from mindtrial.protocols.loader import (
    FieldProblem,
    ProtocolError,
    demo_protocol,
    list_protocols,
    load_protocol,
    load_protocol_file,
    protocol_from_text,
    shipped_protocol_ids,
)
from mindtrial.protocols.schema import AnalysisSpec, Arm, Covariate, Protocol

__all__ = [
    "AnalysisSpec",
    "Arm",
    "Covariate",
    "FieldProblem",
    "Protocol",
    "ProtocolError",
    "demo_protocol",
    "list_protocols",
    "load_protocol",
    "load_protocol_file",
    "protocol_from_text",
    "shipped_protocol_ids",
]
