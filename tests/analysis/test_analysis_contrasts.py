"""Contrasts, Wald tests and marginal probabilities on cases with closed-form answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mindtrial.analysis import (
    AnalysisError,
    contrast,
    fit_logit,
    fit_ols,
    interaction_terms,
    marginal_probabilities,
    wald_test,
)


def three_groups() -> pd.DataFrame:
    # group means a: 1, b: 3, c: 6; within-group deviations -1, 0, 1 -> RSS = 6, s^2 = 6 / 6 = 1
    return pd.DataFrame(
        {
            "g": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
            "y": [0.0, 1, 2, 2, 3, 4, 5, 6, 7],
        }
    )


def test_contrast_between_two_non_reference_levels() -> None:
    fit = fit_ols(three_groups(), "y ~ g")
    est = contrast(fit, {"g[T.c]": 1.0, "g[T.b]": -1.0})
    # mean(c) - mean(b) = 3; SE = s * sqrt(1/3 + 1/3) = sqrt(2/3); t on 6 df
    assert est.estimate == pytest.approx(3.0)
    assert est.std_error == pytest.approx(math.sqrt(2 / 3))
    assert est.df == 6
    # two-sided p for t = 3 / sqrt(2/3) = 3.674235 on 6 df: R pt(-3.674235, 6) * 2 = 0.01040...
    assert est.p_value == pytest.approx(0.010403, abs=2e-6)


def test_wald_test_of_one_term_is_the_squared_z() -> None:
    fit = fit_ols(three_groups(), "y ~ g")
    row = fit.coefficients.set_index("term").loc["g[T.b]"]
    test = wald_test(fit, ["g[T.b]"])
    assert test.chi2 == pytest.approx((row["estimate"] / row["std_error"]) ** 2)
    assert test.df == 1


def test_wald_test_of_all_group_terms() -> None:
    fit = fit_ols(three_groups(), "y ~ g")
    test = wald_test(fit, ["g[T.b]", "g[T.c]"])
    # Wald chi2 = between-group SS / s^2 = 3 * ((1 - 10/3)^2 + (3 - 10/3)^2 + (6 - 10/3)^2) / 1
    assert test.chi2 == pytest.approx(
        3 * ((1 - 10 / 3) ** 2 + (3 - 10 / 3) ** 2 + (6 - 10 / 3) ** 2)
    )
    assert test.df == 2


def test_interaction_terms_are_selected_by_name() -> None:
    rng = np.random.default_rng(2)
    data = pd.DataFrame(
        {
            "arm": np.repeat(["control", "mrocc"], 40),
            "week": np.tile(["w00", "w08", "w16", "w24"], 20),
            "y": rng.normal(size=80),
        }
    )
    fit = fit_ols(data, "y ~ arm * week")
    assert interaction_terms(fit, involving=("arm", "week")) == (
        "arm[T.mrocc]:week[T.w08]",
        "arm[T.mrocc]:week[T.w16]",
        "arm[T.mrocc]:week[T.w24]",
    )


def test_marginal_probabilities_of_a_saturated_logit_are_the_proportions() -> None:
    # With arm as the only covariate the model-based probability is the observed proportion and
    # the delta-method SE is the binomial one, sqrt(p (1 - p) / n).
    data = pd.DataFrame(
        {
            "arm": ["control"] * 20 + ["mrocc"] * 30,
            "y": [1.0] * 5 + [0.0] * 15 + [1.0] * 12 + [0.0] * 18,
        }
    )
    fit = fit_logit(data, "y ~ arm")
    marg = marginal_probabilities(fit, arm="arm", levels=["control", "mrocc"])
    rows = marg.table.set_index("arm")
    assert rows.loc["control", "estimate"] == pytest.approx(0.25)
    assert rows.loc["mrocc", "estimate"] == pytest.approx(0.40)
    assert rows.loc["control", "std_error"] == pytest.approx(math.sqrt(0.25 * 0.75 / 20))
    assert rows.loc["mrocc", "std_error"] == pytest.approx(math.sqrt(0.4 * 0.6 / 30))
    se_diff = math.sqrt(0.25 * 0.75 / 20 + 0.4 * 0.6 / 30)
    assert marg.difference.estimate == pytest.approx(0.15)
    assert marg.difference.std_error == pytest.approx(se_diff)
    assert marg.difference.ci_lower == pytest.approx(0.15 - 1.959963985 * se_diff, rel=1e-5)
    assert (marg.reference, marg.comparison) == ("control", "mrocc")


def test_marginal_probabilities_reject_unknown_arm_level() -> None:
    data = pd.DataFrame({"arm": ["a", "b"] * 10, "y": [0.0, 1.0, 1.0, 0.0] * 5})
    fit = fit_logit(data, "y ~ arm")
    with pytest.raises(AnalysisError, match="'c' have no analysed rows"):
        marginal_probabilities(fit, arm="arm", levels=["a", "c"])
