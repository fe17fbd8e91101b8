"""The numbers a paper reports, computed from a fitted model.

* substance use (logit models): model-based percentage per arm and the difference in
  percentage points (:func:`mindtrial.analysis.contrasts.marginal_probabilities`);
* change from baseline (mixed models): model-based mean per arm and time level, the
  within-arm change from the first to the last level, the difference in change between arms,
  the difference in means at the last level, the arm × time Wald χ² test, Cohen d and the
  percentage change;
* counts (negative binomial): events per 100 units of exposure per arm and the rate ratio;
* time to event (Cox): proportion with an event per arm and the hazard ratio.

Each model-based mean is a linear combination of the coefficients: the average design row
of the analysed data with ``arm`` (and time) set to one level, so covariates are averaged
over the analysed sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mindtrial.analysis.contrasts import (
    contrast,
    interaction_terms,
    marginal_probabilities,
    wald_estimate,
    wald_test,
)
from mindtrial.analysis.effect_size import change_score_sd, cohen_d, pooled_sd
from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.input_checks import formula_variables
from mindtrial.analysis.plans.frames import ARM, ID, ModelData
from mindtrial.analysis.results import (
    ArmEstimate,
    Contrast,
    Estimate,
    ModelResult,
    Summary,
    TimePoint,
)


@dataclass(frozen=True)
class Arms:
    """The arm levels of a model: ``reference`` first, and display labels."""

    reference: str
    comparison: str
    labels: dict[str, str]

    @property
    def levels(self) -> list[str]:
        return [self.reference, self.comparison]

    def label(self, code: str) -> str:
        return self.labels.get(code, code)

    @property
    def contrast_label(self) -> str:
        return f"{self.label(self.comparison)} − {self.label(self.reference)}"

    @property
    def ratio_label(self) -> str:
        return f"{self.label(self.comparison)} / {self.label(self.reference)}"


def _participants_by_arm(result: ModelResult, arms: Arms) -> dict[str, int]:
    """Participants per arm among the analysed rows (rows per arm for one-row-per-participant
    models, whose analysed data carry no participant id)."""
    data = result.data
    if data is None or ARM not in data.columns:
        return {}
    groups = data.groupby(ARM, observed=False)
    counts = groups[ID].nunique() if ID in data.columns else groups.size()
    return {str(k): int(v) for k, v in counts.items()}


def _design_columns(formula: str, frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` the formula's terms use (not the outcome, not the id): only
    they tell two rows' design rows apart. Every column when the formula is not ``y ~ ...``."""
    columns = [str(c) for c in frame.columns]
    try:
        _, used = formula_variables(formula, columns)
    except AnalysisError:
        return columns
    return [c for c in columns if c in used]


def mean_rows(result: ModelResult, settings: Sequence[dict[str, object]]) -> list[np.ndarray]:
    """For each setting, the average design row of the analysed data with the given columns
    set to one value (the covariate distribution of the sample is kept).

    Rows that agree on every other column are built once and weighted by their count, and
    all settings go through the formula engine in one call.
    """
    if result.design is None or result.data is None:
        raise AnalysisError(f"{result.model} result carries no design builder for predictions")
    frame = result.data
    fixed = sorted({column for setting in settings for column in setting})
    rest = [c for c in _design_columns(result.formula, frame) if c not in fixed]
    key = (
        pd.util.hash_pandas_object(frame[rest], index=False)
        if rest
        else pd.Series(0, index=frame.index)
    )
    first = ~key.duplicated().to_numpy()
    unique = frame.loc[first]
    weights = key.map(key.value_counts()).to_numpy(dtype=float)[first]
    weights = weights / weights.sum()
    blocks = []
    for setting in settings:
        block = unique.copy()
        for column, value in setting.items():
            original = frame[column]
            if isinstance(original.dtype, pd.CategoricalDtype):
                block[column] = pd.Categorical(
                    [value] * len(block), categories=original.cat.categories
                )
            else:
                block[column] = pd.Series(
                    [value] * len(block), index=block.index, dtype=original.dtype
                )
        blocks.append(block)
    matrix = result.design(pd.concat(blocks, ignore_index=True))
    size = len(unique)
    return [weights @ matrix[i * size : (i + 1) * size] for i in range(len(settings))]


def mean_row(result: ModelResult, settings: dict[str, object]) -> np.ndarray:
    """The average design row for one setting (see :func:`mean_rows`)."""
    return mean_rows(result, [settings])[0]


def linear(result: ModelResult, weights: np.ndarray) -> Estimate:
    """Wald estimate of ``weights · beta`` (via :func:`~mindtrial.analysis.contrasts.contrast`)."""
    return contrast(result, dict(zip(result.terms, (float(w) for w in weights), strict=True)))


def _make_contrast(
    estimate: Estimate, *, label: str, measure: str, arms: Arms, scale: float = 1.0
) -> Contrast:
    return Contrast(
        label=label,
        measure=measure,
        comparison=arms.comparison,
        reference=arms.reference,
        estimate=estimate.estimate * scale,
        std_error=estimate.std_error * scale,
        ci_lower=estimate.ci_lower * scale,
        ci_upper=estimate.ci_upper * scale,
        p_value=estimate.p_value,
        df=estimate.df,
    )


def _ratio_contrast(estimate: Estimate, *, label: str, measure: str, arms: Arms) -> Contrast:
    """A log-scale estimate reported as a ratio (exponentiated estimate and interval)."""
    return Contrast(
        label=label,
        measure=measure,
        comparison=arms.comparison,
        reference=arms.reference,
        estimate=math.exp(estimate.estimate),
        std_error=estimate.std_error,
        ci_lower=math.exp(estimate.ci_lower),
        ci_upper=math.exp(estimate.ci_upper),
        p_value=estimate.p_value,
        df=estimate.df,
    )


def arm_term(result: ModelResult, arms: Arms) -> str:
    term = f"{ARM}[T.{arms.comparison}]"
    if term not in result.terms:
        raise AnalysisError(
            f"the model has no arm term {term!r} (terms: {', '.join(result.terms)})"
        )
    return term


# --------------------------------------------------------------------------- by model kind


def percent_summary(result: ModelResult, arms: Arms, *, odds_ratio: bool = False) -> Summary:
    """Model-based % of periods (or participants) with the outcome per arm; difference in
    percentage points (and the odds ratio as a further contrast when ``odds_ratio``)."""
    marginal = marginal_probabilities(result, arm=ARM, levels=arms.levels)
    counts = _participants_by_arm(result, arms)
    arm_rows = []
    table = marginal.table
    numbers = {
        c: table[c].to_numpy(dtype=float) for c in ("estimate", "std_error", "ci_lower", "ci_upper")
    }
    for i, code in enumerate(str(a) for a in table["arm"].tolist()):
        arm_rows.append(
            ArmEstimate(
                arm=code,
                label=arms.label(code),
                estimate=100 * float(numbers["estimate"][i]),
                std_error=100 * float(numbers["std_error"][i]),
                ci_lower=100 * float(numbers["ci_lower"][i]),
                ci_upper=100 * float(numbers["ci_upper"][i]),
                n_participants=counts.get(code, 0),
            )
        )
    difference = _make_contrast(
        marginal.difference,
        label=arms.contrast_label,
        measure="difference in percentage points",
        arms=arms,
        scale=100.0,
    )
    others: tuple[Contrast, ...] = ()
    main = difference
    if odds_ratio:
        est = contrast(result, {arm_term(result, arms): 1.0})
        ratio = _ratio_contrast(est, label=arms.ratio_label, measure="odds ratio", arms=arms)
        main, others = ratio, (difference,)
    return Summary(
        measure="model-based percentage with the outcome (95% CI)",
        arms=tuple(arm_rows),
        contrast=main,
        other_contrasts=others,
    )


def _change_sd(data: pd.DataFrame, outcome: str, time: str, first: int, last: int) -> pd.Series:
    """Observed change scores (last − first) per participant, with their arm as index."""
    wide = data.pivot_table(
        index=[ID, ARM], columns=time, values=outcome, aggfunc="first", observed=True
    )
    if first not in wide.columns or last not in wide.columns:
        return pd.Series(dtype="float64")
    change = (wide[last] - wide[first]).dropna()
    return change.reset_index(level=ID, drop=True)


def change_summary(
    result: ModelResult,
    arms: Arms,
    data: ModelData,
    *,
    observed: pd.DataFrame | None = None,
    with_interaction: bool = True,
) -> Summary:
    """Within-arm change first → last time level, difference in change, difference at the
    last level, interaction test, Cohen d (change / SD of observed change scores) and %
    change (change / model-based mean at the first level).

    ``observed`` gives the rows whose change scores define the SD for Cohen d (default the
    analysed rows; the imputation analysis passes the observed data).
    """
    time = data.time
    if time is None or len(data.time_values) < 2:
        raise AnalysisError("a change-from-baseline summary needs at least two time levels")
    first, last = data.time_values[0], data.time_values[-1]
    keys = [(arm, t) for arm in arms.levels for t in data.time_values]
    built = mean_rows(result, [{ARM: arm, time: t} for arm, t in keys])
    rows = dict(zip(keys, built, strict=True))
    trajectory = []
    for (arm, t), weights in rows.items():
        est = linear(result, weights)
        trajectory.append(
            TimePoint(
                arm=arm,
                time=int(t),
                estimate=est.estimate,
                ci_lower=est.ci_lower,
                ci_upper=est.ci_upper,
            )
        )
    changes = {arm: rows[(arm, last)] - rows[(arm, first)] for arm in arms.levels}
    sd_source = result.data if observed is None else observed
    assert sd_source is not None
    change_scores = _change_sd(sd_source, data.outcome, time, first, last)
    counts = _participants_by_arm(result, arms)
    notes: list[str] = []
    arm_rows = []
    sds: dict[str, float] = {}
    for arm in arms.levels:
        est = linear(result, changes[arm])
        base = linear(result, rows[(arm, first)])
        final = linear(result, rows[(arm, last)])
        scores = change_scores[change_scores.index.astype(str) == arm].to_numpy(dtype=float)
        d: float | None = None
        try:
            sds[arm] = change_score_sd(np.zeros(len(scores)), scores)
            d = cohen_d(est.estimate, sd=sds[arm])
        except AnalysisError as exc:
            notes.append(f"Cohen d for {arms.label(arm)} not computed: {exc}")
        arm_rows.append(
            ArmEstimate(
                arm=arm,
                label=arms.label(arm),
                estimate=est.estimate,
                std_error=est.std_error,
                ci_lower=est.ci_lower,
                ci_upper=est.ci_upper,
                n_participants=counts.get(arm, 0),
                baseline=base.estimate,
                final=final.estimate,
                cohen_d=d,
                percent_change=100 * est.estimate / base.estimate if base.estimate else None,
            )
        )
    did = linear(result, changes[arms.comparison] - changes[arms.reference])
    main = _make_contrast(
        did,
        label=arms.contrast_label,
        measure=f"difference in change from {time} {first} to {last}",
        arms=arms,
    )
    try:
        sd_pooled = pooled_sd(
            change_scores[change_scores.index.astype(str) == arms.comparison].to_numpy(dtype=float),
            change_scores[change_scores.index.astype(str) == arms.reference].to_numpy(dtype=float),
        )
        main = replace(main, cohen_d=cohen_d(main.estimate, sd=sd_pooled))
    except AnalysisError as exc:
        notes.append(f"Cohen d for the difference not computed: {exc}")
    at_last = linear(result, rows[(arms.comparison, last)] - rows[(arms.reference, last)])
    other = _make_contrast(
        at_last,
        label=arms.contrast_label,
        measure=f"difference in means at {time} {last}",
        arms=arms,
    )
    interaction = None
    if with_interaction:
        terms = interaction_terms(result, involving=(ARM, time))
        if terms:
            interaction = wald_test(result, terms)
    return Summary(
        measure=f"model-based change in mean from {time} {first} to {last} (95% CI)",
        arms=tuple(arm_rows),
        contrast=main,
        other_contrasts=(other,),
        interaction=interaction,
        trajectory=tuple(trajectory),
        notes=tuple(notes),
    )


def rate_summary(result: ModelResult, arms: Arms, *, per: float = 100.0) -> Summary:
    """Events per ``per`` units of exposure per arm (at the mean covariate row) and the rate
    ratio."""
    counts = _participants_by_arm(result, arms)
    arm_rows = []
    for arm in arms.levels:
        est = linear(result, mean_row(result, {ARM: arm}))
        arm_rows.append(
            ArmEstimate(
                arm=arm,
                label=arms.label(arm),
                estimate=per * math.exp(est.estimate),
                std_error=per * math.exp(est.estimate) * est.std_error,
                ci_lower=per * math.exp(est.ci_lower),
                ci_upper=per * math.exp(est.ci_upper),
                n_participants=counts.get(arm, 0),
            )
        )
    ratio = contrast(result, {arm_term(result, arms): 1.0})
    return Summary(
        measure=f"events per {per:g} participant-weeks of follow-up (95% CI)",
        arms=tuple(arm_rows),
        contrast=_ratio_contrast(ratio, label=arms.ratio_label, measure="rate ratio", arms=arms),
    )


def hazard_summary(
    result: ModelResult, arms: Arms, event: str, duration: str | None = None
) -> Summary:
    """Percentage of participants with an event per arm (Wald CI), events and person-time
    (summed ``duration``) per arm, and the hazard ratio."""
    data = result.data
    assert data is not None
    arm_rows = []
    for arm in arms.levels:
        rows = data[data[ARM].astype(str) == arm]
        n = len(rows)
        k = float(rows[event].sum())
        p = k / n if n else float("nan")
        se = math.sqrt(p * (1 - p) / n) if n else float("nan")
        arm_rows.append(
            ArmEstimate(
                arm=arm,
                label=arms.label(arm),
                estimate=100 * p,
                std_error=100 * se,
                ci_lower=100 * max(p - 1.959963984540054 * se, 0.0),
                ci_upper=100 * min(p + 1.959963984540054 * se, 1.0),
                n_participants=n,
                events=int(k),
                person_time=(
                    float(rows[duration].sum()) if duration and duration in rows else None
                ),
            )
        )
    ratio = contrast(result, {arm_term(result, arms): 1.0})
    return Summary(
        measure="participants with the event, % (95% CI)",
        arms=tuple(arm_rows),
        contrast=_ratio_contrast(ratio, label=arms.ratio_label, measure="hazard ratio", arms=arms),
    )


def pooled_contrast(
    estimates: Sequence[Contrast], pooled: Estimate, *, ratio: bool = False
) -> Contrast:
    """A contrast pooled over imputations, in the form of the per-imputation ones."""
    first = estimates[0]
    if ratio:
        return Contrast(
            label=first.label,
            measure=first.measure,
            comparison=first.comparison,
            reference=first.reference,
            estimate=math.exp(pooled.estimate),
            std_error=pooled.std_error,
            ci_lower=math.exp(pooled.ci_lower),
            ci_upper=math.exp(pooled.ci_upper),
            p_value=pooled.p_value,
            df=pooled.df,
            direction=first.direction,
        )
    return Contrast(
        label=first.label,
        measure=first.measure,
        comparison=first.comparison,
        reference=first.reference,
        estimate=pooled.estimate,
        std_error=pooled.std_error,
        ci_lower=pooled.ci_lower,
        ci_upper=pooled.ci_upper,
        p_value=pooled.p_value,
        df=pooled.df,
        direction=first.direction,
    )


__all__ = [
    "Arms",
    "arm_term",
    "change_summary",
    "hazard_summary",
    "linear",
    "mean_row",
    "percent_summary",
    "pooled_contrast",
    "rate_summary",
    "wald_estimate",
]
