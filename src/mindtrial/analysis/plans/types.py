"""Typed results of running a protocol's analysis plan.

The runner (:mod:`mindtrial.analysis.runner`) returns an :class:`AnalysisReport`: one
:class:`AnalysisResult` per prespecified analysis and per sensitivity analysis, each with the
full coefficient table and the summaries a paper reports. An analysis that cannot be fitted
keeps its place in the report with ``status == "error"`` and the reason in ``error``; warnings
(non-convergence, dropped rows, ...) are listed on the analysis they concern. Nothing here
renders anything: :mod:`mindtrial.report` does that, and :meth:`AnalysisReport.to_json` gives
the ``results.json`` document.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mindtrial.protocols.model_names import results_model_name

Status = Literal["ok", "warning", "error"]
Kind = Literal["analysis", "sensitivity"]

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def _num(x: float | None) -> float | None:
    """A float for JSON: ``None`` for missing or non-finite values (JSON has no NaN)."""
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Coefficient:
    """One row of a coefficient table (fixed effects for mixed models)."""

    term: str
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "term": self.term,
            "estimate": _num(self.estimate),
            "std_error": _num(self.std_error),
            "ci_lower": _num(self.ci_lower),
            "ci_upper": _num(self.ci_upper),
            "p_value": _num(self.p_value),
        }


@dataclass(frozen=True)
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

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "arm": self.arm,
            "label": self.label,
            "estimate": _num(self.estimate),
            "std_error": _num(self.std_error),
            "ci_lower": _num(self.ci_lower),
            "ci_upper": _num(self.ci_upper),
            "n_participants": self.n_participants,
            "baseline": _num(self.baseline),
            "final": _num(self.final),
            "cohen_d": _num(self.cohen_d),
            "percent_change": _num(self.percent_change),
            "events": self.events,
            "person_time": _num(self.person_time),
        }


@dataclass(frozen=True)
class Contrast:
    """A between-arm comparison: ``comparison`` arm minus (or over) the ``reference`` arm.

    ``measure`` says what the number is ("difference in percentage points", "odds ratio", ...);
    ratios are reported on their natural scale with the interval exponentiated. ``df`` is the
    t degrees of freedom when t inference was used (pooled imputations), else ``None``.
    ``bh_p_value`` is set when the plan puts the analysis in a multiplicity family.
    """

    label: str
    measure: str
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
    direction: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "label": self.label,
            "measure": self.measure,
            "direction": self.direction,
            "comparison": self.comparison,
            "reference": self.reference,
            "estimate": _num(self.estimate),
            "std_error": _num(self.std_error),
            "ci_lower": _num(self.ci_lower),
            "ci_upper": _num(self.ci_upper),
            "p_value": _num(self.p_value),
            "df": _num(self.df),
            "bh_p_value": _num(self.bh_p_value),
            "cohen_d": _num(self.cohen_d),
        }


@dataclass(frozen=True)
class Published:
    """The paper's value of an estimand (from the protocol's ``published.results``)."""

    description: str
    measure: str
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None
    arms: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "description": self.description,
            "measure": self.measure,
            "estimate": _num(self.estimate),
            "ci_lower": _num(self.ci_lower),
            "ci_upper": _num(self.ci_upper),
            "p_value": _num(self.p_value),
            "arms": {k: _num(v) for k, v in self.arms.items()},
        }


@dataclass(frozen=True)
class EstimandInfo:
    """The protocol's estimand of an analysis, as results.json states it."""

    label: str
    measure: str
    direction: str
    time_point: str | None
    population: str

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "label": self.label,
            "measure": self.measure,
            "direction": self.direction,
            "time_point": self.time_point,
            "population": self.population,
        }


@dataclass(frozen=True)
class Multiplicity:
    """The Benjamini–Hochberg family an analysis belongs to. ``complete`` is False when a
    member could not be fitted or was withheld: the adjusted p-values were then computed
    over the remaining members only, and ``failed`` names the missing ones."""

    family: str
    members: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "family": self.family,
            "members": list(self.members),
            "failed": list(self.failed),
            "complete": self.complete,
        }


@dataclass(frozen=True)
class InteractionTest:
    """Joint Wald chi-square test of the arm × time interaction terms."""

    terms: tuple[str, ...]
    chi2: float
    df: int
    p_value: float

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "terms": list(self.terms),
            "chi2": _num(self.chi2),
            "df": self.df,
            "p_value": _num(self.p_value),
        }


@dataclass(frozen=True)
class TimePoint:
    """A model-based mean (or probability) for one arm at one time level, for figures."""

    arm: str
    time: int
    estimate: float
    ci_lower: float
    ci_upper: float

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "arm": self.arm,
            "time": self.time,
            "estimate": _num(self.estimate),
            "ci_lower": _num(self.ci_lower),
            "ci_upper": _num(self.ci_upper),
        }


@dataclass(frozen=True)
class Summary:
    """What the paper reports for one analysis.

    ``measure`` names what the per-arm estimates are; ``contrast`` is the main between-arm
    comparison; ``other_contrasts`` holds further reported comparisons (e.g. the difference
    in means at the last week); ``trajectory`` the model-based means by time for figures.
    """

    measure: str
    arms: tuple[ArmEstimate, ...]
    contrast: Contrast | None = None
    other_contrasts: tuple[Contrast, ...] = ()
    interaction: InteractionTest | None = None
    trajectory: tuple[TimePoint, ...] = ()
    notes: tuple[str, ...] = ()
    published: Published | None = None
    multiplicity: Multiplicity | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "measure": self.measure,
            "arms": [a.to_json() for a in self.arms],
            "contrast": None if self.contrast is None else self.contrast.to_json(),
            "published": None if self.published is None else self.published.to_json(),
            "multiplicity": None if self.multiplicity is None else self.multiplicity.to_json(),
            "bh_p_value": None if self.contrast is None else _num(self.contrast.bh_p_value),
            "cohen_d": {
                **{a.arm: _num(a.cohen_d) for a in self.arms if a.cohen_d is not None},
                **(
                    {"difference": _num(self.contrast.cohen_d)}
                    if self.contrast is not None and self.contrast.cohen_d is not None
                    else {}
                ),
            },
            "other_contrasts": [c.to_json() for c in self.other_contrasts],
            "interaction": None if self.interaction is None else self.interaction.to_json(),
            "trajectory": [t.to_json() for t in self.trajectory],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class AnalysisResult:
    """One analysis of the plan (``kind="analysis"``) or one sensitivity analysis of it.

    Sensitivity analyses have ids ``"<sensitivity id>.<analysis id>"`` (e.g.
    ``"completers.primary"``) and name the analysis in ``applies_to``. ``status`` is
    ``"error"`` when no model could be fitted (``error`` says why; ``coefficients`` is empty
    and ``summary`` is ``None``), ``"warning"`` when a model was fitted with warnings
    (non-convergence, dropped data), else ``"ok"``.
    """

    id: str
    title: str
    kind: Kind
    model: str  # the protocol's model name; results.json writes its earlier name
    outcome: str
    formula: str | None
    family: str | None
    status: Status
    n_participants: int
    n_observations: int
    converged: bool | None
    warnings: tuple[str, ...]
    coefficients: tuple[Coefficient, ...] = ()
    summary: Summary | None = None
    error: str | None = None
    applies_to: str | None = None
    sensitivity: str | None = None
    imputations: int | None = None
    outcome_kind: str | None = None
    estimand: EstimandInfo | None = None
    published: Published | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "model": results_model_name(self.model),
            "outcome": self.outcome,
            "outcome_kind": self.outcome_kind,
            "estimand": None if self.estimand is None else self.estimand.to_json(),
            "published": None if self.published is None else self.published.to_json(),
            "formula": self.formula,
            "family": self.family,
            "status": self.status,
            "n_participants": self.n_participants,
            "n_observations": self.n_observations,
            "converged": self.converged,
            "warnings": list(self.warnings),
            "error": self.error,
            "applies_to": self.applies_to,
            "sensitivity": self.sensitivity,
            "imputations": self.imputations,
            "coefficients": [c.to_json() for c in self.coefficients],
            "summary": None if self.summary is None else self.summary.to_json(),
        }


@dataclass(frozen=True)
class ArmInfo:
    """An arm as the report names it: its code in the data and the label shown.

    In a masked (blinded) dataset ``code`` is the opaque code and ``label`` repeats it.
    """

    code: str
    label: str
    n_randomized: int


@dataclass(frozen=True, eq=False)
class AnalysisReport:
    """Everything the runner computed, ready for ``results.json`` and the HTML report."""

    protocol_id: str
    protocol_version: str
    arms_masked: bool
    arms: tuple[ArmInfo, ...]
    reference_arm: str
    comparison_arm: str
    seed: int
    imputations: int
    analyses: tuple[AnalysisResult, ...]
    versions: Mapping[str, str] = field(default_factory=dict)

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

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "format": "mindtrial-analysis-results",
            "format_version": 1,
            "protocol_id": self.protocol_id,
            "protocol_version": self.protocol_version,
            "arms_masked": self.arms_masked,
            "arms": [
                {"code": a.code, "label": a.label, "n_randomized": a.n_randomized}
                for a in self.arms
            ],
            "reference_arm": self.reference_arm,
            "comparison_arm": self.comparison_arm,
            "seed": self.seed,
            "imputations": self.imputations,
            "versions": dict(self.versions),
            "analyses": [a.to_json() for a in self.analyses],
        }
