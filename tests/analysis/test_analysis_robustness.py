"""Bad input gives a clear AnalysisError; doubtful fits carry warnings — never a silent number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_r_reference import REFERENCE_DIR

from mindtrial.analysis import (
    AnalysisError,
    contrast,
    fit_cox,
    fit_gee,
    fit_lmm,
    fit_logit,
    fit_negbin,
    fit_ols,
    marginal_probabilities,
    wald_test,
)


def trial_periods(seed: int = 7, n: int = 40) -> pd.DataFrame:
    """Small participant × period table shaped like the M-ROCC primary outcome data."""
    rng = np.random.default_rng(seed)
    pid = np.repeat([f"P{i:03d}" for i in range(n)], 6)
    arm = np.repeat(np.where(np.arange(n) % 2 == 0, "control", "mrocc"), 6)
    dose = np.repeat(rng.normal(16, 4, n).round(1), 6)
    u = np.repeat(rng.normal(0, 1, n), 6)
    y = (rng.random(n * 6) < 1 / (1 + np.exp(-(-1.2 + u)))).astype(float)
    return pd.DataFrame(
        {
            "pid": pid,
            "arm": arm,
            "period": np.tile(np.arange(7, 13), n),
            "bup_dose_mg": dose,
            "nonabstinent": y,
        }
    )


FORMULA = "nonabstinent ~ arm + C(period) + bup_dose_mg"
ARMS = {"arm": ["control", "mrocc"]}


def test_empty_arm_is_an_error() -> None:
    data = trial_periods()
    data = data[data["arm"] == "control"]
    with pytest.raises(AnalysisError, match=r"'arm': level\(s\) 'mrocc' have no analysed rows"):
        fit_gee(data, FORMULA, groups="pid", levels=ARMS)


def test_arm_empty_after_missing_outcomes_is_an_error() -> None:
    data = trial_periods()
    data.loc[data["arm"] == "mrocc", "nonabstinent"] = np.nan
    with pytest.raises(AnalysisError, match="empty arm"):
        fit_gee(data, FORMULA, groups="pid", levels=ARMS)


def test_single_arm_without_declared_levels_is_still_an_error() -> None:
    data = trial_periods()
    data = data[data["arm"] == "mrocc"]
    with pytest.raises(AnalysisError, match=r"covariate 'arm' has a single value \('mrocc'\)"):
        fit_gee(data, FORMULA, groups="pid")


def test_unused_categorical_level_is_an_error() -> None:
    data = trial_periods()
    data["arm"] = pd.Categorical(data["arm"], categories=["control", "mrocc", "waitlist"])
    with pytest.raises(AnalysisError, match="'waitlist' have no analysed rows"):
        fit_logit(data, "nonabstinent ~ arm")


def test_unexpected_arm_level_is_an_error() -> None:
    data = trial_periods()
    data.loc[data.index[:6], "arm"] = "placebo"
    with pytest.raises(AnalysisError, match="unexpected level"):
        fit_gee(data, FORMULA, groups="pid", levels=ARMS)


def test_covariate_with_one_value_is_an_error() -> None:
    data = trial_periods().assign(bup_dose_mg=16.0)
    for fit in (
        lambda: fit_gee(data, FORMULA, groups="pid"),
        lambda: fit_logit(data, FORMULA),
        lambda: fit_lmm(data, "nonabstinent ~ arm + bup_dose_mg", groups="pid"),
    ):
        with pytest.raises(AnalysisError, match=r"covariate 'bup_dose_mg' has a single value \(16"):
            fit()


def test_all_missing_outcome_is_an_error() -> None:
    data = trial_periods().assign(nonabstinent=np.nan)
    with pytest.raises(AnalysisError, match="outcome 'nonabstinent' is missing in all 240 rows"):
        fit_gee(data, FORMULA, groups="pid")
    with pytest.raises(AnalysisError, match="missing in all"):
        fit_negbin(data, "nonabstinent ~ arm")


def test_constant_outcome_is_an_error() -> None:
    data = trial_periods().assign(nonabstinent=0.0)
    with pytest.raises(AnalysisError, match="takes a single value"):
        fit_gee(data, FORMULA, groups="pid")


def test_non_binary_outcome_for_logistic_is_an_error() -> None:
    data = trial_periods()
    data.loc[data.index[0], "nonabstinent"] = 2.0
    with pytest.raises(AnalysisError, match="binomial models need 0/1 values, found"):
        fit_gee(data, FORMULA, groups="pid")


def test_unknown_column_is_named() -> None:
    with pytest.raises(AnalysisError, match="'cocaine' is not a column of the data"):
        fit_gee(trial_periods(), "nonabstinent ~ arm + cocaine", groups="pid")
    with pytest.raises(AnalysisError, match=r"column\(s\) 'participant' not in the data"):
        fit_gee(trial_periods(), FORMULA, groups="participant")


def test_aliased_covariate_is_an_error() -> None:
    data = trial_periods()
    data["dose_copy"] = data["bup_dose_mg"] * 2
    with pytest.raises(AnalysisError, match="dose_copy is a linear combination"):
        fit_logit(data, "nonabstinent ~ arm + bup_dose_mg + dose_copy")


def test_rows_with_missing_values_are_counted() -> None:
    data = trial_periods()
    data.loc[data.index[:10], "nonabstinent"] = np.nan
    fit = fit_gee(data, FORMULA, groups="pid")
    assert (fit.n_obs, fit.n_dropped) == (230, 10)
    assert fit.data is not None and len(fit.data) == 230


def test_gee_stopped_early_is_not_converged() -> None:
    ohio = pd.read_csv(REFERENCE_DIR / "data" / "ohio.csv")
    fit = fit_gee(ohio, "resp ~ age + smoke", groups="id", maxiter=1)
    assert not fit.converged
    assert any("not solved" in w for w in fit.warnings)
    assert fit_gee(ohio, "resp ~ age + smoke", groups="id").converged


def test_perfect_separation_is_flagged() -> None:
    data = pd.DataFrame({"y": [0, 0, 0, 0, 1, 1, 1, 1], "x": [1, 2, 3, 4, 5, 6, 7, 8.0]})
    fit = fit_logit(data, "y ~ x")
    assert not fit.converged
    assert any("separation" in w.lower() for w in fit.warnings)


def test_negative_binomial_without_overdispersion_is_flagged() -> None:
    data = pd.DataFrame(
        {"y": np.tile([1, 2, 1, 2, 1, 2], 10), "arm": np.repeat(["control", "mrocc"], 30)}
    )
    fit = fit_negbin(data, "y ~ arm")
    assert any("no overdispersion" in w for w in fit.warnings)


def test_negbin_rejects_bad_exposure() -> None:
    data = pd.DataFrame(
        {"y": [0, 1, 3, 0, 2, 5], "arm": list("aabbab"), "weeks": [4.0, 0.0, 8, 8, 8, 8]}
    )
    with pytest.raises(AnalysisError, match="follow-up times must be > 0"):
        fit_negbin(data, "y ~ arm", exposure="weeks")
    with pytest.raises(AnalysisError, match="exposure or offset, not both"):
        fit_negbin(data, "y ~ arm", exposure="weeks", offset="weeks")


def test_cox_without_events_is_an_error() -> None:
    data = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [0, 0, 0, 0], "x": [1.0, 2, 3, 5]})
    with pytest.raises(AnalysisError, match="no events"):
        fit_cox(data, duration="t", event="e", covariates=["x"])


def test_contrast_and_wald_name_unknown_terms() -> None:
    fit = fit_logit(trial_periods(), "nonabstinent ~ arm")
    with pytest.raises(AnalysisError, match="unknown term"):
        contrast(fit, {"arm[T.waitlist]": 1.0})
    with pytest.raises(AnalysisError, match="unknown term"):
        wald_test(fit, ["arm"])


def test_marginal_probabilities_need_a_logit_model() -> None:
    data = trial_periods()
    fit = fit_ols(data, "nonabstinent ~ arm")
    with pytest.raises(AnalysisError, match="needs a logit-link model"):
        marginal_probabilities(fit, arm="arm", levels=["control", "mrocc"])


def test_fits_leak_no_python_warnings() -> None:
    # pytest runs with filterwarnings=error: a warning escaping the adapter would fail here.
    data = pd.DataFrame({"y": [0, 0, 0, 0, 1, 1, 1, 1], "x": [1, 2, 3, 4, 5, 6, 7, 8.0]})
    assert fit_logit(data, "y ~ x").warnings


def test_formula_with_reference_level_and_functions() -> None:
    data = trial_periods()
    data["period"] = data["period"].map(lambda p: f"p{p:02d}")
    fit = fit_gee(
        data,
        'nonabstinent ~ C(arm, Treatment(reference="mrocc")) + period + np.log(bup_dose_mg)',
        groups="pid",
    )
    assert fit.terms[1] == 'C(arm, Treatment(reference="mrocc"))[T.control]'
    assert "np.log(bup_dose_mg)" in fit.terms


def test_infinite_covariate_is_an_error() -> None:
    data = trial_periods()
    data.loc[data.index[3], "bup_dose_mg"] = np.inf
    with pytest.raises(
        AnalysisError, match=r"'bup_dose_mg' has 1 infinite value\(s\) \(first at row 3\)"
    ):
        fit_gee(data, FORMULA, groups="pid")
