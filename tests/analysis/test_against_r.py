"""Our estimators against R's reference packages, on the same rows.

R side: tests/reference/public_fits.R (rerun live when Rscript exists; see conftest.py).
Tolerances (relative unless said otherwise), and why:

* closed-form or Newton-converged fits (glm, glm.nb coefficients, coxph, OLS + pool, p.adjust):
  1e-6 — both sides converge to ~1e-9; 1e-6 leaves room for BLAS and platform differences;
* GEE (geepack, exchangeable/independence): 1e-5 for estimates, robust SEs and alpha, well inside
  the issue's 1e-3 — we use geepack's moment estimators, so only geepack's convergence tolerance
  (1e-6 on the change in beta) separates the two; AR(1): 1e-4 (alpha is a 1-d least-squares fit
  and geepack stops a little earlier);
* mixed models (lme4): fixed effects and their SEs 1e-4, variance components 1e-4 — lme4's
  bobyqa stops on a flat likelihood (our ML log-likelihood on sleepstudy is 1.3e-8 *higher*),
  which moves the variance components by up to 8e-5 relative;
* glm.nb ``SE.theta``: 5e-4 — MASS computes it from the information at the last-but-one
  Newton iterate of theta.ml (step tolerance 1.2e-4), we at the final theta.

Estimates near zero are compared with an absolute tolerance of ``rtol * SE`` (an error that
is a fraction ``rtol`` of the estimate's own uncertainty).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from analysis_r_reference import REFERENCE_DIR, RReference, r_term

from mindtrial.analysis import (
    ModelResult,
    benjamini_hochberg,
    contrast,
    fit_cox,
    fit_gee,
    fit_lmm,
    fit_logit,
    fit_negbin,
    fit_ols,
    interaction_terms,
    marginal_probabilities,
    pool,
    wald_test,
)

pytestmark = pytest.mark.r

TRIAL_COVARIATES = "bup_dose_mg + cocaine_use_baseline + income_category"


def assert_coefficients(
    ours: ModelResult, r_table: pd.DataFrame, *, rtol: float, check_p: bool = True
) -> None:
    """Same terms, and estimate / SE (/ p) within ``rtol`` of R's."""
    mine = ours.coefficients.assign(term=[r_term(t) for t in ours.terms]).set_index("term")
    assert sorted(mine.index) == sorted(r_table.index)
    theirs = r_table.loc[mine.index]
    se = theirs["std_error"].to_numpy()
    np.testing.assert_allclose(
        mine["estimate"], theirs["estimate"], rtol=rtol, atol=0, err_msg="estimate"
    ) if (np.abs(theirs["estimate"]) > se).all() else np.testing.assert_allclose(
        mine["estimate"], theirs["estimate"], rtol=rtol, atol=rtol * se.min(), err_msg="estimate"
    )
    np.testing.assert_allclose(mine["std_error"], se, rtol=rtol, err_msg="std_error")
    if check_p and "p_value" in theirs:
        # geepack reports 1 - pchisq(W, 1), exact only to ~1e-16 absolute: compare p > 1e-10.
        big = theirs["p_value"].to_numpy() > 1e-10
        np.testing.assert_allclose(
            mine["p_value"].to_numpy()[big], theirs["p_value"].to_numpy()[big], rtol=10 * rtol
        )


# --------------------------------------------------------------------------- lme4


@pytest.mark.parametrize(("name", "reml"), [("sleepstudy_reml", True), ("sleepstudy_ml", False)])
def test_lmer_sleepstudy(r_reference: RReference, name: str, reml: bool) -> None:
    # R: lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = reml)
    ref = r_reference.fits[name]
    fit = fit_lmm(
        r_reference.data("sleepstudy"),
        "Reaction ~ Days",
        groups="Subject",
        re_formula="~ Days",
        reml=reml,
    )
    assert fit.converged, fit.warnings
    assert fit.n_obs == ref["n_obs"] == 180
    assert fit.n_groups == 18
    assert_coefficients(fit, r_reference.coefficients(name), rtol=1e-4, check_p=False)
    g = fit.random_effects_cov
    assert g is not None
    np.testing.assert_allclose(g.loc["Intercept", "Intercept"], ref["var_intercept"], rtol=1e-4)
    np.testing.assert_allclose(g.loc["Days", "Days"], ref["var_slope"], rtol=1e-4)
    np.testing.assert_allclose(g.loc["Intercept", "Days"], ref["cov_intercept_slope"], rtol=1e-4)
    np.testing.assert_allclose(fit.residual_variance, ref["residual_variance"], rtol=1e-4)
    if not reml:  # ML log-likelihoods are comparable across packages (REML constants differ)
        assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)


# --------------------------------------------------------------------------- geepack


@pytest.mark.parametrize(
    ("cov_struct", "rtol"), [("exchangeable", 1e-5), ("independence", 1e-5), ("ar1", 1e-4)]
)
def test_geeglm_ohio(r_reference: RReference, cov_struct: str, rtol: float) -> None:
    # R: geeglm(resp ~ age + smoke, family = binomial, data = ohio, id = id, corstr = cov_struct)
    name = f"ohio_gee_{cov_struct}"
    ref = r_reference.fits[name]
    fit = fit_gee(
        r_reference.data("ohio"),
        "resp ~ age + smoke",
        groups="id",
        family="binomial",
        cov_struct=cov_struct,  # type: ignore[arg-type]
        time="age" if cov_struct == "ar1" else None,
    )
    assert fit.converged, fit.warnings
    assert (fit.n_obs, fit.n_groups) == (2148, 537)
    assert_coefficients(fit, r_reference.coefficients(name), rtol=rtol)
    if cov_struct == "independence":
        assert fit.alpha is None
    else:
        assert fit.alpha == pytest.approx(ref["alpha"], rel=rtol)
    assert fit.scale == pytest.approx(ref["scale"], rel=rtol)


@pytest.mark.parametrize(
    ("name", "dataset", "formula", "groups", "family"),
    [
        ("sleepstudy_gee_gaussian", "sleepstudy", "Reaction ~ Days", "Subject", "gaussian"),
        ("epil_gee_poisson", "epil", "y ~ trt + base + age", "subject", "poisson"),
    ],
)
def test_geeglm_other_families(
    r_reference: RReference, name: str, dataset: str, formula: str, groups: str, family: str
) -> None:
    # R: geeglm(formula, family = gaussian | poisson, id = groups, corstr = "exchangeable")
    ref = r_reference.fits[name]
    fit = fit_gee(
        r_reference.data(dataset),
        formula,
        groups=groups,
        family=family,  # type: ignore[arg-type]
        cov_struct="exchangeable",
    )
    assert fit.converged, fit.warnings
    assert_coefficients(fit, r_reference.coefficients(name), rtol=1e-5)
    assert fit.alpha == pytest.approx(ref["alpha"], rel=1e-5)
    assert fit.scale == pytest.approx(ref["scale"], rel=1e-5)


def test_glm_logit_ohio(r_reference: RReference) -> None:
    # R: glm(resp ~ age + smoke, family = binomial, data = ohio)
    fit = fit_logit(r_reference.data("ohio"), "resp ~ age + smoke")
    assert fit.converged
    assert_coefficients(fit, r_reference.coefficients("ohio_glm_logit"), rtol=1e-6)
    assert fit.loglik == pytest.approx(r_reference.fits["ohio_glm_logit"]["loglik"], rel=1e-8)


# --------------------------------------------------------------------------- MASS


def test_glm_nb_quine(r_reference: RReference) -> None:
    # R: glm.nb(Days ~ Sex + Eth + Age + Lrn, data = quine)
    ref = r_reference.fits["quine_nb"]
    fit = fit_negbin(r_reference.data("quine"), "Days ~ Sex + Eth + Age + Lrn")
    assert fit.converged, fit.warnings
    assert_coefficients(fit, r_reference.coefficients("quine_nb"), rtol=1e-6)
    assert fit.theta == pytest.approx(ref["theta"], rel=1e-6)
    assert fit.theta_se == pytest.approx(ref["se_theta"], rel=5e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-8)


def test_glm_nb_with_exposure(r_reference: RReference) -> None:
    # R: glm.nb(ae_count ~ arm + offset(log(followup_weeks)), data = trial_ae)
    ref = r_reference.fits["trial_nb"]
    fit = fit_negbin(
        r_reference.data("trial_ae"),
        "ae_count ~ arm",
        exposure="followup_weeks",
        levels={"arm": ["control", "mrocc"]},
    )
    assert fit.converged, fit.warnings
    assert_coefficients(fit, r_reference.coefficients("trial_nb"), rtol=1e-6)
    assert fit.theta == pytest.approx(ref["theta"], rel=1e-6)
    assert fit.theta_se == pytest.approx(ref["se_theta"], rel=5e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-8)


# --------------------------------------------------------------------------- survival


def test_coxph_lung_efron(r_reference: RReference) -> None:
    # R: coxph(Surv(time, event) ~ age + sex + ph_ecog, data = lung)  (ties = "efron")
    ref = r_reference.fits["lung_cox"]
    assert ref["ties"] == "efron"
    fit = fit_cox(
        r_reference.data("lung"),
        duration="time",
        event="event",
        covariates=["age", "sex", "ph_ecog"],
    )
    assert fit.converged
    assert (fit.n_obs, fit.n_events, fit.n_dropped) == (ref["n_obs"], ref["n_events"], 1)
    assert_coefficients(fit, r_reference.coefficients("lung_cox"), rtol=1e-6)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)


def test_coxph_categorical_covariate(r_reference: RReference) -> None:
    # R: coxph(Surv(time, event) ~ sex_label + age, data = lung)
    fit = fit_cox(
        r_reference.data("lung"),
        duration="time",
        event="event",
        covariates=["sex_label", "age"],
        levels={"sex_label": ["female", "male"]},
    )
    assert fit.terms == ("sex_label[T.male]", "age")
    assert_coefficients(fit, r_reference.coefficients("lung_cox_factor"), rtol=1e-6)
    assert fit.loglik == pytest.approx(r_reference.fits["lung_cox_factor"]["loglik"], rel=1e-9)


# --------------------------------------------------------------------------- mice::pool


def test_pool_matches_mice(r_reference: RReference) -> None:
    # R: pool(with(imp, lm(chl ~ age + bmi))) on the m = 5 completed datasets R exported.
    ref = r_reference.fits["nhanes_pool"]
    completed = r_reference.data("nhanes_completed")
    fits = [fit_ols(d, "chl ~ age + bmi") for _, d in completed.groupby("imputation")]
    pooled = pool(fits)
    assert pooled.m == ref["m"] == 5
    assert [pooled.dfcom] * 3 == ref["dfcom"] == [22, 22, 22]
    table = pooled.coefficients.assign(term=[r_term(t) for t in pooled.coefficients["term"]])
    assert list(table["term"]) == ref["term"]
    for ours, theirs in [
        ("estimate", "estimate"),
        ("std_error", "std_error"),
        ("p_value", "p_value"),
        ("ci_lower", "ci_lower"),
        ("ci_upper", "ci_upper"),
    ]:
        np.testing.assert_allclose(table[ours], ref[theirs], rtol=1e-6, err_msg=ours)
    diag = pooled.diagnostics
    for ours, theirs in [
        ("df", "df"),
        ("ubar", "ubar"),
        ("b", "b"),
        ("t", "t"),
        ("riv", "riv"),
        ("lambda_", "lambda"),
        ("fmi", "fmi"),
    ]:
        np.testing.assert_allclose(diag[ours], ref[theirs], rtol=1e-6, err_msg=ours)


# --------------------------------------------------------------------------- p.adjust


def test_benjamini_hochberg_matches_p_adjust(r_reference: RReference) -> None:
    # R: p.adjust(p, method = "BH")
    ref = r_reference.fits["bh"]
    np.testing.assert_allclose(benjamini_hochberg(ref["p"]), ref["adjusted"], rtol=1e-12)
    # With NA: R keeps NA and leaves it out of n.
    ref_na = r_reference.fits["bh_na"]
    p = list(ref_na["p"])
    p.insert(ref_na["na_position"] - 1, float("nan"))
    adjusted = benjamini_hochberg(p)
    assert np.isnan(adjusted[ref_na["na_position"] - 1])
    np.testing.assert_allclose(adjusted[~np.isnan(adjusted)], ref_na["adjusted"], rtol=1e-12)


# --------------------------------------------------------------------------- simulated trial


def test_trial_gee_and_marginal_percentages(r_reference: RReference) -> None:
    # R: geeglm(nonabstinent ~ arm + period + covariates, binomial, id = pid, "exchangeable"),
    # then per-arm averaged predictions with delta-method SEs computed by hand in R.
    ref = r_reference.fits["trial_gee"]
    fit = fit_gee(
        r_reference.data("trial_periods"),
        f"nonabstinent ~ arm + period + {TRIAL_COVARIATES}",
        groups="pid",
        levels={"arm": ["control", "mrocc"]},
    )
    assert fit.converged, fit.warnings
    assert (fit.n_obs, fit.n_groups) == (ref["n_obs"], ref["n_groups"])
    assert fit.n_dropped > 0  # missed periods are left out, and counted
    assert_coefficients(fit, r_reference.coefficients("trial_gee"), rtol=1e-5)
    assert fit.alpha == pytest.approx(ref["alpha"], rel=1e-5)
    marg = marginal_probabilities(fit, arm="arm", levels=["control", "mrocc"])
    rows = marg.table.set_index("arm")
    for arm, key in [("control", "marginal_control"), ("mrocc", "marginal_mrocc")]:
        for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
            assert rows.loc[arm, col] == pytest.approx(ref[key][col], rel=1e-5), (arm, col)
    diff = ref["marginal_difference"]
    assert marg.difference.estimate == pytest.approx(diff["estimate"], rel=1e-5)
    assert marg.difference.std_error == pytest.approx(diff["std_error"], rel=1e-5)
    assert marg.difference.ci_lower == pytest.approx(diff["ci_lower"], rel=1e-5)
    assert marg.difference.ci_upper == pytest.approx(diff["ci_upper"], rel=1e-5)
    assert marg.difference.p_value == pytest.approx(diff["p_value"], rel=1e-5)


def test_trial_lmm_interaction_and_contrasts(r_reference: RReference) -> None:
    # R: lmer(t_score ~ arm * week + covariates + (1 | pid), REML = FALSE); Wald chi-square of
    # the arm:week terms and change/difference contrasts from fixef() and vcov() by hand.
    ref = r_reference.fits["trial_lmm"]
    fit = fit_lmm(
        r_reference.data("trial_weeks"),
        f"t_score ~ arm * week + {TRIAL_COVARIATES}",
        groups="pid",
        levels={"arm": ["control", "mrocc"], "week": ["w00", "w08", "w16", "w24"]},
    )
    assert fit.converged, fit.warnings
    assert fit.n_obs == ref["n_obs"]
    assert_coefficients(fit, r_reference.coefficients("trial_lmm"), rtol=1e-4, check_p=False)
    assert fit.random_effects_cov is not None
    assert fit.random_effects_cov.iloc[0, 0] == pytest.approx(ref["var_intercept"], rel=1e-4)
    assert fit.residual_variance == pytest.approx(ref["residual_variance"], rel=1e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)

    test = wald_test(fit, interaction_terms(fit, involving=("arm", "week")))
    assert test.df == ref["interaction"]["df"] == 3
    assert test.chi2 == pytest.approx(ref["interaction"]["chi2"], rel=1e-4)
    assert test.p_value == pytest.approx(ref["interaction"]["p_value"], rel=1e-4)

    contrasts = {
        "change_control": {"week[T.w24]": 1.0},
        "change_mrocc": {"week[T.w24]": 1.0, "arm[T.mrocc]:week[T.w24]": 1.0},
        "difference_week24": {"arm[T.mrocc]": 1.0, "arm[T.mrocc]:week[T.w24]": 1.0},
    }
    for key, weights in contrasts.items():
        est = contrast(fit, weights)
        for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
            assert getattr(est, col) == pytest.approx(ref[key][col], rel=1e-4), (key, col)


# --------------------------------------------------------------------------- freshness


def test_committed_references_match_live_r(r_reference: RReference) -> None:
    """The committed JSON must equal a fresh run of the R script (regenerate with
    ``Rscript tests/reference/public_fits.R`` after changing the script or R packages)."""
    if not r_reference.live:
        pytest.skip("Rscript not installed: cannot check the committed references are current")
    committed = json.loads((REFERENCE_DIR / "public_fits.json").read_text(encoding="utf-8"))

    def numbers(obj: object) -> list[float]:
        if isinstance(obj, dict):
            return [x for k in sorted(obj) for x in numbers(obj[k])]
        if isinstance(obj, list):
            return [x for v in obj for x in numbers(v)]
        if isinstance(obj, bool):
            return [float(obj)]
        if isinstance(obj, int | float):
            return [float(obj)]
        return []

    fresh = {k: v for k, v in r_reference.fits.items() if k not in ("r_version", "packages")}
    stored = {k: v for k, v in committed.items() if k not in ("r_version", "packages")}
    assert sorted(fresh) == sorted(stored)
    np.testing.assert_allclose(numbers(stored), numbers(fresh), rtol=1e-8, atol=1e-300)
    for name in (
        "sleepstudy",
        "ohio",
        "quine",
        "lung",
        "nhanes_completed",
        "trial_periods",
        "boundary",
    ):
        pd.testing.assert_frame_equal(
            pd.read_csv(REFERENCE_DIR / "data" / f"{name}.csv"), r_reference.data(name)
        )


def test_lmer_boundary_fit(r_reference: RReference) -> None:
    # R: lmer(y ~ x + (1 | g), REML = FALSE) -> isSingular() TRUE, intercept variance 0.
    ref = r_reference.fits["boundary_lmm"]
    assert ref["singular"]
    fit = fit_lmm(r_reference.data("boundary"), "y ~ x", groups="g")
    assert any("boundary" in w for w in fit.warnings)
    assert_coefficients(fit, r_reference.coefficients("boundary_lmm"), rtol=1e-4, check_p=False)
    assert fit.random_effects_cov is not None
    assert fit.random_effects_cov.iloc[0, 0] == pytest.approx(ref["var_intercept"], abs=1e-8)
    assert fit.residual_variance == pytest.approx(ref["residual_variance"], rel=1e-4)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
