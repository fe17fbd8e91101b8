"""The protocol schema: a trial written down as data.

A protocol file (YAML) is validated by :class:`Protocol`. Everything the web app, the
outcome derivation, the analysis and the simulator need to know about a trial lives here;
a new trial is a new file, not new code. Models are frozen and reject unknown keys, so a
typo in a protocol file is an error, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from mindtrial.protocols.criteria import EligibilityCriteria
from mindtrial.protocols.model_names import ModelName, canonical_model_name


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class Source(_Model):
    """Where the protocol's facts come from."""

    citation: str
    registry: str | None = None
    notes: str | None = None


class CurriculumSession(_Model):
    week: PositiveInt
    topic: str
    practices: list[str] = []


class CurriculumPhase(_Model):
    """A run of weeks with one purpose (e.g. M-ROCC's orientation, weeks 1-4)."""

    id: str
    name: str
    first_week: PositiveInt
    last_week: PositiveInt
    description: str
    sessions: list[CurriculumSession] = []

    @model_validator(mode="after")
    def _weeks_ordered(self) -> CurriculumPhase:
        if self.last_week < self.first_week:
            raise ValueError(f"last_week {self.last_week} is before first_week {self.first_week}")
        for session in self.sessions:
            if not self.first_week <= session.week <= self.last_week:
                raise ValueError(
                    f"session week {session.week} lies outside the phase's weeks "
                    f"{self.first_week}-{self.last_week}"
                )
        return self


class ContinuationChoice(_Model):
    """A point where a participant chooses whether to go on (M-ROCC's week 8)."""

    after_week: PositiveInt
    question: str
    continue_phase: str
    description: str


class Arm(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    description: str
    curriculum: list[CurriculumPhase]
    continuation_choice: ContinuationChoice | None = None
    home_practice: bool = False
    group_sessions: bool = True
    """False for an arm that attends no group sessions (e.g. usual care): it has no
    attendance records and the simulator gives it none."""

    @model_validator(mode="after")
    def _choice_names_a_phase(self) -> Arm:
        choice = self.continuation_choice
        if choice is not None and choice.continue_phase not in {p.id for p in self.curriculum}:
            raise ValueError(
                f"continuation_choice.continue_phase '{choice.continue_phase}' is not a phase "
                f"of arm '{self.id}'"
            )
        return self


class SessionFormat(_Model):
    delivery: Literal["live_online", "in_person", "hybrid"]
    n_sessions: PositiveInt
    frequency: Literal["weekly"] = "weekly"
    check_in_minutes: NonNegativeInt = 0
    group_minutes: PositiveInt
    group_size_min: PositiveInt
    group_size_max: PositiveInt
    leaders_min: PositiveInt = 1
    leaders_max: PositiveInt = 2
    minimum_dose_sessions: PositiveInt | None = None

    @model_validator(mode="after")
    def _sizes(self) -> SessionFormat:
        if self.group_size_max < self.group_size_min:
            raise ValueError("group_size_max is smaller than group_size_min")
        if self.minimum_dose_sessions and self.minimum_dose_sessions > self.n_sessions:
            raise ValueError("minimum_dose_sessions exceeds n_sessions")
        return self


class Assessment(_Model):
    """Which instrument is collected when: at study weeks and/or follow-up months."""

    instrument: str
    weeks: list[NonNegativeInt] = []
    months: list[NonNegativeInt] = []
    window_days: NonNegativeInt = 7
    mode: Literal["survey", "interview", "observed", "ema", "staff"] = "survey"
    prompts_per_day: PositiveInt | None = None

    @model_validator(mode="after")
    def _some_time(self) -> Assessment:
        if not self.weeks and not self.months and self.mode != "staff":
            raise ValueError(f"assessment of '{self.instrument}' has neither weeks nor months")
        return self


class ToxicologyPlan(_Model):
    specimen: Literal["oral_fluid", "urine"]
    observed: Literal["video", "in_person", "unobserved"]
    panel: list[str] = Field(min_length=1)
    window_weeks: PositiveInt = 2
    tests_per_window: PositiveInt = 1
    substances: dict[str, list[str]]
    self_report_items: dict[str, str] = {}
    panel_confirmed: bool = False

    @model_validator(mode="after")
    def _analytes_in_panel(self) -> ToxicologyPlan:
        panel = set(self.panel)
        for substance, analytes in self.substances.items():
            unknown = sorted(set(analytes) - panel)
            if unknown:
                raise ValueError(
                    f"substance '{substance}' counts analytes not in the panel: {', '.join(unknown)}"
                )
        return self


class RandomizationSpec(_Model):
    ratio: dict[str, PositiveInt]
    block_sizes: list[PositiveInt] = Field(min_length=1)
    strata: list[str] = []
    concealment: str

    @model_validator(mode="after")
    def _blocks_fit_ratio(self) -> RandomizationSpec:
        total = sum(self.ratio.values())
        bad = [size for size in self.block_sizes if size % total]
        if bad:
            raise ValueError(
                f"block sizes {bad} are not multiples of the ratio total {total} "
                f"({':'.join(str(v) for v in self.ratio.values())})"
            )
        return self


class Covariate(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: Literal["number", "integer", "category", "boolean"]
    levels: list[str] = []
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _levels_for_categories(self) -> Covariate:
        if self.type == "category" and len(self.levels) < 2:
            raise ValueError(f"category covariate '{self.name}' needs at least two levels")
        return self


class OutcomeDefinitions(_Model):
    """How raw records become outcome variables (see docs/outcomes.md)."""

    period_weeks: PositiveInt = 2
    surveys_required_per_period: NonNegativeInt = 2
    tests_required_per_period: NonNegativeInt = 1
    primary_periods: list[PositiveInt] = []
    total_sessions: PositiveInt
    adherence_sessions: PositiveInt
    anxiety_subgroup_min_t: float | None = None
    misuse_rule: dict[str, float | str] = {}
    definitions: dict[str, str] = {}


class OutcomeDerivation(_Model):
    """How an analysis' outcome is derived from the study dataset: a *kind* from the one
    registry in :mod:`mindtrial.outcomes.kinds` and its parameters (which instrument and
    score, which substance groups, which items, the event definition, ...). The kind
    validates ``params`` when the outcome is derived; ``docs/outcomes.md`` lists the kinds."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    params: dict[str, JsonValue] = {}


EffectMeasure = Literal[
    "odds_ratio",
    "hazard_ratio",
    "rate_ratio",
    "ratio_of_means",
    "difference_in_percentage_points",
    "difference_in_change",
    "difference_in_means",
]


class Estimand(_Model):
    """What the analysis estimates, in the paper's terms.

    ``measure`` is the effect measure of the main contrast (comparison arm = the protocol's
    first arm, against its last arm). ``better`` says which values of the outcome are
    favourable; with ``improvement_positive`` a difference is reported with the sign that
    makes an improvement in the comparison arm positive (a fall in pain → a positive
    difference). ``published`` names the ``published.results`` entry holding the paper's
    value of this estimand.
    """

    label: str
    measure: EffectMeasure
    better: Literal["higher", "lower"]
    improvement_positive: bool = False
    time_point: str | None = None
    population: Literal["intention_to_treat", "completers", "per_protocol", "subgroup"] = (
        "intention_to_treat"
    )
    published: str | None = None

    @model_validator(mode="after")
    def _sign_only_for_differences(self) -> Estimand:
        if self.improvement_positive and not self.measure.startswith("difference"):
            raise ValueError(
                f"improvement_positive applies to differences, not to a {self.measure}"
            )
        return self

    @property
    def is_ratio(self) -> bool:
        return not self.measure.startswith("difference")

    @property
    def flips_sign(self) -> bool:
        """Whether the comparison-minus-reference difference is reported negated."""
        return self.improvement_positive and self.better == "lower"

    @property
    def direction(self) -> str:
        """Which side of no effect favours the comparison arm, in words."""
        if self.flips_sign:
            return "higher favours the comparison arm (improvement positive)"
        return f"{self.better} favours the comparison arm"


class AnalysisSpec(_Model):
    """One prespecified analysis: the outcome (``outcome`` is its id, ``derive`` its kind
    and parameters), the population, time points, model, covariates and the estimand."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    outcome: str
    derive: OutcomeDerivation
    model: ModelName
    estimand: Estimand
    time: str | None = None
    time_levels: list[int] = []
    covariates: list[str] = []
    subset: str | None = None
    # The Benjamini–Hochberg family; written `family:` in protocol files (the old key).
    multiplicity_family: str | None = Field(
        default=None, validation_alias=AliasChoices("family", "multiplicity_family")
    )
    correlation: Literal["exchangeable", "independence", "ar1"] | None = None
    exposure: str | None = None
    report: list[str] = []

    @field_validator("model", mode="before")
    @classmethod
    def _earlier_model_name(cls, value: object) -> object:
        return canonical_model_name(value)


SensitivityKind = Literal[
    "multiple_imputation",
    "missingness_covariates",
    "completers",
    "random_slopes",
    "therapy_group_random_effect",
    "therapy_group_gee",
]

# The models each clustered sensitivity kind can refit (docs/sensitivity.md).
CLUSTERED_KINDS: dict[str, tuple[ModelName, ...]] = {
    "random_slopes": ("lmm_gaussian",),
    "therapy_group_random_effect": ("lmm_gaussian",),
    "therapy_group_gee": ("gee_logistic", "glm_logistic", "gee_poisson", "lmm_gaussian"),
}


class SensitivitySpec(_Model):
    """A sensitivity analysis repeating the analyses of ``applies_to``.

    Kinds: ``multiple_imputation`` (``imputations``), ``missingness_covariates``
    (``covariates``), ``completers`` (``min_sessions``), and the clustered refits:
    ``random_slopes`` (a random intercept and slope on time per participant),
    ``therapy_group_random_effect`` (participants nested in therapy groups) — both mixed
    models, REML unless ``reml: false`` — and ``therapy_group_gee`` (GEE clustered by therapy
    group). A therapy group is one cohort in one arm; a participant without a cohort is a
    group of one.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    kind: SensitivityKind
    applies_to: list[str]
    imputations: PositiveInt | None = None
    covariates: list[str] = []
    min_sessions: PositiveInt | None = None
    reml: bool | None = None

    @model_validator(mode="after")
    def _reml_only_for_mixed_models(self) -> SensitivitySpec:
        if self.reml is not None and self.kind not in (
            "random_slopes",
            "therapy_group_random_effect",
        ):
            raise ValueError(
                f"sensitivity '{self.id}': reml applies to the random_slopes and "
                f"therapy_group_random_effect kinds, not to {self.kind}"
            )
        return self


class AnalysisPlan(_Model):
    population: Literal["intention_to_treat", "per_protocol"] = "intention_to_treat"
    missing_data: str
    alpha: float = Field(0.05, gt=0, lt=1)
    multiplicity: Literal["benjamini_hochberg", "none"] = "benjamini_hochberg"
    analyses: list[AnalysisSpec] = Field(min_length=1)
    sensitivity: list[SensitivitySpec] = []
    power: dict[str, float] = {}

    @model_validator(mode="after")
    def _references_exist(self) -> AnalysisPlan:
        ids = [a.id for a in self.analyses]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"analysis ids repeated: {', '.join(duplicates)}")
        for sens in self.sensitivity:
            unknown = sorted(set(sens.applies_to) - set(ids))
            if unknown:
                raise ValueError(
                    f"sensitivity '{sens.id}' applies to unknown analyses: {', '.join(unknown)}"
                )
            allowed = CLUSTERED_KINDS.get(sens.kind)
            if allowed is None:
                continue
            for analysis in self.analyses:
                if analysis.id in sens.applies_to and analysis.model not in allowed:
                    raise ValueError(
                        f"sensitivity '{sens.id}' ({sens.kind}) cannot refit analysis "
                        f"'{analysis.id}', a {analysis.model} model; it applies to "
                        f"{', '.join(allowed)} models"
                    )
                if (
                    analysis.id in sens.applies_to
                    and sens.kind == "random_slopes"
                    and analysis.time is None
                ):
                    raise ValueError(
                        f"sensitivity '{sens.id}' (random_slopes) needs a time for analysis "
                        f"'{analysis.id}'"
                    )
        return self


class PublishedResult(_Model):
    """A number the trial's paper reports, kept for calibration and for checking reports."""

    id: str
    description: str
    arms: dict[str, float] = {}
    arm_ci: dict[str, tuple[float, float]] = {}
    difference: float | None = None
    difference_ci: tuple[float, float] | None = None
    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None
    p_value: float | None = None
    extra: dict[str, float] = {}


class FlowTargets(_Model):
    referred: NonNegativeInt | None = None
    consented: NonNegativeInt | None = None
    excluded_after_consent: NonNegativeInt | None = None
    baseline_incomplete: NonNegativeInt | None = None
    randomized: PositiveInt
    randomized_by_arm: dict[str, NonNegativeInt] = {}
    completed_final: NonNegativeInt | None = None


class SampleTargets(_Model):
    female_fraction: float | None = None
    male_fraction: float | None = None
    nonbinary_fraction: float | None = None
    age_mean: float | None = None
    age_sd: float | None = None


class Published(_Model):
    flow: FlowTargets
    sample: SampleTargets
    results: list[PublishedResult] = []


class Protocol(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    version: str
    title: str
    short_title: str
    population: str
    medication: Literal["buprenorphine", "methadone", "long_term_opioid_therapy"]
    source: Source
    blinding: list[str]
    weeks: PositiveInt
    follow_up_months: list[NonNegativeInt] = []
    arms: list[Arm] = Field(min_length=2)
    session: SessionFormat
    assessments: list[Assessment]
    toxicology: ToxicologyPlan | None = None
    eligibility: EligibilityCriteria
    randomization: RandomizationSpec
    baseline_covariates: list[Covariate]
    outcomes: OutcomeDefinitions
    analysis: AnalysisPlan
    published: Published
    demo: bool = False
    """The shipped protocol ``mindtrial demo`` runs when none is named (exactly one has it)."""

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        arm_ids = [arm.id for arm in self.arms]
        if len(set(arm_ids)) != len(arm_ids):
            raise ValueError(f"arm ids repeated: {arm_ids}")
        if set(self.randomization.ratio) != set(arm_ids):
            raise ValueError(
                f"randomization.ratio names arms {sorted(self.randomization.ratio)} "
                f"but the protocol's arms are {sorted(arm_ids)}"
            )
        covariates = {c.name for c in self.baseline_covariates}
        for analysis in self.analysis.analyses:
            unknown = [
                c
                for c in analysis.covariates
                if c not in covariates and not c.startswith("baseline_")
            ]
            if unknown:
                raise ValueError(
                    f"analysis '{analysis.id}' adjusts for covariates that are not baseline "
                    f"covariates of the protocol: {', '.join(unknown)}"
                )
        published = {r.id for r in self.published.results}
        for analysis in self.analysis.analyses:
            ref = analysis.estimand.published
            if ref is not None and ref not in published:
                raise ValueError(
                    f"analysis '{analysis.id}' names published result '{ref}', which is not "
                    f"in published.results ({', '.join(sorted(published)) or 'none'})"
                )
        for assessment in self.assessments:
            late = [w for w in assessment.weeks if w > self.weeks]
            if late:
                raise ValueError(
                    f"assessment of '{assessment.instrument}' at weeks {late} is after the "
                    f"protocol's last week {self.weeks}"
                )
        return self

    def arm(self, arm_id: str) -> Arm:
        for arm in self.arms:
            if arm.id == arm_id:
                return arm
        raise KeyError(f"protocol '{self.id}' has no arm '{arm_id}'")

    @property
    def arm_ids(self) -> list[str]:
        return [arm.id for arm in self.arms]

    def analysis_spec(self, analysis_id: str) -> AnalysisSpec:
        for spec in self.analysis.analyses:
            if spec.id == analysis_id:
                return spec
        raise KeyError(f"protocol '{self.id}' has no analysis '{analysis_id}'")
