"""Weeks of any drug use over follow-up (the MORE-MMT "days of any drug use" outcome).

The study dataset holds no day-level use: the weekly ``substance_use_7d`` survey asks
yes/no questions about the past 7 days, and toxicology is one test per week. A day count
cannot be recovered from those, so this module counts **use-weeks** instead, and the
analysis says so. The rule:

* the follow-up weeks are ``1..final_week(protocol)`` (MORE-MMT: weeks 1-16); baseline
  (week 0) is not follow-up;
* a week is **assessed** when at least one drug item of ``substance_use_7d`` was answered
  that week, or there is a valid toxicology test that week for one of the protocol's
  substance groups (``toxicology.substances``, e.g. ``any_drug``);
* an assessed week is a **use-week** when any drug item is answered 1 (yes) or the week's
  test is positive for one of those substance groups (an analyte of the group positive; see
  :func:`mindtrial.outcomes.abstinence.toxicology_tests`);
* the drug items are every item of ``substance_use_7d`` except ``alcohol`` (alcohol is not
  drug use), unless ``items`` names others. Prescribed medication is excluded through the
  protocol's substance groups (MORE-MMT leaves methadone out of ``any_drug``).

The rate analysed is use-weeks per assessed week: only weeks that were observed can be
counted, so a week without a survey or a valid test is neither use nor non-use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd

from mindtrial.dataset import StudyDataset
from mindtrial.instruments import get_instrument
from mindtrial.outcomes.abstinence import SELF_REPORT_INSTRUMENT, toxicology_tests
from mindtrial.outcomes.engagement import final_week
from mindtrial.protocols.schema import Protocol

NOT_DRUGS: Final = ("alcohol",)

USE_WEEK_COLUMNS: Final = (
    "participant_id",
    "weeks_assessed",
    "use_weeks",
    "reported_use_weeks",
    "positive_test_weeks",
)


def drug_items(items: Sequence[str] | None = None) -> list[str]:
    """The ``substance_use_7d`` items that count as drug use (default: all but alcohol)."""
    known = [item.id for item in get_instrument(SELF_REPORT_INSTRUMENT).items]
    if items is None:
        return [i for i in known if i not in NOT_DRUGS]
    unknown = [i for i in items if i not in known]
    if unknown:
        raise ValueError(
            f"{SELF_REPORT_INSTRUMENT} has no item(s) {', '.join(map(repr, unknown))}; "
            f"items: {', '.join(known)}"
        )
    return list(items)


def use_weeks(
    ds: StudyDataset,
    protocol: Protocol,
    *,
    items: Sequence[str] | None = None,
    substances: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Use-weeks and assessed weeks over follow-up, one row per participant.

    Columns (participants.csv order): ``participant_id`` (string); ``weeks_assessed``,
    ``use_weeks``, ``reported_use_weeks`` (weeks with a drug item answered 1) and
    ``positive_test_weeks`` (weeks with a positive test), all int64. ``use_weeks`` counts a
    week once whether use was reported, tested positive or both. The rule is in this
    module's docstring; ``items`` and ``substances`` (default: all the protocol's substance
    groups) choose what counts as drug use.

    Raises:
        ValueError: an unknown item or substance group.
    """
    chosen_items = drug_items(items)
    plan = protocol.toxicology
    groups = list(plan.substances) if substances is None and plan is not None else []
    if substances is not None:
        groups = list(substances)
    last = final_week(protocol)
    keys = ["participant_id", "week"]

    resp = ds.responses
    answers = resp[
        (resp["instrument"] == SELF_REPORT_INSTRUMENT)
        & resp["item"].isin(chosen_items)
        & (resp["week"] >= 1)
        & (resp["week"] <= last)
        & resp["value"].notna()
    ]
    reported_rows = pd.DataFrame(
        {
            "participant_id": answers["participant_id"].astype(str),
            "week": answers["week"].astype("int64"),
            "reported": answers["value"] == 1.0,
        }
    )
    reported = reported_rows.groupby(keys)["reported"].any().reset_index()

    tested_parts = []
    for group in groups:
        tests = toxicology_tests(ds, protocol, group)  # ValueError for an unknown group
        valid = tests[
            (tests["status"] != "invalid") & (tests["week"] >= 1) & (tests["week"] <= last)
        ]
        tested_parts.append(
            pd.DataFrame(
                {
                    "participant_id": valid["participant_id"].astype(str),
                    "week": valid["week"].astype("int64"),
                    "positive": valid["status"] == "positive",
                }
            )
        )
    tested = (
        pd.concat(tested_parts, ignore_index=True).groupby(keys)["positive"].any().reset_index()
        if tested_parts
        else pd.DataFrame(
            {
                "participant_id": pd.Series([], dtype=object),
                "week": pd.Series([], dtype="int64"),
                "positive": pd.Series([], dtype=bool),
            }
        )
    )
    weeks = reported.merge(tested, on=keys, how="outer")
    rep = weeks["reported"].astype("boolean").fillna(False).astype(bool)
    pos = weeks["positive"].astype("boolean").fillna(False).astype(bool)
    per_person = (
        pd.DataFrame(
            {
                "participant_id": weeks["participant_id"],
                "weeks_assessed": 1,
                "use_weeks": (rep | pos).astype("int64"),
                "reported_use_weeks": rep.astype("int64"),
                "positive_test_weeks": pos.astype("int64"),
            }
        )
        .groupby("participant_id")
        .sum()
    )
    ids = ds.participants["participant_id"].astype(str)
    out = pd.DataFrame({"participant_id": ids.astype("string")})
    for column in USE_WEEK_COLUMNS[1:]:
        out[column] = ids.map(per_person[column]).fillna(0).astype("int64").to_numpy()
    return out.reset_index(drop=True)
