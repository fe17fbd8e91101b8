"""The one registry of outcome kinds.

An analysis of a protocol names its outcome's *kind* and parameters
(``derive: {kind: ..., params: {...}}``); :func:`derive_outcome` validates the parameters
with the kind's model and derives the outcome. Adding a kind = a derivation function, its
parameter model and one line in :data:`KINDS` (and its definition in docs/outcomes.md);
no other code names outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import ValidationError

from mindtrial.dataset import StudyDataset
from mindtrial.outcomes.kinds.common import OutcomeError, OutcomeFrame, Params
from mindtrial.outcomes.kinds.ema import EmaParams, derive_ema
from mindtrial.outcomes.kinds.events import (
    CountParams,
    TimeToEventParams,
    derive_count,
    derive_time_to_event,
)
from mindtrial.outcomes.kinds.medication import (
    AdherenceParams,
    DoseParams,
    derive_adherence,
    derive_dose,
)
from mindtrial.outcomes.kinds.scores import ScoreParams, derive_score
from mindtrial.outcomes.kinds.substance import (
    MisuseParams,
    PeriodParams,
    UseCountParams,
    derive_misuse,
    derive_periods,
    derive_use_count,
)
from mindtrial.protocols.model_names import ModelName
from mindtrial.protocols.schema import AnalysisSpec, Protocol

P = TypeVar("P", bound=Params)

__all__ = ["KINDS", "OutcomeError", "OutcomeFrame", "OutcomeKind", "derive_outcome"]


@dataclass(frozen=True)
class OutcomeKind(Generic[P]):
    """A kind of outcome: what it is, its parameter model, its derivation and which models
    can analyse it."""

    name: str
    summary: str
    params: type[P]
    derive: Callable[[StudyDataset, Protocol, AnalysisSpec, P], OutcomeFrame]
    models: tuple[ModelName, ...]

    def parse(self, raw: object) -> P:
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors()
            )
            raise OutcomeError(f"outcome kind {self.name!r}: bad params: {problems}") from None


KINDS: dict[str, OutcomeKind[Params]] = {
    kind.name: kind  # type: ignore[misc]
    for kind in (
        OutcomeKind(
            "instrument_score",
            "one score of one instrument at each time level",
            ScoreParams,
            derive_score,
            ("lmm_gaussian",),
        ),
        OutcomeKind(
            "period_abstinence",
            "non-abstinent (1) or abstinent (0) period for a substance group",
            PeriodParams,
            derive_periods,
            ("gee_logistic", "glm_logistic", "gee_poisson"),
        ),
        OutcomeKind(
            "misuse_index",
            "Drug Misuse Index at each assessment (questionnaire, interview, toxicology)",
            MisuseParams,
            derive_misuse,
            ("gee_logistic", "glm_logistic"),
        ),
        OutcomeKind(
            "drug_use_count",
            "days (or weeks) of any drug use over follow-up, days (weeks) assessed as exposure",
            UseCountParams,
            derive_use_count,
            ("glm_negative_binomial",),
        ),
        OutcomeKind(
            "event_count",
            "count of recorded events over follow-up, follow-up weeks as exposure",
            CountParams,
            derive_count,
            ("glm_negative_binomial",),
        ),
        OutcomeKind(
            "time_to_event",
            "weeks to the first event, censored at the end of follow-up",
            TimeToEventParams,
            derive_time_to_event,
            ("cox_ph",),
        ),
        OutcomeKind(
            "ema_mean",
            "person-week mean of answered EMA prompts at each time level",
            EmaParams,
            derive_ema,
            ("lmm_gaussian",),
        ),
        OutcomeKind(
            "opioid_dose",
            "total MME/day of the medication list at each time level",
            DoseParams,
            derive_dose,
            ("lmm_gaussian",),
        ),
        OutcomeKind(
            "medication_adherence",
            "scheduled doses of a medication taken (1) or missed (0)",
            AdherenceParams,
            derive_adherence,
            ("gee_logistic",),
        ),
    )
}


def derive_outcome(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> OutcomeFrame:
    """Derive ``spec``'s outcome by its kind.

    Raises:
        OutcomeError: an unknown kind, a model the kind cannot feed, bad parameters or data
            the kind needs that the dataset lacks.
    """
    kind = KINDS.get(spec.derive.kind)
    if kind is None:
        raise OutcomeError(
            f"outcome kind {spec.derive.kind!r} is not in the registry "
            f"(kinds: {', '.join(sorted(KINDS))})"
        )
    if spec.model not in kind.models:
        raise OutcomeError(
            f"outcome kind {kind.name!r} cannot be analysed by a {spec.model} model "
            f"(models: {', '.join(kind.models)})"
        )
    return kind.derive(dataset, protocol, spec, kind.parse(spec.derive.params))
