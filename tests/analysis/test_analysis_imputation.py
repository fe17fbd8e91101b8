"""PMM imputation: reproducible from a seed, keeps observed data, and removes MAR bias."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mindtrial.analysis import AnalysisError, fit_ols, impute_pmm, pool


def mar_data(seed: int = 11, n: int = 400) -> tuple[pd.DataFrame, float]:
    """y = 2 + 1.5 x + e, y missing more often when x is high (MAR given x); returns the data
    and the true mean of y (2, since x has mean 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 2 + 1.5 * x + rng.normal(size=n)
    flag = rng.integers(0, 2, size=n).astype(float)
    missing = rng.random(n) < 1 / (1 + np.exp(-(2 * x - 0.5)))
    y[missing] = np.nan
    flag[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"id": [f"P{i}" for i in range(n)], "x": x, "y": y, "flag": flag}), 2.0


def test_same_seed_same_data_and_observed_values_kept() -> None:
    data, _ = mar_data()
    first = impute_pmm(data, m=3, seed=42)
    again = impute_pmm(data, m=3, seed=42)
    other = impute_pmm(data, m=3, seed=43)
    assert len(first) == 3
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert not first[0].equals(other[0])
    assert not first[0].equals(first[1])  # chains differ
    observed = data["y"].notna()
    for completed in first:
        assert completed[["y", "flag"]].notna().all().all()
        pd.testing.assert_series_equal(completed.loc[observed, "y"], data.loc[observed, "y"])
        # PMM copies observed values: imputed y are donors' values, the flag stays 0/1
        assert set(completed.loc[~observed, "y"]) <= set(data.loc[observed, "y"])
        assert set(completed["flag"].unique()) <= {0.0, 1.0}
        pd.testing.assert_series_equal(completed["id"], data["id"])


def test_imputation_removes_missing_at_random_bias() -> None:
    data, true_mean = mar_data()
    complete_case = fit_ols(data, "y ~ 1").estimate("Intercept")
    assert true_mean - complete_case > 0.5  # high-x (high-y) rows are missing more often
    completed = impute_pmm(data, m=10, seed=2024, predictors=["x", "y", "flag"])
    pooled = pool([fit_ols(d, "y ~ 1") for d in completed]).coefficients.iloc[0]
    assert abs(pooled["estimate"] - true_mean) < 2.5 * pooled["std_error"]
    assert pooled["ci_lower"] < true_mean < pooled["ci_upper"]
    slope = pool([fit_ols(d, "y ~ x") for d in completed]).coefficients.set_index("term")
    assert slope.loc["x", "ci_lower"] < 1.5 < slope.loc["x", "ci_upper"]


def test_generator_seed_is_accepted() -> None:
    data, _ = mar_data()
    a = impute_pmm(data, m=2, seed=np.random.default_rng(5))
    b = impute_pmm(data, m=2, seed=np.random.default_rng(5))
    pd.testing.assert_frame_equal(a[1], b[1])


def test_imputation_errors_are_clear() -> None:
    data, _ = mar_data()
    with pytest.raises(AnalysisError, match="has 0 observed value"):
        impute_pmm(data.assign(y=np.nan), m=2, seed=1)
    with pytest.raises(AnalysisError, match="'id' is not numeric"):
        impute_pmm(data, m=2, seed=1, columns=["id"])
    with pytest.raises(AnalysisError, match="categorical column 'site' has missing values"):
        impute_pmm(
            data.assign(site=["a", None] * 200),
            m=2,
            seed=1,
            predictors=["x", "y", "site"],
            columns=["y"],
        )
    with pytest.raises(AnalysisError, match="m must be at least 1"):
        impute_pmm(data, m=0, seed=1)
