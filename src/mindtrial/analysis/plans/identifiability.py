"""Degenerate data named before they reach a report.

Maximum likelihood has no finite answer when an arm has no events (or only events): the
arm's log odds ratio runs off to ±∞ and the optimizer stops somewhere meaningless, with a
tiny p-value (complete or quasi-complete separation). The same happens to the coefficient
of a covariate level or time level without events. :func:`check_identified` looks at the
rows a model will analyse, *before* fitting:

* an arm without events (or with only events) → :class:`AnalysisError` naming the cause
  in words ("no period with cocaine use in the M-ROCC arm"); the analysis is withheld and
  never enters a multiplicity family;
* a covariate or time level without events (or with only events) → a warning naming it,
  and the names of the coefficients that are not identified; the runner reports those
  coefficients as missing (the arm contrast is still identified and is reported);
* a time level of a repeated outcome without analysed rows → :class:`AnalysisError`
  (the change to that time cannot be estimated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.plans.frames import ARM, ID, ModelData
from mindtrial.analysis.plans.summaries import Arms
from mindtrial.protocols.model_names import ModelName

BINARY_MODELS: tuple[ModelName, ...] = ("gee_logistic", "glm_logistic")
COUNT_MODELS: tuple[ModelName, ...] = ("glm_negative_binomial", "gee_poisson")


@dataclass(frozen=True)
class Identification:
    """Warnings and the coefficient names that cannot be estimated."""

    warnings: tuple[str, ...] = ()
    unidentified: tuple[str, ...] = ()


def _analysed(frame: pd.DataFrame, data: ModelData, covariates: Sequence[str]) -> pd.DataFrame:
    used = [data.outcome, ARM, *covariates]
    for extra in (data.time, data.exposure, data.duration):
        if extra is not None:
            used.append(extra)
    present = [c for c in dict.fromkeys(used) if c in frame.columns]
    return frame.dropna(subset=present)


def _units(data: ModelData, rows: pd.DataFrame) -> str:
    n_people = rows[ID].nunique() if ID in rows.columns else len(rows)
    if data.time is not None:
        return f"{len(rows)} analysed {data.time}s of {n_people} participants"
    return f"{n_people} analysed participants"


def check_identified(
    model: ModelName,
    data: ModelData,
    frame: pd.DataFrame,
    covariates: Sequence[str],
    arms: Arms,
    *,
    measure: str,
) -> Identification:
    """Raise for an arm whose effect is not identified; name the covariate and time levels
    that are not (see the module docstring). ``frame`` has the arm levels set."""
    rows = _analysed(frame, data, covariates)
    event = data.event or f"{data.outcome} event"
    if data.time is not None and model in (*BINARY_MODELS, "lmm_gaussian", "gee_poisson"):
        seen = {int(v) for v in rows[data.time].unique()}
        empty = [t for t in data.time_values if t not in seen]
        if empty:
            raise AnalysisError(
                f"no analysed {data.outcome} at {data.time} "
                f"{', '.join(map(str, empty))}: no participant has the outcome (and the "
                f"covariates) observed there, so the model cannot estimate that {data.time}"
            )
    if model in BINARY_MODELS or model in COUNT_MODELS or model == "cox_ph":
        y = rows[data.outcome].astype(float)
        for arm in arms.levels:
            in_arm = rows[ARM].astype(str) == arm
            values = y[in_arm]
            if values.empty:
                continue
            label = arms.label(arm)
            if float(values.sum()) == 0:
                raise AnalysisError(
                    f"no {event} in the {label} arm ({_units(data, rows[in_arm])}): the "
                    f"{measure} is not identified (zero events in one arm; complete "
                    "separation), so its estimates are withheld"
                )
            if model in BINARY_MODELS and bool((values == 1).all()):
                raise AnalysisError(
                    f"every analysed outcome in the {label} arm is a {event} "
                    f"({_units(data, rows[in_arm])}): the {measure} is not identified "
                    "(complete separation), so its estimates are withheld"
                )
    if model not in BINARY_MODELS:
        return Identification()
    warnings: list[str] = []
    unidentified: list[str] = []
    y = rows[data.outcome].astype(float)
    factors: list[tuple[str, str]] = [
        (c, c)
        for c in covariates
        if c in rows.columns and not pd.api.types.is_numeric_dtype(rows[c])
    ]
    if data.time is not None and len(data.time_values) > 1 and model != "glm_logistic":
        factors.append((data.time, f"C({data.time})"))
    for column, term in factors:
        series = rows[column]
        levels = (
            [str(v) for v in series.cat.categories]
            if isinstance(series.dtype, pd.CategoricalDtype)
            else sorted({str(v) for v in series})
        )
        if column == data.time:
            levels = [str(t) for t in data.time_values]
        text = series.astype(str)
        for i, level in enumerate(levels):
            values = y[text == level]
            if values.empty:
                continue
            if float(values.sum()) == 0:
                what = f"no {event}"
            elif bool((values == 1).all()):
                what = f"only outcomes that are a {event}"
            else:
                continue
            if i == 0:
                terms = [f"{term}[T.{other}]" for other in levels[1:]]
            else:
                terms = [f"{term}[T.{level}]"]
            unidentified += terms
            warnings.append(
                f"{column} = {level}: {what} among its {len(values)} analysed rows, so "
                f"{'its coefficient is' if i else 'the coefficients of ' + column + ' are'} "
                "not identified (quasi-complete separation) and reported as missing; the "
                "arm contrast is estimated with these rows included"
            )
    return Identification(warnings=tuple(warnings), unidentified=tuple(unidentified))
