"""Scenarios: every rate, effect and attrition knob of a simulated trial, as data.

Each shipped protocol has a scenario file ``simulate/scenarios/<protocol id>.yaml`` that
holds every number of its simulated trial; published results are not typed there again but
referenced (``{published: results.primary.arms}``) and read from the protocol file, so a
fourth trial is a protocol file plus a scenario file. :func:`default_scenario` loads the
shipped file (a protocol without one gets the generic parts only: sample, retention,
attendance, adverse events, with no treatment effects). :func:`load_scenario` reads a YAML
file whose keys override the default scenario at any depth
(``substances.opioids.percent.mrocc: 8``). Errors name the file and the field path.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mindtrial.dataset.schema import ETHNICITIES, LANGUAGES, RACES
from mindtrial.instruments import mme
from mindtrial.instruments.registry import get_instrument
from mindtrial.protocols.schema import Protocol

Probability = float


class _Knobs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScenarioError(ValueError):
    """A scenario file or value that cannot be used; the message names the field."""


class CovariateSpec(_Knobs):
    """How one baseline covariate is drawn.

    ``normal``: a normal truncated to [minimum, maximum] whose mean and SD *after*
    truncation are ``mean`` and ``sd`` (the published sample figures), rounded to
    ``round_to``;
    ``discrete``: a number from ``values`` (value -> probability); ``choice``: a level from
    ``levels`` (level -> probability); ``bernoulli``: true with probability ``p``.
    """

    kind: Literal["normal", "discrete", "choice", "bernoulli"]
    mean: float | None = None
    sd: float | None = Field(None, ge=0)
    minimum: float | None = None
    maximum: float | None = None
    round_to: float | None = Field(None, gt=0)
    values: dict[float, float] = {}
    levels: dict[str, float] = {}
    p: Probability | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _complete(self) -> CovariateSpec:
        needs = {
            "normal": self.mean is not None and self.sd is not None,
            "discrete": bool(self.values),
            "choice": bool(self.levels),
            "bernoulli": self.p is not None,
        }
        if not needs[self.kind]:
            what = {
                "normal": "mean and sd",
                "discrete": "values",
                "choice": "levels",
                "bernoulli": "p",
            }
            raise ValueError(f"a {self.kind} covariate needs {what[self.kind]}")
        for name, table in (("values", self.values), ("levels", self.levels)):
            if table and (min(table.values()) < 0 or sum(table.values()) <= 0):
                raise ValueError(f"{name}: probabilities must be ≥ 0 with a positive sum")
        return self


class FunnelSpec(_Knobs):
    """The screening funnel (CONSORT), as counts for ``per_randomized`` randomized people.

    Counts are scaled to the simulated n. ``not_consented_stages`` splits the referrals that
    never consented by the furthest stage reached (not published: an assumption).
    """

    per_randomized: int = Field(gt=0)
    referred: int = Field(ge=0)
    consented: int = Field(ge=0)
    excluded_after_consent: int = Field(ge=0)
    baseline_incomplete: int = Field(ge=0)
    not_consented_stages: dict[Literal["referred", "screened", "eligible"], float] = {
        "referred": 0.45,
        "screened": 0.35,
        "eligible": 0.20,
    }
    screen_fail_reasons: list[str] = ["not eligible at screening"]
    exclusion_reasons: list[str] = ["met an exclusion criterion"]


class InformativeDropoutSpec(_Knobs):
    """Dropout that depends on how a score evolves (missing not at random).

    A participant's latent dropout propensity (the normal score of the uniform that sets
    their last week, so retention by arm is unchanged) has correlation ``correlation`` with
    their random slope on trajectory ``trajectory``: positive means people whose score rises
    more (or falls less) leave earlier.
    """

    trajectory: str
    correlation: float = Field(ge=-1, le=1)


class RetentionSpec(_Knobs):
    """Still in the study at each anchor week, per arm (``{arm: {week: fraction}}``).

    Retention is 1 at week 0 and log-linear between anchors. ``reasons`` are the
    withdrawal reasons (reason -> probability). ``informative`` (optional) ties dropout to
    a trajectory's random slope.
    """

    survival: dict[str, dict[int, Probability]]
    reasons: dict[str, float] = {"lost to follow-up": 0.8, "withdrew consent": 0.2}
    informative: InformativeDropoutSpec | None = None

    @model_validator(mode="after")
    def _decreasing(self) -> RetentionSpec:
        for arm, anchors in self.survival.items():
            values = [anchors[w] for w in sorted(anchors)]
            if any(not 0 < v <= 1 for v in values):
                raise ValueError(f"survival.{arm}: fractions must lie in (0, 1]")
            if any(b > a for a, b in itertools.pairwise(values)):
                raise ValueError(
                    f"survival.{arm}: retention cannot rise from one week to a later one"
                )
        return self


class ContinuationSpec(_Knobs):
    """A continuation choice (M-ROCC week 8): who goes on attending groups.

    ``probability`` by sex level, ``default`` for any other; those who stop keep giving
    surveys and tests but attend no further groups.
    """

    probability: dict[str, Probability] = {}
    default: Probability = Field(0.5, ge=0, le=1)


class AttendanceSpec(_Knobs):
    """Weekly group attendance while in the study (and still attending groups).

    A participant's attendance probability is ``expit(logit(mean[arm]) + person_sd·Z)``.
    """

    mean: dict[str, Probability]
    person_sd: float = Field(1.2, ge=0)
    continuation: ContinuationSpec | None = None


class CollectionSpec(_Knobs):
    """Data completeness while in the study."""

    survey_completion: Probability = Field(0.9, ge=0, le=1)
    test_completion: Probability = Field(0.9, ge=0, le=1)
    invalid_test: Probability = Field(0.01, ge=0, le=1)


class SubstanceSpec(_Knobs):
    """Latent use of one substance per toxicology window (M-ROCC's 2-week periods).

    ``percent[arm]`` is the target percentage of *observed* non-abstinent periods (what the
    GEE reports); the logit intercept is solved for it, given the random-effect SD, the
    covariate effects, the survey and test completion and the detection probabilities.
    A period of use is reported in each weekly survey with ``report_sensitivity`` and shows
    on the window's test with ``test_sensitivity``; the positive analyte is drawn from
    ``analytes`` (weights), others of the group co-positive with ``co_positive``.
    """

    percent: dict[str, float]
    person_sd: float = Field(1.5, ge=0)
    covariate_log_odds: dict[str, float] = {}
    report_sensitivity: Probability = Field(0.75, ge=0, le=1)
    test_sensitivity: Probability = Field(0.8, ge=0, le=1)
    analytes: dict[str, float] = {}
    co_positive: Probability = Field(0.15, ge=0, le=1)
    correlated_with: str | None = None
    correlation: float = Field(0.0, ge=-1, le=1)
    group_sd: float = Field(0.0, ge=0)
    """SD of a therapy-group effect on the logit of use (arms with group sessions only)."""


class BackgroundSpec(_Knobs):
    """Other panel analytes and self-report items, independent of the outcomes.

    ``users[x]`` is the fraction of people who use x at all; a user's test is positive
    with ``positive_if_user`` and anyone else's with ``positive_otherwise``.
    """

    users: dict[str, Probability] = {}
    positive_if_user: Probability = 0.6
    positive_otherwise: Probability = 0.003
    report_if_user: Probability = 0.5
    analyte_of: dict[str, list[str]] = {}


class TrajectorySpec(_Knobs):
    """A continuous score over time: latent normal, then items that score to it.

    Latent score = ``baseline_mean`` + ``change[arm]``·shape(week) + person intercept
    (SD ``intercept_sd``) + person slope·shape(week) (SD ``slope_sd``) + therapy-group
    effect·shape(week) (SD ``group_sd``; participants of one cohort in one arm share it,
    arms without group sessions have none) + residual (SD ``residual_sd``, serially
    correlated within a person: correlation ``ar1`` ** weeks apart), clipped to the score's range and turned into item answers whose
    score is the latent value in expectation. Baseline and change are calibrated by Monte
    Carlo so that the observed mean at week 0 is ``baseline_mean[arm]`` and the observed
    mean change at the last assessment is ``change[arm]`` — among participants whose
    observed baseline exceeds ``subgroup_min`` when that is set (M-ROCC's anxiety subgroup).
    shape(w) = (1 - exp(-w/tau)) / (1 - exp(-last/tau)) for ``exponential``;
    min(1, w/tau) for ``plateau``.
    """

    baseline_mean: dict[str, float]
    change: dict[str, float]
    intercept_sd: float = Field(ge=0)
    slope_sd: float = Field(0.0, ge=0)
    residual_sd: float = Field(ge=0)
    group_sd: float = Field(0.0, ge=0)
    ar1: float = Field(0.0, ge=0, lt=1)
    shape: Literal["exponential", "plateau"] = "exponential"
    tau: float = Field(8.0, gt=0)
    subgroup_min: float | None = None


class MisuseSpec(_Knobs):
    """Opioid misuse at each assessment (MORE primary care): everyone misuses at baseline.

    ``not_misusing_percent[arm][week]`` is the target; a misusing participant's COMM total
    is 13 + Poisson(``comm_excess_mean``) (≤ 68) and an unexpected urine result appears with
    ``urine_positive``; a non-misusing participant's COMM total is Binomial(12,
    ``comm_below_fraction``) and the urine is negative for the protocol's listed analytes.

    ``constant_odds_ratio_to``: an arm whose table gives every week. Each other arm's
    missing weeks are then filled so that its odds ratio against that arm is the one of its
    last given week at every week (a constant marginal odds ratio: the estimand of a
    logistic GEE of misuse over all assessments is then exactly that odds ratio).
    """

    # Declared first: the validator of not_misusing_percent reads it.
    constant_odds_ratio_to: str | None = None
    not_misusing_percent: dict[str, dict[int, float]]
    person_sd: float = Field(1.5, ge=0)
    comm_threshold: int = 13
    comm_excess_mean: float = Field(7.0, ge=0)
    comm_below_fraction: Probability = 0.5
    urine_positive: Probability = 0.4

    @field_validator("not_misusing_percent")
    @classmethod
    def _fill_constant_odds_ratio(
        cls, tables: dict[str, dict[int, float]], info: ValidationInfo
    ) -> dict[str, dict[int, float]]:
        reference = info.data.get("constant_odds_ratio_to")
        if reference is None:
            return tables
        if reference not in tables:
            raise ValueError(
                f"constant_odds_ratio_to: {reference!r} is not an arm of not_misusing_percent "
                f"({', '.join(tables)})"
            )
        base = tables[reference]
        filled: dict[str, dict[int, float]] = {}
        for arm, table in tables.items():
            if not table:
                raise ValueError(f"not_misusing_percent.{arm}: give at least one week")
            if extra := sorted(set(table) - set(base)):
                raise ValueError(
                    f"not_misusing_percent.{arm}: week(s) {', '.join(map(str, extra))} not in "
                    f"{reference}'s table, which constant_odds_ratio_to needs at every week"
                )
            last = max(table)
            log_or = _logit(table[last]) - _logit(base[last])
            filled[arm] = {
                week: table[week] if week in table else _expit(_logit(value) + log_or)
                for week, value in sorted(base.items())
            }
        return filled


def _logit(percent: float) -> float:
    if not 0 < percent < 100:
        raise ValueError(f"a percentage must lie strictly between 0 and 100, not {percent:g}")
    return math.log(percent / (100 - percent))


def _expit(log_odds: float) -> float:
    return 100 / (1 + math.exp(-log_odds))


class EventSpec(_Knobs):
    """Weekly drug use and treatment retention (MORE with methadone).

    Return to use: first week of use with weekly hazard ``return_hazard`` in the reference
    arm and hazard ratio ``return_hr[arm]`` (grouped proportional hazards,
    1 - (1 - h)^HR); after it, each week is a use week with ``use_after_return``.
    Treatment dropout: the same with ``dropout_hazard`` and ``dropout_hr``. Methadone
    adherence: the share of scheduled doses taken (and of urine tests positive for methadone),
    ``adherence_percent[arm]``. Days of use in a use week: 1 + Binomial(6, (m - 1)/6) with
    mean m; the reference arm's m is ``days_per_use_week`` and each other arm's is solved so
    that its ratio of mean days per follow-up week to the reference is ``days_ratio[arm]``.
    """

    return_hazard: Probability = Field(0.08, ge=0, le=1)
    return_hr: dict[str, float]
    use_after_return: Probability = Field(0.5, ge=0, le=1)
    report_sensitivity: Probability = Field(0.6, ge=0, le=1)
    test_sensitivity: Probability = Field(0.9, ge=0, le=1)
    drug_analytes: dict[str, float] = Field(min_length=1)
    dropout_hazard: Probability = Field(0.022, ge=0, le=1)
    dropout_hr: dict[str, float]
    adherence_percent: dict[str, float]
    adherence_person_sd: float = Field(1.0, ge=0)
    days_per_use_week: float = Field(3.5, ge=1, le=7)
    days_ratio: dict[str, float] = {}


class DemographicsSpec(_Knobs):
    """Race, ethnicity and preferred language (level -> probability; levels of the dataset)."""

    race: dict[str, Probability] = {}
    ethnicity: dict[str, Probability] = {}
    language: dict[str, Probability] = {}


class EmaItemSpec(_Knobs):
    """One EMA item: a person-week mean that changes by arm, and prompt-level noise.

    Person-week mean = ``baseline_mean[arm]`` + ``change[arm]``·min(1, week/``tau``) +
    person intercept (SD ``intercept_sd``); each answered prompt is that mean plus noise
    (SD ``residual_sd``), rounded and clipped to the item's range.
    """

    baseline_mean: dict[str, float]
    change: dict[str, float]
    intercept_sd: float = Field(ge=0)
    residual_sd: float = Field(ge=0)
    tau: float = Field(8.0, gt=0)


class EmaSpec(_Knobs):
    """Random EMA prompts (the protocol's ``prompts_per_day``) on ``days_per_burst`` days of
    each EMA week, at uniform times between ``first_hour`` and ``last_hour`` local time
    (UTC offset ``utc_offset_hours``); a prompt is answered with probability
    expit(logit(``response_rate``) + ``response_person_sd``·Z)."""

    days_per_burst: int = Field(7, ge=1, le=7)
    first_hour: int = Field(9, ge=0, le=23)
    last_hour: int = Field(21, ge=1, le=24)
    utc_offset_hours: float = Field(0.0, ge=-12, le=14)
    response_rate: Probability = Field(0.7, gt=0, lt=1)
    response_person_sd: float = Field(0.8, ge=0)
    items: dict[str, EmaItemSpec] = {}

    @model_validator(mode="after")
    def _hours(self) -> EmaSpec:
        if self.last_hour <= self.first_hour:
            raise ValueError("last_hour must be after first_hour")
        return self


class MedicationSpec(_Knobs):
    """A prescribed-opioid list at ``weeks`` (MME over time).

    Each participant has a main opioid drawn from ``opioids`` (drug -> probability; drug ids
    of the MME calculator) and, with probability ``second_opioid``, a second one carrying
    30% of the MME. The baseline total is drawn from covariate ``baseline_covariate`` and
    the covariate is then set to the MME of the rounded baseline list. The dose changes by
    ``change_percent[arm]`` by the end of treatment (then stays), times a person factor
    exp(``person_sd``·Z).
    """

    weeks: list[int] = Field(min_length=1)
    opioids: dict[str, Probability] = Field(min_length=1)
    second_opioid: Probability = Field(0.3, ge=0, le=1)
    baseline_covariate: str
    change_percent: dict[str, float]
    person_sd: float = Field(0.15, ge=0)


class ObservedDosingSpec(_Knobs):
    """Weekly observed dosing of the treatment medication while in treatment: ``drug`` at the
    dose of covariate ``dose_covariate``, ``days_per_week`` doses scheduled, doses taken
    Binomial(scheduled, p) with the person's adherence p (``events.adherence_percent``)."""

    drug: str
    dose_covariate: str
    days_per_week: int = Field(7, ge=1, le=7)


class AdverseEventSpec(_Knobs):
    """Adverse events: Poisson counts over follow-up, then their attributes."""

    rate: dict[str, float]
    severity: dict[str, float] = {"mild": 0.7, "moderate": 0.25, "severe": 0.05}
    serious: Probability = 0.05
    related: dict[str, Probability] = {}
    expected: Probability = 0.5


class Scenario(_Knobs):
    """Every knob of a simulated trial (see ``docs/simulation.md``)."""

    protocol_id: str
    description: str = ""
    sex: dict[str, Probability]
    age: CovariateSpec
    arm_sizes: dict[str, float] | None = None
    """Relative arm sizes (e.g. the published 129/121), scaled to n; None = the protocol's
    block randomization."""
    covariates: dict[str, CovariateSpec] = {}
    sites: dict[str, Probability] = {}
    demographics: DemographicsSpec | None = None
    funnel: FunnelSpec | None = None
    recruitment_start: date
    recruitment_end: date
    cohort_size: int = Field(16, gt=0)
    retention: RetentionSpec
    attendance: AttendanceSpec
    collection: CollectionSpec = CollectionSpec()
    substances: dict[str, SubstanceSpec] = {}
    background: BackgroundSpec = BackgroundSpec()
    trajectories: dict[str, TrajectorySpec] = {}
    misuse: MisuseSpec | None = None
    events: EventSpec | None = None
    ema: EmaSpec | None = None
    medications: MedicationSpec | None = None
    observed_dosing: ObservedDosingSpec | None = None
    home_practice_days: Probability = Field(0.5, ge=0, le=1)
    adverse_events: AdverseEventSpec

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A copy with ``overrides`` merged in at any depth (validated again)."""
        merged = _deep_merge(self.model_dump(mode="python"), overrides)
        return _validate(merged, source="overrides")


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: Mapping[str, Any], *, source: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field (not a scenario knob)"
            lines.append(f"  - {loc}: {msg}")
        raise ScenarioError(f"{source}: invalid scenario:\n" + "\n".join(lines)) from None


# --------------------------------------------------------------------------- references

_REFERENCE_KEYS = frozenset({"published", "protocol", "divide_by", "scale", "add"})


def _lookup(protocol: Protocol, path: str, *, root: str) -> Any:
    """The protocol value at ``path`` (``published`` paths start at ``protocol.published``)."""
    parts = path.split(".")
    value: Any = protocol.published if root == "published" else protocol
    walked: list[str] = [root]
    for i, part in enumerate(parts):
        if root == "published" and i == 1 and walked[-1] == "results":
            found = next((r for r in protocol.published.results if r.id == part), None)
            if found is None:
                known = ", ".join(r.id for r in protocol.published.results) or "none"
                raise ScenarioError(
                    f"{root}: {path}: the protocol has no published result {part!r} "
                    f"(its results: {known})"
                )
            value = found
        elif isinstance(value, Mapping):
            if part not in value:
                raise ScenarioError(f"{root}: {path}: {'.'.join(walked)} has no key {part!r}")
            value = value[part]
        elif isinstance(value, BaseModel) and part in type(value).model_fields:
            value = getattr(value, part)
        else:
            raise ScenarioError(f"{root}: {path}: {'.'.join(walked)} has no field {part!r}")
        walked.append(part)
    if value is None:
        raise ScenarioError(f"{root}: {path}: the protocol gives no value there")
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    return value


def _arith(value: Any, divisor: float, scale: float, add: float, where: str) -> Any:
    if isinstance(value, Mapping):
        return {k: _arith(v, divisor, scale, add, where) for k, v in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float):
        if divisor == 1 and scale == 1 and add == 0:
            return value
        raise ScenarioError(f"{where}: arithmetic on a value that is not a number: {value!r}")
    if divisor == 1 and scale == 1 and add == 0:
        return value
    return value / divisor * scale + add


def _resolve(node: Any, protocol: Protocol, where: str) -> Any:
    """``node`` with every ``{published: PATH}`` / ``{protocol: PATH}`` replaced by its value."""
    if isinstance(node, Mapping) and ("published" in node or "protocol" in node):
        unknown = sorted(set(map(str, node)) - _REFERENCE_KEYS)
        if unknown or ("published" in node) == ("protocol" in node):
            raise ScenarioError(
                f"{where}: a reference is {{published: PATH}} or {{protocol: PATH}} with "
                f"optional divide_by, scale and add; found keys {', '.join(map(str, node))}"
            )
        root = "published" if "published" in node else "protocol"
        try:
            value = _lookup(protocol, str(node[root]), root=root)
            divisor = 1.0
            if "divide_by" in node:
                divisor = float(_lookup(protocol, str(node["divide_by"]), root="published"))
        except ScenarioError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        except (TypeError, ValueError):
            raise ScenarioError(f"{where}: divide_by is not a number") from None
        if divisor == 0:
            raise ScenarioError(f"{where}: divide_by {node['divide_by']} is zero")
        scale, add = node.get("scale", 1.0), node.get("add", 0.0)
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (scale, add)):
            raise ScenarioError(f"{where}: scale and add must be numbers")
        return _arith(value, divisor, float(scale), float(add), where)
    if isinstance(node, Mapping):
        return {
            k: _resolve(v, protocol, f"{where}.{k}" if where else str(k)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_resolve(v, protocol, f"{where}[{i}]") for i, v in enumerate(node)]
    return node


# --------------------------------------------------------------------------- defaults

_SHIPPED: Final = "mindtrial.simulate.scenarios"


def _generic(protocol: Protocol) -> dict[str, Any]:
    """The parts every protocol has, from its published sample and flow (no effects)."""
    sample = protocol.published.sample
    female = sample.female_fraction if sample.female_fraction is not None else 0.5
    nonbinary = sample.nonbinary_fraction or 0.0
    male = sample.male_fraction if sample.male_fraction is not None else 1.0 - female - nonbinary
    sex = {k: v for k, v in {"female": female, "male": male, "nonbinary": nonbinary}.items() if v}
    limits = next((c for c in protocol.baseline_covariates if c.name == "age"), None)
    flow = protocol.published.flow
    final = flow.completed_final / flow.randomized if flow.completed_final is not None else 0.75
    arms = protocol.arm_ids
    return {
        "protocol_id": protocol.id,
        "description": f"Generic scenario of {protocol.source.citation} (no treatment effects)",
        "sex": sex,
        "age": {
            "kind": "normal",
            "mean": sample.age_mean if sample.age_mean is not None else 45.0,
            "sd": sample.age_sd if sample.age_sd is not None else 12.0,
            "minimum": limits.minimum if limits and limits.minimum is not None else 18.0,
            "maximum": limits.maximum if limits and limits.maximum is not None else 85.0,
            "round_to": 1.0,
        },
        "recruitment_start": date(2024, 1, 1),
        "recruitment_end": date(2025, 12, 31),
        "cohort_size": min(2 * protocol.session.group_size_max, 24),
        "retention": {"survival": {arm: {protocol.weeks: final} for arm in arms}},
        "attendance": {"mean": dict.fromkeys(arms, 0.75)},
        "adverse_events": {"rate": dict.fromkeys(arms, 0.2)},
    }


def scenario_from_mapping(raw: Mapping[str, Any], protocol: Protocol, *, source: str) -> Scenario:
    """Validate a scenario mapping (references resolved against ``protocol``)."""
    try:
        resolved = _resolve(raw, protocol, "")
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: invalid scenario:\n  - {exc}") from None
    return _validate(resolved, source=source)


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario knobs at the top level")
    return raw


def shipped_scenario_file(protocol_id: str) -> Traversable | None:
    """The shipped scenario file of a protocol, or None."""
    resource = resources.files(_SHIPPED) / f"{protocol_id}.yaml"
    return resource if resource.is_file() else None


def default_scenario(protocol: Protocol) -> Scenario:
    """``protocol``'s shipped scenario (``simulate/scenarios/<id>.yaml``), calibrated to its
    published trial; a protocol without one gets the generic parts with no effects."""
    resource = shipped_scenario_file(protocol.id)
    if resource is None:
        return _validate(_generic(protocol), source=f"generic scenario of {protocol.id}")
    source = f"scenarios/{protocol.id}.yaml"
    raw = _read_yaml(resource.read_text(encoding="utf-8"), source)
    _check_protocol_id(raw, protocol, source)
    return scenario_from_mapping(raw, protocol, source=source)


def _check_protocol_id(raw: Mapping[str, Any], protocol: Protocol, source: str) -> None:
    if raw.get("protocol_id", protocol.id) != protocol.id:
        raise ScenarioError(
            f"{source}: protocol_id: the scenario is for {raw['protocol_id']!r}, "
            f"not {protocol.id!r}"
        )


def load_scenario(path: str | Path, protocol: Protocol) -> Scenario:
    """``protocol``'s default scenario with the YAML file at ``path`` merged over it."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{file}: scenario file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{file}: cannot read the scenario file: {exc}") from None
    raw = _read_yaml(text, str(file))
    _check_protocol_id(raw, protocol, str(file))
    try:
        resolved = _resolve(raw, protocol, "")
    except ScenarioError as exc:
        raise ScenarioError(f"{file}: invalid scenario:\n  - {exc}") from None
    merged = _deep_merge(default_scenario(protocol).model_dump(mode="python"), resolved)
    return _validate(merged, source=str(file))


_DEMOGRAPHIC_LEVELS: Final = {"race": RACES, "ethnicity": ETHNICITIES, "language": LANGUAGES}


def _instrument_items(instrument_id: str) -> tuple[str, ...]:
    try:
        return get_instrument(instrument_id).item_ids
    except KeyError:
        return ()


def check_scenario(scenario: Scenario, protocol: Protocol) -> None:
    """Raise :class:`ScenarioError` when the scenario does not fit the protocol."""
    problems: list[str] = []
    arms = set(protocol.arm_ids)
    if scenario.protocol_id != protocol.id:
        problems.append(
            f"protocol_id: scenario is for {scenario.protocol_id!r}, not {protocol.id!r}"
        )

    def need_arms(where: str, table: Mapping[str, object]) -> None:
        missing = sorted(arms - set(table))
        unknown = sorted(set(table) - arms)
        if missing:
            problems.append(f"{where}: no value for arm(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"{where}: unknown arm(s) {', '.join(unknown)}")

    need_arms("retention.survival", scenario.retention.survival)
    linked = scenario.retention.informative
    if linked is not None and linked.trajectory not in scenario.trajectories:
        problems.append(
            f"retention.informative.trajectory: {linked.trajectory!r} is not a trajectory of "
            "the scenario"
        )
    need_arms("attendance.mean", scenario.attendance.mean)
    need_arms("adverse_events.rate", scenario.adverse_events.rate)
    covariate_names = {c.name for c in protocol.baseline_covariates}
    for name in scenario.covariates:
        if name not in covariate_names:
            problems.append(f"covariates.{name}: not a baseline covariate of {protocol.id}")
    tox = protocol.toxicology
    for name, sub in scenario.substances.items():
        need_arms(f"substances.{name}.percent", sub.percent)
        if any(not 0 < p < 100 for p in sub.percent.values()):
            problems.append(
                f"substances.{name}.percent: percentages must lie strictly between 0 and 100"
            )
        if tox is None or name not in tox.substances:
            problems.append(
                f"substances.{name}: the protocol's toxicology plan has no substance {name!r}"
            )
        elif unknown := sorted(set(sub.analytes) - set(tox.substances[name])):
            problems.append(
                f"substances.{name}.analytes: not analytes of {name}: {', '.join(unknown)}"
            )
    for key, traj in scenario.trajectories.items():
        need_arms(f"trajectories.{key}.baseline_mean", traj.baseline_mean)
        need_arms(f"trajectories.{key}.change", traj.change)
        if "." not in key:
            problems.append(f"trajectories.{key}: expected INSTRUMENT.SCORE, e.g. ocs.mean")
    if scenario.misuse is not None:
        need_arms("misuse.not_misusing_percent", scenario.misuse.not_misusing_percent)
    if scenario.events is not None:
        need_arms("events.return_hr", scenario.events.return_hr)
        need_arms("events.dropout_hr", scenario.events.dropout_hr)
        need_arms("events.adherence_percent", scenario.events.adherence_percent)
    if scenario.arm_sizes is not None:
        need_arms("arm_sizes", scenario.arm_sizes)
    if scenario.events is not None and scenario.events.days_ratio:
        need_arms("events.days_ratio", scenario.events.days_ratio)
    if scenario.demographics is not None:
        for name, table in scenario.demographics.model_dump().items():
            if unknown := sorted(set(table) - set(_DEMOGRAPHIC_LEVELS[name])):
                problems.append(
                    f"demographics.{name}: unknown level(s) {', '.join(unknown)}; expected "
                    f"{', '.join(_DEMOGRAPHIC_LEVELS[name])}"
                )
    ema_items = {
        item
        for a in protocol.assessments
        if a.mode == "ema"
        for item in _instrument_items(a.instrument)
    }
    if scenario.ema is not None:
        for name, item in scenario.ema.items.items():
            if name not in ema_items:
                problems.append(f"ema.items.{name}: not an item of the protocol's EMA instruments")
            need_arms(f"ema.items.{name}.baseline_mean", item.baseline_mean)
            need_arms(f"ema.items.{name}.change", item.change)
    if scenario.medications is not None:
        meds = scenario.medications
        need_arms("medications.change_percent", meds.change_percent)
        if unknown := sorted(set(meds.opioids) - set(mme.DRUGS)):
            problems.append(
                f"medications.opioids: unknown drug(s) {', '.join(unknown)}; expected drug ids "
                f"of the MME calculator ({', '.join(mme.DRUGS)})"
            )
        if meds.baseline_covariate not in covariate_names:
            problems.append(
                f"medications.baseline_covariate: {meds.baseline_covariate!r} is not a baseline "
                f"covariate of {protocol.id}"
            )
    if scenario.observed_dosing is not None:
        dosing = scenario.observed_dosing
        if dosing.dose_covariate not in covariate_names:
            problems.append(
                f"observed_dosing.dose_covariate: {dosing.dose_covariate!r} is not a baseline "
                f"covariate of {protocol.id}"
            )
        if dosing.drug not in (*mme.DRUGS, "buprenorphine"):
            problems.append(f"observed_dosing.drug: unknown drug {dosing.drug!r}")
        if scenario.events is None:
            problems.append("observed_dosing: needs events.adherence_percent (an events section)")
    if problems:
        raise ScenarioError(
            "scenario does not fit the protocol:\n" + "\n".join(f"  - {p}" for p in problems)
        )


__all__ = [
    "AdverseEventSpec",
    "AttendanceSpec",
    "BackgroundSpec",
    "CollectionSpec",
    "ContinuationSpec",
    "CovariateSpec",
    "DemographicsSpec",
    "EmaItemSpec",
    "EmaSpec",
    "EventSpec",
    "FunnelSpec",
    "InformativeDropoutSpec",
    "MedicationSpec",
    "MisuseSpec",
    "ObservedDosingSpec",
    "RetentionSpec",
    "Scenario",
    "ScenarioError",
    "SubstanceSpec",
    "TrajectorySpec",
    "check_scenario",
    "default_scenario",
    "load_scenario",
    "scenario_from_mapping",
    "shipped_scenario_file",
]
