"""Morphine milligram equivalents (MME) per day.

MME/day = daily dose × conversion factor. Doses are in mg/day, except transdermal fentanyl,
which is in mcg/hr (the patch strength). Two factor tables are available:

``cdc2022`` (default)
    CDC Clinical Practice Guideline for Prescribing Opioids for Pain, 2022: codeine 0.15,
    fentanyl transdermal 2.4, hydrocodone 1, hydromorphone 5, methadone 4.7, morphine 1,
    oxycodone 1.5, oxymorphone 3, tapentadol 0.4, tramadol 0.2.
``cdc2016``
    CDC Guideline for Prescribing Opioids for Chronic Pain, 2016: as above except
    hydromorphone 4 and methadone by daily dose: 4 (up to 20 mg), 8 (over 20 to 40),
    10 (over 40 to 60), 12 (over 60). The 2016 guideline's own table has no tapentadol or
    tramadol; we use the factors of CDC's conversion file of that period (tapentadol 0.4,
    tramadol 0.1).

Buprenorphine is not converted in either table (a partial agonist whose dose is not compared
with MME thresholds): :func:`daily_mme` raises :class:`MmeError` for it and
:func:`regimen_mme` can list it separately instead.

Arithmetic is decimal, so 30 mg methadone is exactly 141 MME (2022) and 240 MME (2016).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Guideline(StrEnum):
    CDC2022 = "cdc2022"
    CDC2016 = "cdc2016"


class MmeError(ValueError):
    """A drug, dose or guideline that cannot be converted to MME."""


_NOT_CONVERTED = {"buprenorphine"}

# (upper bound of the daily dose, inclusive; None = no bound) -> factor
_Tiers = tuple[tuple[Decimal | None, Decimal], ...]


def _flat(factor: str) -> _Tiers:
    return ((None, Decimal(factor)),)


_CDC2022: dict[str, _Tiers] = {
    "codeine": _flat("0.15"),
    "fentanyl_transdermal": _flat("2.4"),
    "hydrocodone": _flat("1"),
    "hydromorphone": _flat("5"),
    "methadone": _flat("4.7"),
    "morphine": _flat("1"),
    "oxycodone": _flat("1.5"),
    "oxymorphone": _flat("3"),
    "tapentadol": _flat("0.4"),
    "tramadol": _flat("0.2"),
}

_CDC2016: dict[str, _Tiers] = {
    **_CDC2022,
    "hydromorphone": _flat("4"),
    "methadone": (
        (Decimal(20), Decimal(4)),
        (Decimal(40), Decimal(8)),
        (Decimal(60), Decimal(10)),
        (None, Decimal(12)),
    ),
    "tramadol": _flat("0.1"),
}

_TABLES = {Guideline.CDC2022: _CDC2022, Guideline.CDC2016: _CDC2016}

_ALIASES = {
    "fentanyl_patch": "fentanyl_transdermal",
    "transdermal_fentanyl": "fentanyl_transdermal",
}

DRUGS: tuple[str, ...] = tuple(sorted(_CDC2022))
"""The drug ids that have a conversion factor."""


def _drug_id(drug: str) -> str:
    key = "_".join(drug.strip().casefold().replace("-", " ").split())
    key = _ALIASES.get(key, key)
    if key in _NOT_CONVERTED:
        raise MmeError(
            f"{drug} is not converted to MME: as a partial agonist its dose is not compared "
            "with MME thresholds (CDC 2016 and 2022); report it separately"
        )
    if key not in _CDC2022:
        hint = " (give the patch as fentanyl_transdermal, in mcg/hr)" if key == "fentanyl" else ""
        raise MmeError(f"unknown drug {drug!r}{hint}; expected one of {', '.join(DRUGS)}")
    return key


def _guideline(guideline: str) -> Guideline:
    try:
        return Guideline(guideline)
    except ValueError:
        known = ", ".join(g.value for g in Guideline)
        raise MmeError(f"unknown guideline {guideline!r}; expected one of {known}") from None


def _dose(drug: str, dose: float) -> Decimal:
    if isinstance(dose, bool) or not isinstance(dose, int | float):
        raise MmeError(f"{drug}: dose {dose!r} is not a number")
    if not math.isfinite(dose) or dose < 0:
        raise MmeError(f"{drug}: dose {dose!r} must be a finite number >= 0")
    return Decimal(repr(float(dose)))


def unit(drug: str) -> str:
    """The dose unit the factor applies to: ``mcg/hr`` for the fentanyl patch, else ``mg/day``."""
    return "mcg/hr" if _drug_id(drug) == "fentanyl_transdermal" else "mg/day"


def _factor(key: str, dose: Decimal, guideline: Guideline) -> Decimal:
    for upper, factor in _TABLES[guideline][key]:
        if upper is None or dose <= upper:
            return factor
    raise AssertionError("the last tier has no upper bound")  # pragma: no cover


def conversion_factor(drug: str, dose: float, *, guideline: str = "cdc2022") -> float:
    """The factor for ``drug`` at this daily dose (only methadone in 2016 depends on it)."""
    key = _drug_id(drug)
    return float(_factor(key, _dose(drug, dose), _guideline(guideline)))


def daily_mme(drug: str, dose: float, *, guideline: str = "cdc2022") -> float:
    """MME/day for one drug: ``dose`` in mg/day, or mcg/hr for ``fentanyl_transdermal``."""
    key = _drug_id(drug)
    amount = _dose(drug, dose)
    return float(amount * _factor(key, amount, _guideline(guideline)))


@dataclass(frozen=True, slots=True)
class MmeLine:
    drug: str
    dose: float
    unit: str
    factor: float
    mme: float


@dataclass(frozen=True, slots=True)
class RegimenMme:
    """The MME of a regimen: one line per drug, the total and the drugs left unconverted."""

    guideline: str
    total: float
    lines: tuple[MmeLine, ...]
    not_converted: tuple[str, ...] = ()


def regimen_mme(
    regimen: Mapping[str, float] | Iterable[tuple[str, float]],
    *,
    guideline: str = "cdc2022",
    skip_not_converted: bool = False,
) -> RegimenMme:
    """Total MME/day of a regimen of (drug, daily dose) pairs.

    Doses of the same drug are added before converting (the 2016 methadone factor depends on
    the total daily methadone dose). Buprenorphine raises :class:`MmeError` unless
    ``skip_not_converted`` is true, in which case it is listed in ``not_converted``.
    """
    chosen = _guideline(guideline)
    pairs = list(regimen.items()) if isinstance(regimen, Mapping) else list(regimen)
    totals: dict[str, Decimal] = {}
    skipped: list[str] = []
    for drug, dose in pairs:
        try:
            key = _drug_id(drug)
        except MmeError:
            normalised = "_".join(drug.strip().casefold().split())
            if skip_not_converted and normalised in _NOT_CONVERTED:
                if normalised not in skipped:
                    skipped.append(normalised)
                continue
            raise
        totals[key] = totals.get(key, Decimal(0)) + _dose(drug, dose)
    lines = []
    total = Decimal(0)
    for key, amount in totals.items():
        factor = _factor(key, amount, chosen)
        total += amount * factor
        lines.append(
            MmeLine(
                drug=key,
                dose=float(amount),
                unit="mcg/hr" if key == "fentanyl_transdermal" else "mg/day",
                factor=float(factor),
                mme=float(amount * factor),
            )
        )
    return RegimenMme(
        guideline=chosen.value,
        total=float(total),
        lines=tuple(lines),
        not_converted=tuple(skipped),
    )
