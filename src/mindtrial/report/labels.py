"""Readable names for what the report shows: covariates, outcomes, levels and subsets.

Nothing in the report's text or tables may show a raw variable name (``bup_dose_mg``): the
protocol gives each baseline covariate a label, instruments give their name and scale labels,
and anything else falls back to words (underscores to spaces).
"""

from __future__ import annotations

import re

from mindtrial.instruments import get_instrument
from mindtrial.protocols.schema import Protocol

# Codes of the dataset format's optional demographic columns (docs/study-dataset.md) whose
# plain-words form needs capitals.
_LEVEL_WORDS = {
    "american_indian_or_alaska_native": "American Indian or Alaska Native",
    "asian": "Asian",
    "black_or_african_american": "Black or African American",
    "native_hawaiian_or_pacific_islander": "Native Hawaiian or Other Pacific Islander",
    "white": "White",
    "more_than_one_race": "More than one race",
    "hispanic_or_latino": "Hispanic or Latino",
    "not_hispanic_or_latino": "Not Hispanic or Latino",
    "english": "English",
    "spanish": "Spanish",
}

# Derived covariates that name a quantity rather than a column (see analysis.plans.frames).
_DERIVED = {"cohort_wave": "enrolment cohort (wave)", "cohort": "enrolment cohort"}

_SUBSET = re.compile(r"^baseline_(?P<what>[a-z0-9]+)_above_(?P<value>[0-9]+(?:_[0-9]+)?)$")


def words(name: str) -> str:
    """``income_category`` → ``income category``."""
    return name.replace("_", " ").strip()


def sentence(name: str) -> str:
    """``income_category`` → ``Income category``."""
    text = words(name)
    return text[:1].upper() + text[1:]


def level_label(level: str) -> str:
    """A category level for display: ``black_or_african_american`` → ``Black or African
    American``; ``female`` → ``Female``; ``<10k`` unchanged."""
    if level in _LEVEL_WORDS:
        return _LEVEL_WORDS[level]
    return sentence(level) if "_" in level or level.isalpha() else level


def covariate_label(name: str, protocol: Protocol) -> str:
    """The protocol's label of a baseline covariate (lower-case first letter, for running
    text), else an instrument score named ``baseline_<score>``, else the name in words."""
    for cov in protocol.baseline_covariates:
        if cov.name == name:
            return cov.label[:1].lower() + cov.label[1:] if not _acronym(cov.label) else cov.label
    if name in _DERIVED:
        return _DERIVED[name]
    return words(name)


def _acronym(text: str) -> bool:
    first = text.split(" ", 1)[0]
    return len(first) > 1 and first.isupper()


def outcome_label(outcome: str) -> str:
    """``ocs.mean`` → ``Opioid Craving Scale (mean)``; a scale with its own label uses it;
    other outcomes in words."""
    instrument, _, score = outcome.partition(".")
    try:
        found = get_instrument(instrument)
    except KeyError:
        return sentence(outcome)
    if not score:
        return found.name
    for scale in getattr(found.scoring, "scales", None) or ():
        if getattr(scale, "id", None) == score and getattr(scale, "label", None):
            return f"{found.name}: {scale.label}"
    return f"{found.name} ({words(score)})"


def subset_label(subset: str) -> str:
    """``baseline_anxiety_above_55`` → ``a baseline anxiety score above 55``."""
    match = _SUBSET.match(subset)
    if match:
        value = match.group("value").replace("_", ".")
        return f"a baseline {match.group('what')} score above {value}"
    return words(subset)


def time_label(time: str | None) -> str:
    """``week`` → ``Week``; ``None`` → ``Time``."""
    return sentence(time) if time else "Time"


_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")


def readable(text: str, protocol: Protocol | None = None) -> str:
    """``text`` with every snake_case identifier put into words: a baseline covariate as the
    protocol labels it, a subset rule as a phrase, anything else with spaces. Used on the
    notes, warnings and errors the analysis writes for statisticians."""

    def one(match: re.Match[str]) -> str:
        name = match.group(0)
        if _SUBSET.match(name):
            return subset_label(name).removeprefix("a ")
        if protocol is not None:
            return covariate_label(name, protocol)
        return _DERIVED.get(name, words(name))

    return _IDENTIFIER.sub(one, text)
