"""The one exception type the analysis layer raises for bad input or an impossible model."""

from __future__ import annotations


class AnalysisError(ValueError):
    """A model cannot be fitted as asked (bad data, empty arm, constant covariate, ...).

    The message names the analysis input at fault and what was expected, so the CLI and the
    report can show it verbatim.
    """
