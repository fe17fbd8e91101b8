"""Results of running a protocol's analysis plan.

The runner (:mod:`mindtrial.analysis.runner`) returns an :class:`AnalysisReport`: one
:class:`AnalysisResult` per prespecified analysis and per sensitivity analysis, each with the
full coefficient table and the summaries a paper reports. An analysis that cannot be fitted
keeps its place in the report with ``status == "error"`` and the reason in ``error``; warnings
(non-convergence, dropped rows, ...) are listed on the analysis they concern.

Nothing here renders anything (:mod:`mindtrial.report` does). The ``results.json`` document
is ``to_json(report)`` (:mod:`.serialize`): each class's field order is its key order, and the
fields whose JSON key differs from the Python name say so with :func:`.serialize.json_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from mindtrial.analysis.results.model import COEFFICIENT_COLUMNS, WaldTest
from mindtrial.analysis.results.serialize import json_name, json_value
from mindtrial.analysis.results.tidy import frame
from mindtrial.protocols.model_names import results_model_name

Status = Literal["ok", "warning", "error"]
Kind = Literal["analysis", "sensitivity"]

RESULTS_FORMAT = "mindtrial-analysis-results"
"""The ``format`` of a ``results.json`` document; ``format_version`` is :data:`RESULTS_VERSION`."""
RESULTS_VERSION = 1

CONTRAST_COLUMNS: tuple[str, ...] = (
    "label",
    "measure",
    "comparison",
    "reference",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
    "df",
    "bh_p_value",
)
"""Columns of :meth:`Summary.to_frame`, one row per between-arm contrast."""


@dataclass(frozen=True, kw_only=True)
class Coefficient:
    """One row of a coefficient table (fixed effects for mixed models)."""

    term: str
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float


@dataclass(frozen=True, kw_only=True)
class ArmEstimate:
    """A model-based estimate for one arm (a percentage, a change, a rate, ...).

    ``baseline``/``final`` are the model-based means at the first and last time level for
    change-from-baseline analyses; ``cohen_d`` and ``percent_change`` are filled where the
    paper reports them.
    """

    arm: str
    label: str
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    n_participants: int
    baseline: float | None = None
    final: float | None = None
    cohen_d: float | None = None
    percent_change: float | None = None
    events: int | None = None
    person_time: float | None = None


@dataclass(frozen=True, kw_only=True)
class Contrast:
    """A between-arm comparison: ``comparison`` arm minus (or over) the ``reference`` arm.

    ``measure`` says what the number is ("difference in percentage points", "odds ratio", ...);
    ratios are reported on their natural scale with the interval exponentiated. ``direction``
    says which side of no effect favours the comparison arm. ``df`` is the t degrees of
    freedom when t inference was used (pooled imputations), else ``None``. ``bh_p_value`` is
    set when the plan puts the analysis in a multiplicity family.
    """

    label: str
    measure: str
    direction: str | None = None
    comparison: str
    reference: str
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    df: float | None = None
    bh_p_value: float | None = None
    cohen_d: float | None = None


@dataclass(frozen=True, kw_only=True)
class Published:
    """The paper's value of an estimand (from the protocol's ``published.results``)."""

    description: str
    measure: str
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None
    arms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EstimandInfo:
    """The protocol's estimand of an analysis, as results.json states it."""

    label: str
    measure: str
    direction: str
    time_point: str | None
    population: str


@dataclass(frozen=True, kw_only=True)
class Multiplicity:
    """The Benjamini–Hochberg family an analysis belongs to (``name``, the protocol's
    ``family``). ``complete`` is False when a member could not be fitted or was withheld:
    the adjusted p-values were then computed over the remaining members only, and
    ``failed`` names the missing ones."""

    name: str = field(metadata=json_name("family"))
    members: tuple[str, ...]
    failed: tuple[str, ...]
    complete: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "complete", not self.failed)


@dataclass(frozen=True, kw_only=True)
class TimePoint:
    """A model-based mean (or probability) for one arm at one time level, for figures."""

    arm: str
    time: int
    estimate: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True, kw_only=True)
class Summary:
    """What the paper reports for one analysis.

    ``measure`` names what the per-arm estimates are; ``contrast`` is the main between-arm
    comparison; ``other_contrasts`` holds further reported comparisons (e.g. the difference
    in means at the last week); ``trajectory`` the model-based means by time for figures.
    ``bh_p_value`` (the main contrast's) and ``cohen_d`` (per arm, and ``"difference"`` for
    the main contrast) are derived, repeated for readers of ``results.json``.
    """

    measure: str
    arms: tuple[ArmEstimate, ...]
    contrast: Contrast | None = None
    published: Published | None = None
    multiplicity: Multiplicity | None = None
    bh_p_value: float | None = field(init=False)
    cohen_d: Mapping[str, float] = field(init=False)
    other_contrasts: tuple[Contrast, ...] = ()
    interaction: WaldTest | None = None
    trajectory: tuple[TimePoint, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        contrast = self.contrast
        effect_sizes = {a.arm: a.cohen_d for a in self.arms if a.cohen_d is not None}
        if contrast is not None and contrast.cohen_d is not None:
            effect_sizes["difference"] = contrast.cohen_d
        object.__setattr__(self, "bh_p_value", None if contrast is None else contrast.bh_p_value)
        object.__setattr__(self, "cohen_d", effect_sizes)

    def to_frame(self) -> pd.DataFrame:
        """The main contrast then the other contrasts, columns :data:`CONTRAST_COLUMNS`."""
        main = () if self.contrast is None else (self.contrast,)
        return frame([*main, *self.other_contrasts], CONTRAST_COLUMNS)


@dataclass(frozen=True, kw_only=True)
class AnalysisResult:
    """One analysis of the plan (``kind="analysis"``) or one sensitivity analysis of it.

    Sensitivity analyses have ids ``"<sensitivity id>.<analysis id>"`` (e.g.
    ``"completers.primary"``) and name the analysis in ``applies_to``. ``status`` is
    ``"error"`` when no model could be fitted (``error`` says why; ``coefficients`` is empty
    and ``summary`` is ``None``), ``"warning"`` when a model was fitted with warnings
    (non-convergence, dropped data), else ``"ok"``. ``multiplicity_family`` is the
    Benjamini–Hochberg family the plan puts the analysis in (JSON key ``family``).
    """

    id: str
    title: str
    kind: Kind
    # The protocol's model name; results.json keeps writing its earlier name.
    model: str = field(metadata=json_value(results_model_name))
    outcome: str
    outcome_kind: str | None = None
    estimand: EstimandInfo | None = None
    published: Published | None = None
    formula: str | None
    multiplicity_family: str | None = field(metadata=json_name("family"))
    status: Status
    n_participants: int
    n_observations: int
    converged: bool | None
    warnings: tuple[str, ...]
    error: str | None = None
    applies_to: str | None = None
    sensitivity: str | None = None
    imputations: int | None = None
    coefficients: tuple[Coefficient, ...] = ()
    summary: Summary | None = None

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table, columns :data:`COEFFICIENT_COLUMNS`."""
        return frame(self.coefficients, COEFFICIENT_COLUMNS)


@dataclass(frozen=True, kw_only=True)
class ArmInfo:
    """An arm as the report names it: its code in the data and the label shown.

    In a masked (blinded) dataset ``code`` is the opaque code and ``label`` repeats it.
    """

    code: str
    label: str
    n_randomized: int


@dataclass(frozen=True, eq=False, kw_only=True)
class AnalysisReport:
    """Everything the runner computed, ready for ``results.json`` and the HTML report."""

    format_name: str = field(default=RESULTS_FORMAT, init=False, metadata=json_name("format"))
    format_version: int = field(default=RESULTS_VERSION, init=False)
    protocol_id: str
    protocol_version: str
    arms_masked: bool
    arms: tuple[ArmInfo, ...]
    reference_arm: str
    comparison_arm: str
    seed: int
    imputations: int
    versions: Mapping[str, str] = field(default_factory=dict)
    analyses: tuple[AnalysisResult, ...]

    def analysis(self, analysis_id: str) -> AnalysisResult:
        for result in self.analyses:
            if result.id == analysis_id:
                return result
        raise KeyError(f"no analysis {analysis_id!r} in the report")

    def arm_label(self, code: str) -> str:
        for arm in self.arms:
            if arm.code == code:
                return arm.label
        return code

    def to_frame(self) -> pd.DataFrame:
        """Every analysis's main contrast: ``analysis``, ``status`` then
        :data:`CONTRAST_COLUMNS` (missing numbers where an analysis has no contrast)."""
        rows = []
        for result in self.analyses:
            contrast = None if result.summary is None else result.summary.contrast
            cells = [None if contrast is None else getattr(contrast, c) for c in CONTRAST_COLUMNS]
            rows.append([result.id, result.status, *cells])
        return pd.DataFrame(rows, columns=["analysis", "status", *CONTRAST_COLUMNS])
