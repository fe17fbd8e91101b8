"""Methods text generated from the protocol and the run (our own wording).

In a blinded run the arms are named by their codes only: nothing here reads the protocol's
arm ids, labels or descriptions when ``report.arms_masked`` is set.
"""

from __future__ import annotations

from mindtrial.analysis.results import AnalysisReport
from mindtrial.dataset import StudyDataset
from mindtrial.protocols.schema import AnalysisSpec, Protocol
from mindtrial.report.labels import covariate_label, subset_label, words


def _lower(title: str) -> str:
    """A title inside a sentence: the first letter lowered unless it starts an acronym."""
    first = title.split(" ", 1)[0]
    return title if len(first) > 1 and first[:2].isupper() else title[:1].lower() + title[1:]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _model_sentence(spec: AnalysisSpec, protocol: Protocol) -> str:
    covariates = [covariate_label(c, protocol) for c in spec.covariates]
    adjust = f", adjusted for {_join(covariates)}" if covariates else ""
    levels = spec.time_levels
    when = f" {spec.time}s {levels[0]}–{levels[-1]}" if spec.time and levels else ""
    if spec.model == "gee_logistic":
        return (
            f"{spec.title}: generalized estimating equations with a logit link and "
            f"{spec.correlation or 'exchangeable'} working correlation, clustered on participant "
            f"with robust (sandwich) standard errors, over{when}; terms for arm and {spec.time} "
            f"(categorical){adjust}. Results are model-based percentages per arm, averaged over "
            "the analysed sample, with delta-method 95% confidence intervals, and their difference."
        )
    if spec.model == "lmm_gaussian":
        subset = (
            f" Only participants with {subset_label(spec.subset)} were included."
            if spec.subset
            else ""
        )
        return (
            f"{spec.title}: linear mixed model fitted by maximum likelihood with a random "
            f"intercept per participant and an arm × {spec.time} interaction ({spec.time} "
            f"categorical,{when}){adjust}.{subset} The interaction was tested with a joint Wald "
            f"χ² test; within-arm change from {spec.time} {levels[0] if levels else 0} to "
            f"{levels[-1] if levels else ''} and its difference between arms are model-based "
            "contrasts with 95% confidence intervals. Cohen d divides a change by the standard "
            "deviation of the observed change scores (pooled across arms for the difference)."
        )
    if spec.model == "glm_negative_binomial":
        exposure = (
            "follow-up time"
            if not spec.exposure
            else words(spec.exposure).replace("follow up", "follow-up")
        )
        return (
            f"{spec.title}: negative binomial regression (log link) with log {exposure} "
            f"as offset{adjust}; results are rate ratios with 95% confidence intervals."
        )
    if spec.model == "cox_ph":
        return (
            f"{spec.title}: Cox proportional hazards regression (Efron ties){adjust}; results are "
            "hazard ratios with 95% confidence intervals."
        )
    if spec.model == "glm_logistic":
        return f"{spec.title}: logistic regression{adjust}; odds ratio and model-based percentages."
    return f"{spec.title}: {words(spec.model)} model{adjust}."


def methods_paragraphs(protocol: Protocol, report: AnalysisReport) -> list[str]:
    """The methods section as plain-text paragraphs."""
    plan = protocol.analysis
    if report.arms_masked:
        arms = (
            f"{len(report.arms)} arms, named here only by their allocation codes "
            f"({_join([a.code for a in report.arms])}) because the dataset is blinded"
        )
        trial = "The trial"  # its name may be an arm's name
    else:
        arms = _join([f"{a.label}" for a in protocol.arms])
        trial = f"The {protocol.short_title} trial ({protocol.source.citation})"
    ratio = ":".join(str(v) for v in protocol.randomization.ratio.values())
    blocks = _join([str(b) for b in protocol.randomization.block_sizes])
    paragraphs = [
        f"{trial} randomized {_lower(protocol.population.rstrip('.'))} in a {ratio} ratio, in "
        f"permuted blocks of {blocks}, to {arms}. Groups met {protocol.session.frequency} "
        f"({protocol.session.delivery.replace('_', '-')}) for {protocol.session.n_sessions} "
        f"sessions over {protocol.weeks} weeks.",
    ]
    definitions = [
        f"{spec.title}: {protocol.outcomes.definitions[spec.id].strip()}"
        for spec in plan.analyses
        if spec.id in protocol.outcomes.definitions
    ]
    if definitions:
        paragraphs.append(
            "Outcomes. " + " ".join(d if d.endswith(".") else d + "." for d in definitions)
        )
    population = words(plan.population).replace("intention to treat", "intention-to-treat")
    paragraphs.append(
        f"Statistical analysis. All analyses followed the prespecified plan on the {population} "
        f"population. The plan's rule for missing data and covariates: {plan.missing_data.strip()} "
        "How each analysis handled missing data in this run, and whom it analysed, is stated "
        f"below. Two-sided tests at α = {plan.alpha:g}."
    )
    paragraphs += [_model_sentence(spec, protocol) for spec in plan.analyses]
    families = sorted({s.multiplicity_family for s in plan.analyses if s.multiplicity_family})
    if plan.multiplicity == "benjamini_hochberg" and families:
        members = [
            f"{words(family)} ({_join([_lower(s.title) for s in plan.analyses if s.multiplicity_family == family])})"
            for family in families
        ]
        paragraphs.append(
            "P values of the between-arm comparisons were adjusted for the false discovery rate "
            f"(Benjamini–Hochberg) within each family of the plan: {_join(members)}."
        )
    for sens in plan.sensitivity:
        targets = _join(
            [
                next((_lower(a.title) for a in plan.analyses if a.id == target), words(target))
                for target in sens.applies_to
            ]
        )
        if sens.kind == "multiple_imputation":
            text = (
                f"{sens.title}: the repeated outcome (and missing numeric covariates) imputed "
                f"{report.imputations} times by predictive mean matching in chained equations from "
                "arm, the covariates and the other occasions; each completed dataset analysed as "
                "above and the results combined by Rubin's rules with Barnard–Rubin degrees of "
                f"freedom (analyses: {targets})."
            )
        elif sens.kind == "missingness_covariates":
            text = (
                f"{sens.title}: the models refitted with "
                f"{_join([covariate_label(c, protocol) for c in sens.covariates])} added as "
                f"covariates (analyses: {targets})."
            )
        elif sens.kind in CLUSTERED_TEXT:
            estimation = (
                ""
                if sens.kind == "therapy_group_gee"
                else (
                    " by restricted maximum likelihood"
                    if sens.reml is not False
                    else " by maximum likelihood"
                )
            )
            groups = (
                ""
                if sens.kind == "random_slopes"
                else "; a therapy group is the participants of one cohort in one arm, and a "
                "participant treated outside groups is a group of one"
            )
            text = (
                f"{sens.title}: the models refitted{estimation} {CLUSTERED_TEXT[sens.kind]}"
                f"{groups} (analyses: {targets})."
            )
        else:
            text = (
                f"{sens.title}: the models refitted among participants who attended at least "
                f"{sens.min_sessions or protocol.outcomes.adherence_sessions} of "
                f"{protocol.outcomes.total_sessions} sessions (analyses: {targets})."
            )
        paragraphs.append(text)
    versions = report.versions
    libraries = _join([f"{k} {v}" for k, v in versions.items() if k not in ("python", "mindtrial")])
    paragraphs.append(
        f"Software. MindTrial {versions.get('mindtrial', '?')} on Python "
        f"{versions.get('python', '?')} ({libraries}). The random seed for imputation was "
        f"{report.seed}; the same dataset, seed and versions reproduce every number."
    )
    return paragraphs


CLUSTERED_TEXT = {
    "random_slopes": (
        "with a random intercept and a random slope on time for each participant (correlated), "
        "so that each participant follows their own trajectory"
    ),
    "therapy_group_random_effect": (
        "with random intercepts for the therapy group and for the participant within it "
        "(participants nested in groups)"
    ),
    "therapy_group_gee": (
        "by generalized estimating equations with the therapy group as the cluster "
        "(exchangeable working correlation, robust standard errors)"
    ),
}


def _handling(spec: AnalysisSpec | None) -> str:
    if spec is None:
        return "as in the main analysis"
    if spec.model in ("gee_logistic", "gee_poisson"):
        return (
            "generalized estimating equations on every observed period; a participant with no "
            "observed period contributes nothing, and the estimate assumes that missing periods "
            "are missing completely at random given the covariates"
        )
    if spec.model == "lmm_gaussian":
        return (
            "maximum likelihood on every observed occasion, valid when occasions are missing "
            "at random given the earlier observed values and the covariates"
        )
    if spec.model == "cox_ph":
        return "follow-up censored at the last contact (withdrawal or last week with data)"
    if spec.model == "glm_negative_binomial":
        return "each participant's observed follow-up time as the exposure"
    return "complete cases"


def missing_data_paragraphs(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> list[str]:
    """Exactly who each analysis used and how missing data were handled."""
    randomized = len(dataset.participants)
    specs = {s.id: s for s in protocol.analysis.analyses}
    out = [
        f"{randomized} participants were randomized; every analysis below counts the "
        "participants who contributed at least one observation to it."
    ]
    for result in report.analyses:
        if result.kind != "analysis":
            continue
        spec = specs.get(result.id)
        if result.status == "error":
            out.append(f"{result.title}: not estimable, so no participant was analysed.")
            continue
        subset = (
            f" (the plan restricts it to participants with {subset_label(spec.subset)})"
            if spec is not None and spec.subset
            else ""
        )
        left_out = randomized - result.n_participants
        out.append(
            f"{result.title}: {result.n_participants} of {randomized} randomized participants "
            f"analysed{subset}, {result.n_observations} observations; {left_out} not analysed. "
            f"Missing data: {_handling(spec)}."
        )
    for sens in protocol.analysis.sensitivity:
        runs = [r for r in report.analyses if r.sensitivity == sens.id]
        if not runs:
            continue
        counts = _join(
            [f"{r.n_participants} for {_lower(r.title.split(': ', 1)[-1])}" for r in runs]
        )
        if sens.kind == "multiple_imputation":
            how = (
                f"missing values were imputed {report.imputations} times (chained equations) "
                "for every randomized participant with a baseline record"
            )
        elif sens.kind == "completers":
            how = "only participants who received the minimum dose of sessions were analysed"
        elif sens.kind in CLUSTERED_TEXT:
            how = "the main analyses' rows refitted with the clustering named above"
        else:
            how = "the main analyses refitted with the covariates related to missingness"
        out.append(f"Sensitivity, {_lower(sens.title)}: {how}; participants analysed: {counts}.")
    return out
