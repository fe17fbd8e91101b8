"""Table 1's imbalance test against R (values from the R calls beside each assertion)."""

from __future__ import annotations

import pandas as pd
import pytest

from mindtrial.protocols import load_protocol
from mindtrial.report.tables import (
    imbalance_p_categorical,
    imbalance_p_numeric,
    imbalance_threshold,
)


def test_categorical_is_pearson_chi_square_without_continuity_correction() -> None:
    # R: chisq.test(matrix(c(44, 16, 34, 26), 2), correct = FALSE)$p.value
    arms = pd.Series(["a"] * 60 + ["b"] * 60)
    sex = pd.Series(["female"] * 44 + ["male"] * 16 + ["female"] * 34 + ["male"] * 26)
    assert imbalance_p_categorical(sex, arms, ["a", "b"]) == pytest.approx(0.0556332531570985)
    # an empty level (no one nonbinary) and missing values are left out, as R's table() does
    with_empty = pd.concat([sex, pd.Series([None, None])], ignore_index=True)
    arms_more = pd.concat([arms, pd.Series(["a", "b"])], ignore_index=True)
    assert imbalance_p_categorical(
        with_empty.astype("category").cat.add_categories(["nonbinary"]), arms_more, ["a", "b"]
    ) == pytest.approx(0.0556332531570985)
    # R: chisq.test(matrix(c(10, 5, 3, 7, 9, 6), 3), correct = FALSE)$p.value
    three = pd.Series(["x"] * 10 + ["y"] * 5 + ["z"] * 3 + ["x"] * 7 + ["y"] * 9 + ["z"] * 6)
    arm3 = pd.Series(["a"] * 18 + ["b"] * 22)
    assert imbalance_p_categorical(three, arm3, ["a", "b"]) == pytest.approx(0.317394258766648)


def test_numeric_is_the_pooled_variance_t_test() -> None:
    # R: t.test(c(12.1, 15.3, 9.8, 14.2, 11.0), c(10.2, 9.9, 13.1, 8.7), var.equal = TRUE)$p.value
    values = pd.Series([12.1, 15.3, 9.8, 14.2, 11.0, 10.2, 9.9, 13.1, 8.7, None])
    arms = pd.Series(["a"] * 5 + ["b"] * 5)
    assert imbalance_p_numeric(values, arms, ["a", "b"]) == pytest.approx(0.197696602471736)


def test_threshold_comes_from_the_plan() -> None:
    # M-ROCC adds covariates that differed at P < .10; the other plans use no such rule
    assert imbalance_threshold(load_protocol("mrocc-2025")) == pytest.approx(0.10)
    assert imbalance_threshold(load_protocol("more-mmt-2024")) is None
