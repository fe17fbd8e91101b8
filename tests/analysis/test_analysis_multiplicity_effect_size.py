"""Benjamini–Hochberg and Cohen d on hand-worked numbers and the published M-ROCC magnitudes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mindtrial.analysis import (
    AnalysisError,
    benjamini_hochberg,
    change_score_sd,
    cohen_d,
    pooled_sd,
)


def test_bh_by_hand() -> None:
    # p = .01 .04 .03 .005 (n = 4). Sorted .005 .01 .03 .04 -> p*n/rank = .02 .02 .04 .04,
    # running minimum from the top keeps them; back in input order:
    np.testing.assert_allclose(
        benjamini_hochberg([0.01, 0.04, 0.03, 0.005]), [0.02, 0.04, 0.04, 0.02]
    )


def test_bh_is_monotone_and_capped() -> None:
    # .5 * 2 / 1 = 1.0 would exceed the adjusted value of the larger p -> min keeps order; cap 1
    np.testing.assert_allclose(benjamini_hochberg([0.9, 0.95]), [0.95, 0.95])
    assert benjamini_hochberg([]).size == 0


def test_bh_rejects_out_of_range() -> None:
    with pytest.raises(AnalysisError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.2, 1.2])


def test_change_score_sd_by_hand() -> None:
    # changes 1, 2, 4 (third pair complete, a fourth pair has a missing follow-up):
    # mean 7/3, SD = sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2) = sqrt(7/3)
    sd = change_score_sd([1, 2, 3, 5], [2, 4, 7, np.nan])
    assert sd == pytest.approx(math.sqrt(7 / 3))
    assert cohen_d(-2.0, sd=sd) == pytest.approx(-2.0 / math.sqrt(7 / 3))


def test_pooled_sd_by_hand() -> None:
    # var(1,2,3) = 1, var(2,4,6,8) = 20/3; pooled = (2*1 + 3*20/3) / 5 = 22/5
    assert pooled_sd([1, 2, 3], [2, 4, 6, 8]) == pytest.approx(math.sqrt(22 / 5))


def test_effect_size_errors() -> None:
    with pytest.raises(AnalysisError, match="positive"):
        cohen_d(1.0, sd=0.0)
    with pytest.raises(AnalysisError, match="at least 2"):
        change_score_sd([1.0, np.nan], [2.0, 3.0])
    with pytest.raises(AnalysisError, match="align them"):
        change_score_sd([1.0, 2.0], [2.0])


@pytest.mark.parametrize(
    ("outcome", "pairs"),
    [
        # (difference, published d) from docs/sources.md, Trials (JAMA Netw Open 2025)
        ("anxiety", [(-9.0, -1.1), (-10.0, -1.3)]),
        ("craving", [(-2.3, -1.3), (-1.3, -0.7), (-1.0, -0.5)]),
    ],
)
def test_published_d_imply_one_change_sd_per_outcome(
    outcome: str, pairs: list[tuple[float, float]]
) -> None:
    """With our definition (SD of change scores, similar in both arms) the published d must be
    consistent: one SD per outcome explains all of them, allowing for the rounding of the
    published one-decimal differences and d (each ±0.05)."""
    low = max((abs(diff) - 0.05) / (abs(d) + 0.05) for diff, d in pairs)
    high = min((abs(diff) + 0.05) / (abs(d) - 0.05) for diff, d in pairs)
    assert low <= high, (outcome, low, high)  # a single SD explains every published d
    # plausible magnitudes: PROMIS T change SD ~8 points; craving (0-10) change SD ~2 points
    expected = {"anxiety": (7.0, 9.0), "craving": (1.5, 2.5)}[outcome]
    assert expected[0] <= low <= high <= expected[1]
