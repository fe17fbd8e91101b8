"""Outcome derivation: a study dataset → tidy pandas frames, as each protocol defines.

The frames and their columns are documented in ``docs/outcomes.md``. What an analysis
analyses is chosen by its outcome *kind* (:mod:`mindtrial.outcomes.kinds`, the one registry).
"""

from mindtrial.outcomes.abstinence import abstinence_periods, periods, toxicology_tests
from mindtrial.outcomes.engagement import attendance_summary, final_week, retention
from mindtrial.outcomes.frames import (
    analysis_frame_periods,
    analysis_frame_scores,
    participant_frame,
)
from mindtrial.outcomes.scores import incomplete_forms, scored_instruments

__all__ = [
    "abstinence_periods",
    "analysis_frame_periods",
    "analysis_frame_scores",
    "attendance_summary",
    "final_week",
    "incomplete_forms",
    "participant_frame",
    "periods",
    "retention",
    "scored_instruments",
    "toxicology_tests",
]
