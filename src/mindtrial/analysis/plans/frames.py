"""From a study dataset and one analysis spec to the rows a model is fitted to.

Outcome derivation itself lives in :mod:`mindtrial.outcomes`; this module picks the right
frame for each kind of analysis, names its columns for the formula, converts pandas'
nullable dtypes to what the formula engine reads (floats with NaN, object strings) and applies
the plan's subset and sensitivity restrictions. Problems raise
:class:`~mindtrial.analysis.errors.AnalysisError` with a message that names the analysis input
at fault; the runner records it on that analysis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from mindtrial.analysis.errors import AnalysisError
from mindtrial.dataset import StudyDataset
from mindtrial.outcomes.kinds import derive_outcome
from mindtrial.protocols.schema import AnalysisSpec, Protocol

ID = "participant_id"
ARM = "arm"
COHORT = "cohort"
THERAPY_GROUP = "therapy_group"

# Sensitivity covariates that name a derived quantity rather than a column: the cohort a
# participant joined is the study's record of its COVID-era enrolment wave.
COVARIATE_ALIASES = {"cohort_wave": "cohort"}


@dataclass(frozen=True, eq=False)
class ModelData:
    """Rows for one model plus how to read them.

    ``frame`` has ``participant_id``, ``arm`` (categorical: reference level first), the
    outcome column, the time column (if any) and the covariates, all as floats/objects.
    ``time_values`` are the time levels in the frame's units (weeks, months or periods).
    """

    frame: pd.DataFrame
    outcome: str
    covariates: tuple[str, ...]
    time: str | None = None
    time_values: tuple[int, ...] = ()
    exposure: str | None = None
    duration: str | None = None
    event: str | None = None
    rate: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def plain_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas dtypes → float64 with NaN / object with NaN (the formula engine's diet)."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_integer_dtype(dtype) and not bool(series.isna().any()):
            out[column] = series.astype("int64")
        elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            out[column] = series.astype("Float64").astype("float64")
        elif pd.api.types.is_float_dtype(dtype):
            out[column] = series.astype("float64")
        elif pd.api.types.is_string_dtype(dtype):
            out[column] = series.astype("string").astype(object).where(series.notna(), None)
    return out


def set_arm_levels(frame: pd.DataFrame, levels: Sequence[str]) -> pd.DataFrame:
    """``arm`` as a categorical with ``levels`` (reference first); rows of other arms dropped."""
    out = frame[frame[ARM].isin(list(levels))].copy()
    out[ARM] = pd.Categorical(out[ARM].astype(str), categories=list(levels))
    return out


def order_categories(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    outcome: str,
    levels: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Text covariates as categoricals whose first level is the reference.

    The order is the protocol's (``levels``; the first listed level is the reference, e.g.
    the lowest income band) or alphabetical, restricted to the levels present in the rows the
    model analyses (outcome and every covariate in ``columns`` observed, as R drops rows with
    a missing value and then the unused levels), so an unused level never enters the design.
    """
    out = frame.copy()
    # R's model.frame drops rows with a missing outcome or covariate, then the unused levels.
    used = [c for c in dict.fromkeys([outcome, *columns]) if c in out.columns]
    observed = out.dropna(subset=used)
    for column in columns:
        series = out[column]
        if series.dtype != object:
            continue
        present = {str(v) for v in observed[column].dropna()}
        declared = [str(v) for v in levels.get(column, ())]
        order = [v for v in declared if v in present] + sorted(present - set(declared))
        out[column] = pd.Categorical(series, categories=order)
    return out


def resolve_covariates(
    frame: pd.DataFrame, names: Sequence[str], *, analysis_id: str
) -> tuple[pd.DataFrame, list[str]]:
    """The covariate columns for ``names`` (aliases applied), failing for unknown names."""
    out = frame.copy()
    resolved: list[str] = []
    for name in names:
        if name in out.columns:
            resolved.append(name)
            continue
        alias = COVARIATE_ALIASES.get(name)
        if alias is not None and alias in out.columns:
            out[name] = out[alias]
            resolved.append(name)
            continue
        raise AnalysisError(
            f"analysis {analysis_id!r}: covariate {name!r} is neither a participant column nor a "
            f"baseline covariate of the dataset (columns: {', '.join(map(str, frame.columns))})"
        )
    return out, resolved


def therapy_groups(frame: pd.DataFrame) -> pd.Series:
    """The therapy group of each row: the participants of one cohort in one arm are treated
    together; a participant without a cohort (an arm not delivered in groups) is a group of
    one. Labels are ``"<arm>/<cohort>"`` or the participant id."""
    if COHORT not in frame.columns:
        raise AnalysisError(
            "therapy groups need the participants' cohort; the analysis frame has no "
            f"{COHORT!r} column"
        )
    cohort = frame[COHORT]
    grouped = frame[ARM].astype(str) + "/" + cohort.astype(str)
    labels = grouped.where(cohort.notna(), frame[ID].astype(str))
    return labels.rename(THERAPY_GROUP)


def model_data(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> ModelData:
    """The rows for ``spec``'s model: the outcome derived by its kind
    (:func:`mindtrial.outcomes.kinds.derive_outcome`), in the formula engine's dtypes."""
    try:
        derived = derive_outcome(dataset, protocol, spec)
    except ValueError as exc:  # OutcomeError and the outcome layer's ValueErrors
        raise AnalysisError(f"analysis {spec.id!r}: {exc}") from None
    return ModelData(
        frame=plain_dtypes(derived.frame),
        outcome=derived.value,
        covariates=tuple(spec.covariates),
        time=derived.time,
        time_values=derived.time_values,
        exposure=derived.exposure,
        duration=derived.duration,
        event=derived.event,
        rate=derived.rate,
        notes=derived.notes,
    )


def drop_constant_covariates(
    data: ModelData, covariates: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Covariates that vary among rows with an observed outcome, and a warning for each one
    that does not (it is removed from the model rather than making the fit fail)."""
    observed = data.frame[data.frame[data.outcome].notna()]
    kept: list[str] = []
    warnings: list[str] = []
    for name in covariates:
        values = observed[name].dropna().unique()
        if len(values) <= 1:
            shown = "no observed value" if len(values) == 0 else f"the single value {values[0]!r}"
            warnings.append(
                f"covariate {name!r} has {shown} among the analysed rows; it was removed "
                "from the model"
            )
        else:
            kept.append(name)
    return kept, warnings


def wide_outcomes(data: ModelData) -> tuple[pd.DataFrame, list[str]]:
    """One row per participant with one outcome column per time level (for imputation)."""
    if data.time is None:
        raise AnalysisError("imputation needs repeated outcomes over time")
    frame = data.frame
    columns = [f"y_{t}" for t in data.time_values]
    wide = frame.pivot_table(
        index=ID, columns=data.time, values=data.outcome, aggfunc="first", dropna=False
    )
    wide = wide.reindex(columns=list(data.time_values))
    wide.columns = columns
    return wide.astype("float64"), columns


def long_from_wide(
    wide: pd.DataFrame, people: pd.DataFrame, data: ModelData, columns: Sequence[str]
) -> pd.DataFrame:
    """Back to one row per participant and time level (imputed outcomes filled in)."""
    assert data.time is not None
    parts = []
    for level, column in zip(data.time_values, columns, strict=True):
        part = pd.DataFrame(
            {ID: wide.index.to_numpy(), data.time: level, data.outcome: wide[column].to_numpy()}
        )
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    long = long.merge(people, on=ID, how="left")
    return long.sort_values([ID, data.time], kind="stable").reset_index(drop=True)


def participant_rows(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The first row per participant of participant-level ``columns``."""
    present = [c for c in columns if c in frame.columns]
    return frame.drop_duplicates(ID)[[ID, *[c for c in present if c != ID]]].reset_index(drop=True)
