"""Instruments as data, with scoring.

Each instrument (questionnaire, log, test result, adverse-event form) is a YAML file in
``instruments/data/`` validated by :mod:`mindtrial.instruments.schema`. This package loads
them, validates answers against their items and scores them::

    from mindtrial.instruments import score
    result = score("phq9", {"phq9_1": 2, ...})
    result.scores["total"], result.bands["total"]

The morphine-milligram-equivalent calculator lives in :mod:`mindtrial.instruments.mme`.
"""

from mindtrial.instruments.registry import (
    InstrumentDefinitionError,
    get_instrument,
    list_instruments,
    load_instrument_file,
    parse_instrument,
)
from mindtrial.instruments.schema import Instrument, Item, ItemType
from mindtrial.instruments.scoring import (
    Answer,
    ScoreResult,
    ScoringError,
    describe_expected,
    score,
    validate_answer,
)

__all__ = [
    "Answer",
    "Instrument",
    "InstrumentDefinitionError",
    "Item",
    "ItemType",
    "ScoreResult",
    "ScoringError",
    "describe_expected",
    "get_instrument",
    "list_instruments",
    "load_instrument_file",
    "parse_instrument",
    "score",
    "validate_answer",
]
