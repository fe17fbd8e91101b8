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
from mindtrial.dataset.schema import RESPONSES, TOXICOLOGY
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

    # Rows are counted by participant-period on integer codes (the dataset's codes of its
    # id, instrument, item, analyte and result columns): no string is compared or hashed
    # per row. Participants are in participant-id order, as the result is sorted.
    table = periods(protocol)
    n_periods = len(table)
    people = np.sort(ds.participants["participant_id"].to_numpy(dtype=object))
    lookup = pd.Index(people)
    cells = len(people) * n_periods

    def cell_of(file: str, rows: np.ndarray, weeks: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        """The participant-period of each of ``rows`` (-1: a week outside 1..weeks)."""
        codes, values = ds.codes(file, "participant_id")
        person = lookup.get_indexer(values).take(codes[rows])
        inside = (weeks >= 1) & (weeks <= protocol.weeks)
        period = (weeks - 1) // protocol.outcomes.period_weeks
        return np.where(inside & (person >= 0), person * n_periods + period, -1)

    def rows_where(file: str, column: str, wanted: set[str]) -> np.ndarray:  # type: ignore[type-arg]
        codes, values = ds.codes(file, column)
        hits = np.flatnonzero([v in wanted for v in values.tolist()])
        return np.isin(codes, hits)

    def any_and_count(
        cell: np.ndarray,
        flag: np.ndarray,  # type: ignore[type-arg]
    ) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
        kept = cell >= 0
        count = np.bincount(cell[kept], minlength=cells)
        hits = np.bincount(cell[kept], weights=flag[kept], minlength=cells)
        return count.astype("int64"), hits > 0

    # Surveys: one answer per participant-week (the dataset forbids duplicates).
    resp = ds.responses
    if item is None:
        n_surveys, any_use = np.zeros(cells, dtype="int64"), np.zeros(cells, dtype=bool)
    else:
        chosen = np.flatnonzero(
            rows_where(RESPONSES, "instrument", {SELF_REPORT_INSTRUMENT})
            & rows_where(RESPONSES, "item", {item})
        )
        weeks = resp["week"].to_numpy(dtype="int64")[chosen]
        cell = cell_of(RESPONSES, chosen, weeks)
        use = resp["value"].to_numpy(dtype=float, na_value=np.nan)[chosen] == 1.0
        n_surveys, any_use = any_and_count(cell, use)

    # Tests: a participant-week is positive when any analyte is, invalid when none is
    # positive and any is invalid; invalid weeks are not counted.
    tox = ds.toxicology
    analytes = np.flatnonzero(
        rows_where(TOXICOLOGY, "analyte", set(_analytes(protocol, substance)))
    )
    tox_weeks = tox["week"].to_numpy(dtype="int64")[analytes]
    cell = cell_of(TOXICOLOGY, analytes, tox_weeks)
    kept = np.flatnonzero(cell >= 0)
    week_key = cell[kept] * (int(tox_weeks.max(initial=0)) + 1) + tox_weeks[kept]
    tested, which = np.unique(week_key, return_inverse=True)
    positive = rows_where(TOXICOLOGY, "result", {"positive"})[analytes[kept]]
    invalid = rows_where(TOXICOLOGY, "result", {"invalid"})[analytes[kept]]
    week_positive = np.bincount(which, weights=positive, minlength=len(tested)) > 0
    week_invalid = np.bincount(which, weights=invalid, minlength=len(tested)) > 0
    valid = week_positive | ~week_invalid
    week_cell = tested // (int(tox_weeks.max(initial=0)) + 1)
    n_tests, any_positive = any_and_count(np.where(valid, week_cell, -1), week_positive)

    enough = (n_surveys >= need_surveys) & (n_tests >= need_tests)
    flag = np.where(any_use | any_positive, 1, np.where(enough, 0, -1))
    non_abstinent = pd.arrays.IntegerArray(flag.astype("int64"), flag < 0)

    return pd.DataFrame(
        {
            "participant_id": pd.array(np.repeat(people, n_periods), dtype="string"),
            "period": np.tile(table["period"].to_numpy(dtype="int64"), len(people)),
            "first_week": np.tile(table["first_week"].to_numpy(dtype="int64"), len(people)),
            "last_week": np.tile(table["last_week"].to_numpy(dtype="int64"), len(people)),
            "n_surveys": n_surveys,
            "n_tests": n_tests,
            # NA when there was no survey (valid test) in the period
            "any_reported_use": pd.arrays.BooleanArray(any_use, n_surveys == 0),
            "any_positive_test": pd.arrays.BooleanArray(any_positive, n_tests == 0),
            "non_abstinent": non_abstinent,
        }
    )
