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

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
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


@dataclass(frozen=True)
class _TestWeeks:
    """Each participant-week with a result for one substance's analytes, on the dataset's
    codes: ``person`` is the code of its participant id in ``ids`` (the values of
    ``ds.codes(TOXICOLOGY, "participant_id")``)."""

    ids: npt.NDArray[np.object_]
    person: npt.NDArray[np.int64]
    week: npt.NDArray[np.int64]
    positive: npt.NDArray[np.bool_]
    """Any of the substance's analytes positive that week."""
    invalid: npt.NDArray[np.bool_]
    """None positive and any invalid: the week is not a test (module docstring)."""

    @property
    def status(self) -> npt.NDArray[np.str_]:
        return np.where(self.positive, "positive", np.where(self.invalid, "invalid", "negative"))


def _test_weeks(ds: StudyDataset, protocol: Protocol, substance: str) -> _TestWeeks:
    """The substance's tests by participant-week, found on integer codes: no string is
    compared or hashed per row of ``toxicology.csv``."""
    rows = np.flatnonzero(
        _rows_where(ds, TOXICOLOGY, "analyte", set(_analytes(protocol, substance)))
    )
    codes, ids = ds.codes(TOXICOLOGY, "participant_id")
    weeks = ds.toxicology["week"].to_numpy(dtype="int64")[rows]
    low = int(weeks.min(initial=0))
    stride = int(weeks.max(initial=0)) - low + 1
    key = codes[rows].astype("int64") * stride + (weeks - low)
    tested, which = np.unique(key, return_inverse=True)
    positive = _rows_where(ds, TOXICOLOGY, "result", {"positive"})[rows]
    invalid = _rows_where(ds, TOXICOLOGY, "result", {"invalid"})[rows]
    any_positive = np.bincount(which, weights=positive, minlength=len(tested)) > 0
    any_invalid = np.bincount(which, weights=invalid, minlength=len(tested)) > 0
    return _TestWeeks(
        ids=ids,
        person=tested // stride,
        week=tested % stride + low,
        positive=any_positive,
        invalid=any_invalid & ~any_positive,
    )


def _rows_where(
    ds: StudyDataset, file: str, column: str, wanted: set[str]
) -> npt.NDArray[np.bool_]:
    """Whether each row of ``file`` holds one of ``wanted`` in ``column`` (by its codes)."""
    codes, values = ds.codes(file, column)
    hits = np.flatnonzero([v in wanted for v in values.tolist()])
    return np.isin(codes, hits)


def toxicology_tests(ds: StudyDataset, protocol: Protocol, substance: str) -> pd.DataFrame:
    """One row per participant-week test: ``participant_id``, ``week``, ``status``.

    ``status`` (string) is ``positive``, ``negative`` or ``invalid`` for ``substance``, by
    the rule in this module's docstring. Weeks without any result for the substance's
    analytes have no row. Rows are sorted by participant id, then week.
    """
    found = _test_weeks(ds, protocol, substance)
    return (
        pd.DataFrame(
            {
                "participant_id": pd.array(found.ids.take(found.person), dtype="string"),
                "week": found.week,
                "status": pd.array(found.status, dtype="string"),
            }
        )
        .sort_values(["participant_id", "week"], kind="stable")
        .reset_index(drop=True)
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

    def period_cell(
        ids: npt.NDArray[np.object_], codes: npt.NDArray[Any], weeks: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """The participant-period of each row (its participant's code in ``ids`` and its
        week; -1: a week outside 1..weeks)."""
        person = lookup.get_indexer(ids).take(codes)
        inside = (weeks >= 1) & (weeks <= protocol.weeks)
        period = (weeks - 1) // protocol.outcomes.period_weeks
        return np.where(inside & (person >= 0), person * n_periods + period, -1)

    def any_and_count(
        cell: npt.NDArray[np.int64], flag: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Per participant-period: how many rows, and whether any is flagged."""
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
            _rows_where(ds, RESPONSES, "instrument", {SELF_REPORT_INSTRUMENT})
            & _rows_where(ds, RESPONSES, "item", {item})
        )
        weeks = resp["week"].to_numpy(dtype="int64")[chosen]
        codes, ids = ds.codes(RESPONSES, "participant_id")
        cell = period_cell(ids, codes[chosen], weeks)
        use = resp["value"].to_numpy(dtype=float, na_value=np.nan)[chosen] == 1.0
        n_surveys, any_use = any_and_count(cell, use)

    # Tests: invalid weeks are not counted.
    tests = _test_weeks(ds, protocol, substance)
    counted = np.flatnonzero(~tests.invalid)
    cell = period_cell(tests.ids, tests.person[counted], tests.week[counted])
    n_tests, any_positive = any_and_count(cell, tests.positive[counted])

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
