"""Rubin's rules and Barnard–Rubin df on hand-worked numbers (R check: test_against_r.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mindtrial.analysis import AnalysisError, barnard_rubin_df, fit_ols, pool, pool_scalar


def test_pool_scalar_by_hand() -> None:
    # m = 3 estimates 1.0, 1.2, 1.4 with SE 0.1 each:
    #   qbar = 1.2, ubar = 0.01, b = var(1.0, 1.2, 1.4) = 0.04,
    #   t = 0.01 + (4/3) 0.04 = 0.0633333, lambda = (4/3)(0.04)/t = 0.8421053,
    #   df_old = (m - 1) / lambda^2 = 2 / 0.7091413 = 2.8203125 (dfcom = inf).
    est = pool_scalar([1.0, 1.2, 1.4], [0.1, 0.1, 0.1])
    assert est.estimate == pytest.approx(1.2)
    assert est.std_error == pytest.approx(math.sqrt(0.0633333333333), rel=1e-9)
    assert est.df == pytest.approx(2.8203125, rel=1e-7)
    # With dfcom = 20: df_obs = 21/23 * 20 * (1 - 0.8421053) = 2.8832952;
    # df = 2.8203125 * 2.8832952 / (2.8203125 + 2.8832952) = 1.4257281
    # (R: mice:::barnard.rubin(3, 0.04, 0.01 + 4/3 * 0.04, 20) = 1.42572805)
    small = pool_scalar([1.0, 1.2, 1.4], [0.1, 0.1, 0.1], dfcom=20)
    assert small.df == pytest.approx(1.42572805, rel=1e-8)
    # R: qt(0.975, 1.4257280504) = 6.475847806
    assert small.ci_upper - small.estimate == pytest.approx(6.475847806 * small.std_error, rel=1e-8)


def test_barnard_rubin_without_between_variance_uses_floor() -> None:
    # b = 0 -> lambda floored at 1e-4 (as mice) -> df_old = (m-1)/1e-8; df -> ~df_obs.
    df = barnard_rubin_df(5, np.array([0.0]), np.array([1.0]), 30.0)
    df_obs = 31 / 33 * 30 * (1 - 1e-4)
    assert df[0] == pytest.approx(4e8 * df_obs / (4e8 + df_obs), rel=1e-9)


def test_identical_imputations_pool_to_the_single_fit() -> None:
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.normal(size=50)})
    data["y"] = 2 + data["x"] + rng.normal(size=50)
    single = fit_ols(data, "y ~ x")
    pooled = pool([single, single, single])
    np.testing.assert_allclose(pooled.coefficients["estimate"], single.coefficients["estimate"])
    np.testing.assert_allclose(pooled.coefficients["std_error"], single.coefficients["std_error"])
    assert (pooled.diagnostics["b"] == 0).all()
    assert pooled.dfcom == 48


def test_pool_rejects_mismatched_terms_and_single_imputation() -> None:
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"x": rng.normal(size=30), "z": rng.normal(size=30)})
    data["y"] = data["x"] + rng.normal(size=30)
    a = fit_ols(data, "y ~ x")
    b = fit_ols(data, "y ~ x + z")
    with pytest.raises(AnalysisError, match="imputation 2 has terms"):
        pool([a, b])
    with pytest.raises(AnalysisError, match="at least 2"):
        pool([a])
