"""The analysis layer's results, one vocabulary from a single fit to a whole plan.

* :mod:`.model`: :class:`ModelResult` (one fitted model; :class:`GeeResult`,
  :class:`NegBinResult`, :class:`MixedResult` and :class:`CoxResult` add their
  model's own parameters), :class:`Estimate`,
  :class:`WaldTest`, :class:`MarginalProbabilities`, :class:`PooledResult`;
* :mod:`.plan`: :class:`AnalysisReport` (``results.json``) and its parts,
  :class:`AnalysisResult`, :class:`Summary`, :class:`Contrast`, :class:`ArmEstimate` ...;
* :mod:`.tidy`: the shared protocol, ``to_frame()`` → a tidy data frame;
* :mod:`.serialize`: :func:`to_json`, the one JSON encoder of all of them.

Results hold numbers; :mod:`mindtrial.report.printer` turns them into text.
"""

from mindtrial.analysis.results.model import (
    COEFFICIENT_COLUMNS,
    CoxResult,
    DesignBuilder,
    Estimate,
    GeeResult,
    MarginalProbabilities,
    MixedResult,
    ModelResult,
    NegBinResult,
    PooledResult,
    WaldTest,
)
from mindtrial.analysis.results.plan import (
    CONTRAST_COLUMNS,
    AnalysisReport,
    AnalysisResult,
    ArmEstimate,
    ArmInfo,
    Coefficient,
    Contrast,
    EstimandInfo,
    Kind,
    Multiplicity,
    Published,
    Status,
    Summary,
    TimePoint,
)
from mindtrial.analysis.results.serialize import JsonValue, to_json
from mindtrial.analysis.results.tidy import Tidy

__all__ = [
    "COEFFICIENT_COLUMNS",
    "CONTRAST_COLUMNS",
    "AnalysisReport",
    "AnalysisResult",
    "ArmEstimate",
    "ArmInfo",
    "Coefficient",
    "Contrast",
    "CoxResult",
    "DesignBuilder",
    "EstimandInfo",
    "Estimate",
    "GeeResult",
    "JsonValue",
    "Kind",
    "MarginalProbabilities",
    "MixedResult",
    "ModelResult",
    "Multiplicity",
    "NegBinResult",
    "PooledResult",
    "Published",
    "Status",
    "Summary",
    "Tidy",
    "TimePoint",
    "WaldTest",
    "to_json",
]
