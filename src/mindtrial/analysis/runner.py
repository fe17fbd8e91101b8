"""Run a protocol's prespecified analysis plan on a study dataset.

:func:`run_analysis` fits every analysis of ``protocol.analysis.analyses`` and every
sensitivity analysis of ``protocol.analysis.sensitivity`` and returns an
:class:`~mindtrial.analysis.results.AnalysisReport`. Nothing here knows a trial: each
analysis declares its outcome kind and parameters (derived by :mod:`mindtrial.outcomes.kinds`),
its model and its estimand, and the runner

* assembles the model frame (:func:`~mindtrial.analysis.plans.frames.model_data`) and the
  formula from the model kind: GEE (``arm + C(time) + covariates``; exchangeable working
  correlation, robust SEs, clustered on participant), logistic regression (``arm +
  covariates`` at one time point), linear mixed models by ML with a random intercept
  (``arm * C(time) + covariates``), negative binomial regression with the log exposure as
  offset, Cox regression with Efron ties;
* checks that the estimand is identified (:mod:`~mindtrial.analysis.plans.identifiability`):
  an arm without events is withheld with the cause in words;
* summarises the fit as the estimand's measure with its direction and the published value
  (:mod:`~mindtrial.analysis.plans.estimands`);
* adjusts p-values by Benjamini–Hochberg across each ``family`` of the plan, marking a family
  with a member that could not be estimated;
* runs the sensitivity analyses — multiple imputation (PMM chained equations, ``imputations``
  completed datasets, Rubin's rules with Barnard–Rubin df), the model with covariates
  associated with missingness added, the completers (≥ ``min_sessions`` sessions), and the
  clustered refits: random slopes on time, participants nested in therapy groups (both REML
  unless ``reml: false``) and GEE clustered by therapy group (docs/sensitivity.md).

Any problem with one analysis (an empty arm, an outcome missing everywhere, a model that
cannot be fitted) becomes ``status="error"`` with the reason on that analysis; the others
still run. Warnings (non-convergence, covariates removed because they do not vary) are
listed on the analysis. Randomness (imputation only) comes from ``seed``.
"""

from __future__ import annotations

import dataclasses
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

import numpy as np
import pandas as pd

from mindtrial.analysis.errors import AnalysisError
from mindtrial.analysis.imputation import impute_pmm
from mindtrial.analysis.models import fit_lmm_nested, fit_lmm_slopes
from mindtrial.analysis.multiplicity import benjamini_hochberg
from mindtrial.analysis.plans.estimands import estimand_info, published_value, summarize
from mindtrial.analysis.plans.frames import (
    ARM,
    ID,
    THERAPY_GROUP,
    ModelData,
    drop_constant_covariates,
    long_from_wide,
    model_data,
    order_categories,
    plain_dtypes,
    resolve_covariates,
    set_arm_levels,
    therapy_groups,
    wide_outcomes,
)
from mindtrial.analysis.plans.identifiability import check_identified
from mindtrial.analysis.plans.summaries import Arms, pooled_contrast
from mindtrial.analysis.pooling import pool, pool_scalar
from mindtrial.analysis.results import (
    AnalysisReport,
    AnalysisResult,
    ArmEstimate,
    ArmInfo,
    Coefficient,
    Contrast,
    ModelResult,
    Multiplicity,
    Status,
    Summary,
)
from mindtrial.analysis.statsmodels_adapter import fit_cox, fit_gee, fit_lmm, fit_logit, fit_negbin
from mindtrial.dataset import StudyDataset
from mindtrial.outcomes import participant_frame
from mindtrial.protocols.model_names import results_model_name
from mindtrial.protocols.schema import CLUSTERED_KINDS, AnalysisSpec, Protocol, SensitivitySpec

__all__ = ["MainFit", "ProgressCallback", "fit_main_model", "run_analysis", "software_versions"]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)`` after each model fit (imputations included)."""

RECOMMENDED_IMPUTATIONS = 20
_FIT_ERRORS = (ValueError, ArithmeticError)  # AnalysisError and numpy's LinAlgError included
_VERSIONED = ("numpy", "pandas", "scipy", "statsmodels", "patsy", "matplotlib")


def software_versions() -> dict[str, str]:
    """Python, MindTrial and the numerical libraries whose versions a report states."""
    found = {"python": platform.python_version()}
    for name in ("mindtrial", *_VERSIONED):
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            found[name] = "not installed"
    return found


@dataclass
class _Progress:
    callback: ProgressCallback | None
    total: int
    done: int = 0

    def step(self, label: str) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(label, self.done, self.total)


Estimator = Callable[[pd.DataFrame, str, Mapping[str, Sequence[object]]], ModelResult]
"""``(frame, fixed-effects formula, levels) -> ModelResult``: a sensitivity analysis' model."""


@dataclass(frozen=True)
class _Fit:
    result: ModelResult
    summary: Summary
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    unidentified: tuple[str, ...] = ()


# --------------------------------------------------------------------------- arms


def _arms(dataset: StudyDataset, protocol: Protocol) -> tuple[tuple[ArmInfo, ...], Arms]:
    counts = dataset.participants["arm"].astype(str).value_counts().to_dict()
    if dataset.meta.arms_masked:
        codes = sorted(str(c) for c in counts)
        while len(codes) < 2:
            codes.append(f"arm {len(codes) + 1} (no participants)")
        infos = tuple(ArmInfo(code=c, label=c, n_randomized=int(counts.get(c, 0))) for c in codes)
        return infos, Arms(reference=codes[0], comparison=codes[1], labels={c: c for c in codes})
    infos = tuple(
        ArmInfo(code=a.id, label=a.label, n_randomized=int(counts.get(a.id, 0)))
        for a in protocol.arms
    )
    labels = {a.id: a.label for a in protocol.arms}
    return infos, Arms(
        reference=protocol.arms[-1].id, comparison=protocol.arms[0].id, labels=labels
    )


# --------------------------------------------------------------------------- one model


@dataclass
class _Frames:
    """:func:`model_data` derived once per analysis within one run (the main and the
    sensitivity analyses share the frame; errors are re-raised each time)."""

    dataset: StudyDataset
    protocol: Protocol
    cache: dict[str, ModelData | AnalysisError] = field(default_factory=dict)

    @property
    def masked(self) -> bool:
        return self.dataset.meta.arms_masked

    @property
    def levels(self) -> dict[str, list[str]]:
        """Reference levels of category covariates: none declared, so levels sort
        alphabetically, as R's ``factor()`` of a character column does; the R reference
        scripts in tests/reference/ rely on the same order. (The reference level changes
        the covariate's coefficients only, never the arm contrasts.)"""
        return {}

    def get(self, spec: AnalysisSpec) -> ModelData:
        if spec.id not in self.cache:
            try:
                self.cache[spec.id] = model_data(self.dataset, self.protocol, spec)
            except AnalysisError as exc:
                self.cache[spec.id] = exc
        found = self.cache[spec.id]
        if isinstance(found, AnalysisError):
            raise AnalysisError(str(found))
        return found


def _formula(spec: AnalysisSpec, data: ModelData, covariates: Sequence[str]) -> str:
    terms: list[str]
    if spec.model == "lmm_gaussian":
        assert data.time is not None
        terms = [f"{ARM} * C({data.time})"]
    else:
        terms = [ARM]
        if data.time is not None and len(data.time_values) > 1 and spec.model != "glm_logistic":
            terms.append(f"C({data.time})")
    terms += list(covariates)
    return f"{data.outcome} ~ " + " + ".join(terms)


def _fit(
    spec: AnalysisSpec,
    data: ModelData,
    covariates: Sequence[str],
    arms: Arms,
    *,
    observed: pd.DataFrame | None = None,
    category_levels: Mapping[str, Sequence[str]] | None = None,
    estimator: Estimator | None = None,
) -> _Fit:
    """Fit ``spec``'s model to ``data`` (or ``estimator``'s, a sensitivity refit of the same
    formula) and compute its summary."""
    kept, warnings = drop_constant_covariates(data, covariates)
    frame = order_categories(
        set_arm_levels(data.frame, arms.levels),
        kept,
        outcome=data.outcome,
        levels=category_levels or {},
    )
    levels: dict[str, Sequence[object]] = {ARM: arms.levels}
    formula = _formula(spec, data, kept)
    identified = check_identified(
        spec.model, data, frame, kept, arms, measure=estimand_info(spec).measure
    )
    if estimator is not None:
        result = estimator(frame, formula, levels)
    elif spec.model == "gee_logistic" or spec.model == "gee_poisson":
        family: Literal["binomial", "poisson"] = (
            "binomial" if spec.model == "gee_logistic" else "poisson"
        )
        result = fit_gee(
            frame,
            formula,
            groups=ID,
            family=family,
            cov_struct=spec.correlation or "exchangeable",
            time=data.time,
            levels=levels,
        )
    elif spec.model == "glm_logistic":
        result = fit_logit(frame, formula, levels=levels)
    elif spec.model == "lmm_gaussian":
        result = fit_lmm(frame, formula, groups=ID, reml=False, levels=levels)
    elif spec.model == "glm_negative_binomial":
        result = fit_negbin(frame, formula, exposure=data.exposure, levels=levels)
    else:
        if data.duration is None:
            raise AnalysisError(f"analysis {spec.id!r}: no duration column for the Cox model")
        result = fit_cox(
            frame,
            duration=data.duration,
            event=data.outcome,
            covariates=[ARM, *kept],
            levels=levels,
        )
    summary = summarize(spec, result, arms, data, observed=observed)
    notes = list(data.notes)
    if result.n_dropped:
        notes.append(
            f"{result.n_dropped} of {result.n_obs + result.n_dropped} rows had a missing outcome "
            "or covariate and were left out (maximum likelihood / GEE on the observed data)"
        )
    return _Fit(
        result=result,
        summary=replace(summary, notes=(*summary.notes, *notes)),
        warnings=(*data.warnings, *warnings, *identified.warnings, *result.warnings),
        notes=tuple(notes),
        unidentified=identified.unidentified,
    )


def _coefficients(table: pd.DataFrame, unidentified: Sequence[str] = ()) -> tuple[Coefficient, ...]:
    """The coefficient table; terms that are not identified are reported as missing."""
    numbers = {
        c: table[c].to_numpy(dtype=float)
        for c in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")
    }
    blank = np.array([str(t) in set(unidentified) for t in table["term"].tolist()], dtype=bool)
    for column in numbers.values():
        column[blank] = np.nan
    return tuple(
        Coefficient(
            term=str(term),
            estimate=float(numbers["estimate"][i]),
            std_error=float(numbers["std_error"][i]),
            ci_lower=float(numbers["ci_lower"][i]),
            ci_upper=float(numbers["ci_upper"][i]),
            p_value=float(numbers["p_value"][i]),
        )
        for i, term in enumerate(table["term"].tolist())
    )


def _status(converged: bool, warnings: Sequence[str]) -> Status:
    return "warning" if warnings or not converged else "ok"


def _n_participants(result: ModelResult) -> int:
    data = result.data
    if data is not None and ID in data.columns:
        return int(data[ID].nunique())
    return result.n_obs


def _broken(result: ModelResult) -> bool:
    """A fit whose optimizer ended somewhere meaningless: not converged and a non-finite
    log-likelihood or non-finite coefficients. Its numbers are withheld."""
    table = result.coefficients[["estimate", "std_error"]].to_numpy(dtype=float)
    loglik_bad = result.loglik is not None and not math.isfinite(result.loglik)
    return not result.converged and (loglik_bad or not np.isfinite(table).all())


def _ok_result(
    protocol: Protocol,
    spec: AnalysisSpec,
    fit: _Fit,
    *,
    masked: bool,
    id: str,
    title: str,
    kind: str,
    applies_to: str | None = None,
    sensitivity: str | None = None,
) -> AnalysisResult:
    result = fit.result
    warnings = fit.warnings
    if not result.converged and not any("converge" in w.lower() for w in warnings):
        warnings = (*warnings, f"{result.model} fit did not converge")
    shared = AnalysisResult(
        id=id,
        title=title,
        kind="analysis" if kind == "analysis" else "sensitivity",
        model=spec.model,
        outcome=spec.outcome,
        formula=result.formula,
        multiplicity_family=spec.multiplicity_family if kind == "analysis" else None,
        status=_status(result.converged, warnings),
        n_participants=_n_participants(result),
        n_observations=result.n_obs,
        converged=result.converged,
        warnings=tuple(warnings),
        applies_to=applies_to,
        sensitivity=sensitivity,
    )
    shared = dataclasses.replace(
        shared,
        outcome_kind=spec.derive.kind,
        estimand=estimand_info(spec, masked=masked),
        published=published_value(protocol, spec, masked=masked) if kind == "analysis" else None,
    )
    if _broken(result):
        return dataclasses.replace(
            shared,
            status="error",
            converged=False,
            error=(
                f"the {result.model} fit did not converge (log-likelihood {result.loglik}); "
                "its estimates are withheld"
            ),
        )
    return dataclasses.replace(
        shared,
        coefficients=_coefficients(result.coefficients, fit.unidentified),
        summary=replace(fit.summary, published=shared.published),
    )


def _error_result(
    protocol: Protocol,
    spec: AnalysisSpec,
    error: Exception,
    *,
    masked: bool,
    id: str,
    title: str,
    kind: str,
    applies_to: str | None = None,
    sensitivity: str | None = None,
    imputations: int | None = None,
) -> AnalysisResult:
    message = explain_failure(spec, error)
    return AnalysisResult(
        id=id,
        title=title,
        kind="analysis" if kind == "analysis" else "sensitivity",
        model=spec.model,
        outcome=spec.outcome,
        formula=None,
        multiplicity_family=spec.multiplicity_family if kind == "analysis" else None,
        status="error",
        n_participants=0,
        n_observations=0,
        converged=None,
        warnings=(),
        error=message,
        applies_to=applies_to,
        sensitivity=sensitivity,
        imputations=imputations,
        outcome_kind=spec.derive.kind,
        estimand=estimand_info(spec, masked=masked),
        published=published_value(protocol, spec, masked=masked) if kind == "analysis" else None,
    )


def explain_failure(spec: AnalysisSpec, error: Exception) -> str:
    """What a statistician needs to know about a failed fit, in words."""
    message = str(error) or type(error).__name__
    measure = estimand_info(spec).measure
    if isinstance(error, np.linalg.LinAlgError):
        return (
            f"the {results_model_name(spec.model)} fit failed numerically ({message}); usually a variance "
            "component estimated at zero or terms that are almost collinear"
        )
    if isinstance(error, OverflowError | FloatingPointError) or "overflow" in message.lower():
        return (
            f"the {results_model_name(spec.model)} estimates diverged (numbers overflowed): the {measure} runs "
            "off to 0 or infinity, which happens when an arm or a covariate level has no "
            "events, or only events (separation); estimates withheld"
        )
    if message.startswith("standard error") and "positive finite" in message:
        return (
            f"the {measure} has no finite standard error: the model's covariance matrix is "
            "singular, usually because a coefficient is not identified (an arm, covariate "
            "level or time level without events, or collinear covariates); estimates withheld"
        )
    if "does not match any of the expected levels" in message:
        return (
            f"a level of a covariate or time point used to compute the {measure} has no "
            f"analysed rows ({message}); estimates withheld"
        )
    if not isinstance(error, AnalysisError):
        return f"the {results_model_name(spec.model)} fit failed: {type(error).__name__}: {message}"
    return message


def _run_main(frames: _Frames, spec: AnalysisSpec, arms: Arms) -> AnalysisResult:
    try:
        data = frames.get(spec)
        fit = _fit(spec, data, spec.covariates, arms, category_levels=frames.levels)
    except _FIT_ERRORS as exc:
        return _error_result(
            frames.protocol,
            spec,
            exc,
            masked=frames.masked,
            id=spec.id,
            title=spec.title,
            kind="analysis",
        )
    return _ok_result(
        frames.protocol,
        spec,
        fit,
        masked=frames.masked,
        id=spec.id,
        title=spec.title,
        kind="analysis",
    )


# --------------------------------------------------------------------------- multiplicity


def _adjust_families(results: list[AnalysisResult]) -> list[AnalysisResult]:
    """Benjamini–Hochberg across the main contrasts of each family named in the plan.

    A member without a usable p-value (withheld, failed, or not finite) is named in the
    family's :class:`Multiplicity` of every member (``complete`` false) and gets a warning;
    the adjusted p-values of the others are then over the remaining members only and are
    marked so, never silently computed over a shrunken family."""
    families: dict[str, list[int]] = {}
    for i, result in enumerate(results):
        if result.multiplicity_family and result.kind == "analysis":
            families.setdefault(result.multiplicity_family, []).append(i)
    out = list(results)
    for family, members in families.items():
        usable: list[int] = []
        failed: list[str] = []
        for i in members:
            summary = out[i].summary
            if (
                out[i].status != "error"
                and summary is not None
                and summary.contrast is not None
                and math.isfinite(summary.contrast.p_value)
            ):
                usable.append(i)
            else:
                failed.append(out[i].id)
        info = Multiplicity(
            name=family, members=tuple(out[i].id for i in members), failed=tuple(failed)
        )
        raw = [out[i].summary.contrast.p_value for i in usable]  # type: ignore[union-attr]
        adjusted: list[float] = list(benjamini_hochberg(raw)) if raw else []
        for i, p in zip(usable, adjusted, strict=True):
            summary = out[i].summary
            assert summary is not None and summary.contrast is not None
            contrast = replace(summary.contrast, bh_p_value=float(p))
            warnings = out[i].warnings
            if failed:
                warnings = (
                    *warnings,
                    f"Benjamini–Hochberg family {family!r} is incomplete: "
                    f"{', '.join(failed)} could not be estimated, so the adjusted p-value is "
                    f"over {len(usable)} of its {len(members)} members",
                )
            out[i] = replace(
                out[i],
                summary=replace(summary, contrast=contrast, multiplicity=info),
                warnings=warnings,
                status="warning" if failed else out[i].status,
            )
        for i in members:
            if i not in usable:
                note = (
                    f"member of Benjamini–Hochberg family {family!r} without a p-value: the "
                    "family's other adjusted p-values leave it out"
                )
                out[i] = replace(out[i], warnings=(*out[i].warnings, note))
    return out


# --------------------------------------------------------------------------- sensitivity


def _run_restricted(frames: _Frames, spec: AnalysisSpec, sens: SensitivitySpec, arms: Arms) -> _Fit:
    protocol = frames.protocol
    data = frames.get(spec)
    covariates = list(spec.covariates)
    if sens.kind == "completers":
        minimum = sens.min_sessions or protocol.outcomes.adherence_sessions
        frame = data.frame[data.frame["sessions_attended"] >= minimum]
        data = replace(
            data,
            frame=frame,
            notes=(
                *data.notes,
                f"completers: participants who attended at least {minimum} of "
                f"{protocol.outcomes.total_sessions} sessions",
            ),
        )
    else:
        frame, extra = resolve_covariates(data.frame, sens.covariates, analysis_id=spec.id)
        extra_kind = [c for c in extra if c not in covariates]
        data = replace(
            data,
            frame=frame,
            notes=(*data.notes, f"added covariates: {', '.join(extra_kind) or 'none'}"),
        )
        covariates += extra_kind
    return _fit(spec, data, covariates, arms, category_levels=frames.levels)


def _run_clustered(frames: _Frames, spec: AnalysisSpec, sens: SensitivitySpec, arms: Arms) -> _Fit:
    """The analysis refitted with the clustering its main model leaves out: a random slope on
    time per participant, a random intercept per therapy group (participants nested in
    groups), or GEE with therapy groups as the clusters. Same formula, same summary."""
    allowed = CLUSTERED_KINDS[sens.kind]
    if spec.model not in allowed:
        raise AnalysisError(
            f"sensitivity {sens.id!r} ({sens.kind}) refits "
            f"{', '.join(map(results_model_name, allowed))} models, not the "
            f"{results_model_name(spec.model)} model of analysis {spec.id!r}"
        )
    data = frames.get(spec)
    reml = True if sens.reml is None else sens.reml
    method = "REML" if reml else "ML"
    frame = data.frame.copy()
    estimator: Estimator
    if sens.kind == "random_slopes":
        time = data.time
        if time is None:
            raise AnalysisError(f"analysis {spec.id!r}: a random slope needs a time variable")

        def estimator(
            f: pd.DataFrame, formula: str, levels: Mapping[str, Sequence[object]]
        ) -> ModelResult:
            fit = fit_lmm_slopes(f, formula, groups=ID, slope=time, reml=reml, levels=levels)
            return replace(fit, formula=f"{formula} + (1 + {time} | {ID})")

        note = (
            f"random intercept and random slope on {time} per participant (correlated, "
            f"lme4's (1 + {time} | participant)), {method}"
        )
    else:
        frame[THERAPY_GROUP] = therapy_groups(frame)
        n_groups = int(frame[THERAPY_GROUP].nunique())
        singletons = int((frame.groupby(THERAPY_GROUP)[ID].nunique() == 1).sum())
        # with masked arms the count of participants outside groups is left out: it would
        # match the size of an arm delivered without groups and so unmask it
        alone = "participants" if frames.masked else f"{singletons} participants"
        groups_note = (
            f"{n_groups} therapy groups (one cohort in one arm; {alone} without a group "
            "count as groups of one)"
        )
        if sens.kind == "therapy_group_random_effect":

            def estimator(
                f: pd.DataFrame, formula: str, levels: Mapping[str, Sequence[object]]
            ) -> ModelResult:
                fit = fit_lmm_nested(
                    f, formula, groups=ID, clusters=THERAPY_GROUP, reml=reml, levels=levels
                )
                random = f"(1 | {THERAPY_GROUP}) + (1 | {THERAPY_GROUP}:{ID})"
                return replace(fit, formula=f"{formula} + {random}")

            note = (
                "random intercepts for therapy group and for participant within group "
                f"(lme4's (1 | group) + (1 | group:participant)), {method}; {groups_note}"
            )
        else:
            family: Literal["binomial", "poisson", "gaussian"] = (
                "binomial"
                if spec.model in ("gee_logistic", "glm_logistic")
                else "poisson"
                if spec.model == "gee_poisson"
                else "gaussian"
            )
            structure: Literal["exchangeable", "independence"] = (
                "independence" if spec.correlation == "independence" else "exchangeable"
            )

            def estimator(
                f: pd.DataFrame, formula: str, levels: Mapping[str, Sequence[object]]
            ) -> ModelResult:
                result = fit_gee(
                    f,
                    formula,
                    groups=THERAPY_GROUP,
                    family=family,
                    cov_struct=structure,
                    levels=levels,
                )
                if result.data is None:
                    return result
                # keep whom each analysed row belongs to (participants are counted by it)
                rows = result.data.assign(**{ID: f.loc[result.data.index, ID]})
                return replace(result, data=rows)

            note = (
                f"GEE ({family}, {structure} working correlation, robust SEs) with therapy "
                f"groups as the clusters; {groups_note}"
            )
            if spec.correlation == "ar1":
                note += (
                    "; the main analysis' AR(1) correlation has no single time order within "
                    "a group, so the working correlation is exchangeable"
                )
    data = replace(data, frame=frame, notes=(*data.notes, note))
    return _fit(
        spec, data, spec.covariates, arms, category_levels=frames.levels, estimator=estimator
    )


def _pool_arm(estimates: Sequence[ArmEstimate], dfcom: float) -> ArmEstimate:
    pooled = pool_scalar(
        [a.estimate for a in estimates], [a.std_error for a in estimates], dfcom=dfcom
    )

    def mean(values: Sequence[float | None]) -> float | None:
        finite = [v for v in values if v is not None]
        return float(np.mean(finite)) if len(finite) == len(values) else None

    first = estimates[0]
    return ArmEstimate(
        arm=first.arm,
        label=first.label,
        estimate=pooled.estimate,
        std_error=pooled.std_error,
        ci_lower=pooled.ci_lower,
        ci_upper=pooled.ci_upper,
        n_participants=first.n_participants,
        baseline=mean([a.baseline for a in estimates]),
        final=mean([a.final for a in estimates]),
        cohen_d=None,
        percent_change=None,
    )


def _pool_contrast(contrasts: Sequence[Contrast], dfcom: float) -> Contrast:
    ratio = contrasts[0].measure.endswith("ratio")
    if ratio:
        estimates = [math.log(c.estimate) for c in contrasts]
        errors = [c.std_error for c in contrasts]
    else:
        estimates = [c.estimate for c in contrasts]
        errors = [c.std_error for c in contrasts]
    pooled = pool_scalar(estimates, errors, dfcom=dfcom)
    return pooled_contrast(contrasts, pooled, ratio=ratio)


def _impute_and_fit(
    frames: _Frames,
    spec: AnalysisSpec,
    arms: Arms,
    *,
    m: int,
    rng: np.random.Generator,
    progress: _Progress,
    label: str,
) -> tuple[AnalysisResult, int]:
    """Multiple imputation of the repeated outcome (wide, PMM), the same model on each
    completed dataset, Rubin's rules. Returns the result and the fits done."""
    dataset, protocol = frames.dataset, frames.protocol
    data = frames.get(spec)
    if data.time is None or spec.model not in ("gee_logistic", "lmm_gaussian", "gee_poisson"):
        raise AnalysisError(
            f"analysis {spec.id!r}: multiple imputation is implemented for repeated outcomes "
            f"(GEE and mixed models), not for a {spec.model} model"
        )
    kept, warnings = drop_constant_covariates(data, spec.covariates)
    derived = [c for c in kept if c.startswith("baseline_") and c not in dataset.covariates]
    people = participant_frame(dataset, protocol)
    people = plain_dtypes(people)
    people = people[people[ARM].isin(arms.levels)]
    wide, columns = wide_outcomes(data)
    if spec.subset is None:
        wide = wide.reindex(people[ID].tolist())
    else:
        people = people[people[ID].isin(wide.index)]
    base_covariates = [c for c in kept if c not in derived]
    table = people.set_index(ID).loc[wide.index, [ARM, *base_covariates]]
    table[ARM] = table[ARM].astype(str)
    frame = pd.concat([wide, table], axis=1)
    numeric_missing = [
        c
        for c in base_covariates
        if pd.api.types.is_numeric_dtype(frame[c]) and bool(frame[c].isna().any())
    ]
    completed = impute_pmm(
        frame,
        m=m,
        seed=rng,
        columns=[*columns, *numeric_missing],
        predictors=[*columns, ARM, *base_covariates],
    )
    fits: list[_Fit] = []
    participants = people.drop(columns=[c for c in people.columns if c in derived])
    for i, done in enumerate(completed, start=1):
        covariate_values = done[base_covariates]
        extra = participants.drop(columns=base_covariates).merge(
            covariate_values, left_on=ID, right_index=True, how="inner"
        )
        long = long_from_wide(done[columns], extra, data, columns)
        for name in derived:
            long[name] = long[ID].map(done[columns[0]])
        imputed = replace(data, frame=long, notes=())
        fits.append(
            _fit(spec, imputed, kept, arms, observed=data.frame, category_levels=frames.levels)
        )
        progress.step(f"{label}: imputation {i}/{m}")
    results = [f.result for f in fits]
    pooled = pool(results)
    dfcom = pooled.dfcom
    summaries = [f.summary for f in fits]
    arm_rows = tuple(
        _pool_arm([s.arms[k] for s in summaries], dfcom) for k in range(len(summaries[0].arms))
    )
    main = summaries[0].contrast
    contrast = (
        None
        if main is None
        else _pool_contrast([s.contrast for s in summaries if s.contrast is not None], dfcom)
    )
    others = tuple(
        _pool_contrast([s.other_contrasts[k] for s in summaries], dfcom)
        for k in range(len(summaries[0].other_contrasts))
    )
    summary = Summary(
        measure=summaries[0].measure,
        arms=arm_rows,
        contrast=contrast,
        other_contrasts=others,
        notes=(
            *data.notes,
            f"{m} imputations by predictive mean matching (chained equations) of the outcome at "
            f"every {data.time} and of missing numeric covariates, from arm, the covariates and "
            "the other occasions; Rubin's rules with Barnard–Rubin degrees of freedom "
            f"(complete-data df {dfcom:g})",
            "the interaction test and Cohen d are not pooled across imputations",
        ),
    )
    all_warnings = [*warnings, *pooled.warnings]
    if m < RECOMMENDED_IMPUTATIONS:
        all_warnings.append(
            f"only {m} imputations; the plan asks for at least {RECOMMENDED_IMPUTATIONS}"
        )
    converged = all(r.converged for r in results)
    first = results[0]
    result = AnalysisResult(
        id=label,
        title="",
        kind="sensitivity",
        model=spec.model,
        outcome=spec.outcome,
        formula=first.formula,
        multiplicity_family=None,
        status=_status(converged, all_warnings),
        n_participants=_n_participants(first),
        n_observations=first.n_obs,
        converged=converged,
        warnings=tuple(all_warnings),
        coefficients=_coefficients(pooled.coefficients),
        summary=summary,
        imputations=m,
        outcome_kind=spec.derive.kind,
        estimand=estimand_info(spec, masked=dataset.meta.arms_masked),
    )
    return result, m


def _run_sensitivity(
    frames: _Frames,
    sens: SensitivitySpec,
    spec: AnalysisSpec,
    arms: Arms,
    *,
    m: int,
    rng: np.random.Generator,
    progress: _Progress,
) -> AnalysisResult:
    sid = f"{sens.id}.{spec.id}"
    title = f"{sens.title}: {spec.title}"
    if sens.kind == "multiple_imputation":
        try:
            result, fits = _impute_and_fit(
                frames, spec, arms, m=m, rng=rng, progress=progress, label=sid
            )
        except _FIT_ERRORS as exc:
            progress.done += m - 1
            progress.step(f"{sid}: failed")
            return _error_result(
                frames.protocol,
                spec,
                exc,
                masked=frames.masked,
                id=sid,
                title=title,
                kind="sensitivity",
                applies_to=spec.id,
                sensitivity=sens.id,
                imputations=m,
            )
        del fits
        return replace(result, title=title, applies_to=spec.id, sensitivity=sens.id)
    try:
        if sens.kind in CLUSTERED_KINDS:
            fit = _run_clustered(frames, spec, sens, arms)
        else:
            fit = _run_restricted(frames, spec, sens, arms)
    except _FIT_ERRORS as exc:
        progress.step(sid)
        return _error_result(
            frames.protocol,
            spec,
            exc,
            masked=frames.masked,
            id=sid,
            title=title,
            kind="sensitivity",
            applies_to=spec.id,
            sensitivity=sens.id,
        )
    progress.step(sid)
    return _ok_result(
        frames.protocol,
        spec,
        fit,
        masked=frames.masked,
        id=sid,
        title=title,
        kind="sensitivity",
        applies_to=spec.id,
        sensitivity=sens.id,
    )


# --------------------------------------------------------------------------- entry point


@dataclass(frozen=True)
class MainFit:
    """One analysis' main model fitted as :func:`run_analysis` fits it: the fit (its ``data``
    are the analysed rows, its ``design`` builds their design matrix), the model frame, the
    formula, the arms (reference first) and the derived rows."""

    result: ModelResult
    formula: str
    arms: Arms
    data: ModelData


def fit_main_model(dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec) -> MainFit:
    """Fit ``spec``'s main model to ``dataset`` with the runner's frame, formula and estimator
    (used by simulation power's batch engine to fix a template design). Raises
    :class:`AnalysisError` (or numpy's ``LinAlgError``) when the model cannot be fitted."""
    _, arms = _arms(dataset, protocol)
    data = _Frames(dataset, protocol).get(spec)
    fit = _fit(spec, data, spec.covariates, arms)
    return MainFit(result=fit.result, formula=fit.result.formula, arms=arms, data=data)


def run_analysis(
    dataset: StudyDataset,
    *,
    protocol: Protocol,
    imputations: int = RECOMMENDED_IMPUTATIONS,
    seed: int,
    progress: ProgressCallback | None = None,
) -> AnalysisReport:
    """Run every analysis and sensitivity analysis of ``protocol``'s plan on ``dataset``.

    Args:
        dataset: a validated study dataset of this protocol (arms may be masked).
        protocol: the protocol whose ``analysis`` plan is run.
        imputations: completed datasets for the multiple-imputation sensitivity analysis
            (the plan's ``imputations`` is the recommended minimum; fewer gives a warning).
        seed: seeds the imputations (the only random step); same seed, same report.
        progress: optional ``progress(step, done, total)`` callback after each model fit.

    Raises:
        AnalysisError: only for invalid options (``imputations < 2``) or a dataset of another
            protocol; problems with single analyses are recorded on them instead.
    """
    if imputations < 2:
        raise AnalysisError(
            f"imputations: at least 2 are needed for Rubin's rules, got {imputations}"
        )
    if dataset.meta.protocol_id != protocol.id:
        raise AnalysisError(
            f"the dataset belongs to protocol {dataset.meta.protocol_id!r}, not {protocol.id!r}"
        )
    infos, arms = _arms(dataset, protocol)
    plan = protocol.analysis
    total = len(plan.analyses) + sum(
        len(s.applies_to) * (imputations if s.kind == "multiple_imputation" else 1)
        for s in plan.sensitivity
    )
    tracker = _Progress(progress, total)
    results: list[AnalysisResult] = []
    frames = _Frames(dataset, protocol)
    for spec in plan.analyses:
        results.append(_run_main(frames, spec, arms))
        tracker.step(spec.id)
    if plan.multiplicity == "benjamini_hochberg":
        results = _adjust_families(results)
    root = np.random.default_rng(seed)
    for sens in plan.sensitivity:
        for analysis_id in sens.applies_to:
            spec = protocol.analysis_spec(analysis_id)
            (rng,) = root.spawn(1)
            results.append(
                _run_sensitivity(frames, sens, spec, arms, m=imputations, rng=rng, progress=tracker)
            )
    return AnalysisReport(
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        arms_masked=dataset.meta.arms_masked,
        arms=infos,
        reference_arm=arms.reference,
        comparison_arm=arms.comparison,
        seed=seed,
        imputations=imputations,
        analyses=tuple(results),
        versions=software_versions(),
    )
