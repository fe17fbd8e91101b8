"""Period abstinence per substance (the M-ROCC primary and secondary outcomes).

The rule, with the numbers taken from the protocol:

* the study weeks ``1..protocol.weeks`` are cut into periods of
  ``outcomes.period_weeks`` weeks (period 1 = weeks 1-2, …, period 7 = weeks 13-14);
* a **survey** is an answer to the ``substance_use_7d`` item the protocol names for the
  substance (``toxicology.self_report_items``); it reports use when the answer is 1;
* a **test** is one participant-week of ``toxicology.csv``. For a substance it is
  *positive* when any of the substance's analytes (``toxicology.substances``) is positive,
  *negative* when every one of its analytes that was read is negative (and at least one
  was read), and otherwise *invalid*. Invalid tests are not counted as tests;
* a period is **non-abstinent** (1) when any survey reports use or any test is positive;
  **abstinent** (0) when there are at least ``surveys_required_per_period`` surveys, all
  reporting no use, and at least ``tests_required_per_period`` tests, all negative;
  **missing** (NA) otherwise.

When a protocol names no self-report item for a substance, the survey requirement does not
apply to it (only tests decide).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.protocols.schema import Protocol

SELF_REPORT_INSTRUMENT: Final = "substance_use_7d"

PERIOD_COLUMNS: Final = (
    "participant_id",
    "period",
    "first_week",
    "last_week",
    "n_surveys",
    "n_tests",
    "any_reported_use",
    "any_positive_test",
    "non_abstinent",
)


def periods(protocol: Protocol) -> pd.DataFrame:
    """The protocol's periods: ``period``, ``first_week``, ``last_week`` (all int64)."""
    length = protocol.outcomes.period_weeks
    count = -(-protocol.weeks // length)
    numbers = np.arange(1, count + 1, dtype="int64")
    first = (numbers - 1) * length + 1
    last = np.minimum(numbers * length, protocol.weeks)
    return pd.DataFrame({"period": numbers, "first_week": first, "last_week": last})


def _period_of(weeks: pd.Series, protocol: Protocol) -> pd.Series:  # type: ignore[type-arg]
    return (weeks - 1) // protocol.outcomes.period_weeks + 1


def toxicology_tests(ds: StudyDataset, protocol: Protocol, substance: str) -> pd.DataFrame:
    """One row per participant-week test: ``participant_id``, ``week``, ``status``.

    ``status`` (string) is ``positive``, ``negative`` or ``invalid`` for ``substance``, by
    the rule in this module's docstring. Weeks without any result for the substance's
    analytes have no row.
    """
    analytes = _analytes(protocol, substance)
    tox = ds.toxicology
    rows = tox[tox["analyte"].isin(analytes)]
    columns = ["participant_id", "week", "status"]
    if rows.empty:
        return pd.DataFrame(
            {
                c: pd.Series([], dtype=d)
                for c, d in zip(columns, ("string", "int64", "string"), strict=True)
            }
        )
    flags = pd.DataFrame(
        {
            "participant_id": rows["participant_id"],
            "week": rows["week"],
            "positive": rows["result"] == "positive",
            "invalid": rows["result"] == "invalid",
        }
    )
    agg = flags.groupby(["participant_id", "week"], sort=True).agg(
        positive=("positive", "any"), invalid=("invalid", "any")
    )
    status = np.where(agg["positive"], "positive", np.where(agg["invalid"], "invalid", "negative"))
    keys = agg.index.to_frame(index=False)
    return pd.DataFrame(
        {
            "participant_id": keys["participant_id"].astype("string"),
            "week": keys["week"].astype("int64"),
            "status": pd.Series(status, dtype="string"),
        }
    )


def _analytes(protocol: Protocol, substance: str) -> list[str]:
    plan = protocol.toxicology
    if plan is None:
        raise ValueError(f"protocol {protocol.id} has no toxicology plan")
    if substance not in plan.substances:
        known = ", ".join(plan.substances)
        raise ValueError(
            f"protocol {protocol.id} defines no substance {substance!r}; substances: {known}"
        )
    return list(plan.substances[substance])


def abstinence_periods(
    ds: StudyDataset,
    protocol: Protocol,
    substance: str,
    *,
    surveys_required: int | None = None,
    tests_required: int | None = None,
) -> pd.DataFrame:
    """Every participant × every period of the protocol, with the abstinence indicator.

    Columns: ``participant_id`` (string), ``period``, ``first_week``, ``last_week``,
    ``n_surveys``, ``n_tests`` (int64), ``any_reported_use``, ``any_positive_test``
    (boolean; NA when there was no survey / no valid test), ``non_abstinent`` (Int64: 1, 0
    or NA). ``surveys_required`` and ``tests_required`` default to the protocol's
    ``outcomes.surveys_required_per_period`` and ``outcomes.tests_required_per_period``.
    The rule is in this module's docstring.
    """
    _analytes(protocol, substance)  # raises for an unknown substance
    assert protocol.toxicology is not None
    need_surveys = (
        protocol.outcomes.surveys_required_per_period
        if surveys_required is None
        else surveys_required
    )
    need_tests = (
        protocol.outcomes.tests_required_per_period if tests_required is None else tests_required
    )
    item = protocol.toxicology.self_report_items.get(substance)
    if item is None:
        need_surveys = 0

    grid = pd.merge(
        pd.DataFrame({"participant_id": ds.participants["participant_id"]}),
        periods(protocol),
        how="cross",
    )
    keys = ["participant_id", "period"]

    # Surveys: one answer per participant-week (the dataset forbids duplicates).
    resp = ds.responses
    surveys = resp[
        (resp["instrument"] == SELF_REPORT_INSTRUMENT)
        & (resp["item"] == (item or ""))
        & (resp["week"] >= 1)
        & (resp["week"] <= protocol.weeks)
    ]
    survey_frame = pd.DataFrame(
        {
            "participant_id": surveys["participant_id"],
            "period": _period_of(surveys["week"], protocol),
            "use": surveys["value"] == 1.0,
        }
    )
    survey_agg = survey_frame.groupby(keys).agg(n_surveys=("use", "size"), use=("use", "any"))

    tests = toxicology_tests(ds, protocol, substance)
    tests = tests[(tests["week"] >= 1) & (tests["week"] <= protocol.weeks)]
    tests = tests[tests["status"] != "invalid"]
    test_frame = pd.DataFrame(
        {
            "participant_id": tests["participant_id"],
            "period": _period_of(tests["week"], protocol),
            "positive": tests["status"] == "positive",
        }
    )
    test_agg = test_frame.groupby(keys).agg(
        n_tests=("positive", "size"), positive=("positive", "any")
    )

    out = grid.merge(survey_agg.reset_index(), on=keys, how="left").merge(
        test_agg.reset_index(), on=keys, how="left"
    )
    n_surveys = out["n_surveys"].fillna(0).astype("int64")
    n_tests = out["n_tests"].fillna(0).astype("int64")
    # a period without a survey (test) has no merged row: NA, and a count of 0
    use = out["use"].astype("boolean").array
    positive = out["positive"].astype("boolean").array
    any_use = np.asarray(use.fillna(False), dtype=bool)
    any_positive = np.asarray(positive.fillna(False), dtype=bool)
    enough = (n_surveys.to_numpy() >= need_surveys) & (n_tests.to_numpy() >= need_tests)
    flag = np.where(any_use | any_positive, 1, np.where(enough, 0, -1))
    non_abstinent = pd.arrays.IntegerArray(flag.astype("int64"), flag < 0)

    result = pd.DataFrame(
        {
            "participant_id": out["participant_id"].astype("string"),
            "period": out["period"].astype("int64"),
            "first_week": out["first_week"].astype("int64"),
            "last_week": out["last_week"].astype("int64"),
            "n_surveys": n_surveys,
            "n_tests": n_tests,
            "any_reported_use": use,
            "any_positive_test": positive,
            "non_abstinent": non_abstinent,
        }
    )
    return result.sort_values(keys, kind="stable").reset_index(drop=True)
