"""Our fits reproduce the public reference fits as published (docs/sources.md, Statistical reference fits), to the digits
printed there: |ours - published| <= half a unit in the last printed digit.

These run on the committed datasets (exported from R into tests/reference/data), so they need
no R and pin the numbers a reader can check in the packages' documentation.
"""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_r_reference import REFERENCE_DIR

from mindtrial.analysis import ModelResult, fit_gee, fit_lmm, fit_negbin


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "data" / f"{name}.csv")


def _row(fit: ModelResult, term: str) -> tuple[float, float]:
    row = fit.coefficients.set_index("term").loc[term]
    return float(row["estimate"]), float(row["std_error"])


def _printed(value: float, published: str) -> bool:
    """``value`` rounds to the published decimal string."""
    decimals = len(published.split(".")[1]) if "." in published else 0
    return abs(value - float(published)) <= 0.5 * 10**-decimals + 1e-12


def test_sleepstudy_reml_as_published() -> None:
    # lmer(Reaction ~ Days + (Days | Subject)) REML: 251.405 (6.825), 10.467 (1.546), sigma^2 654.94
    fit = fit_lmm(
        _data("sleepstudy"), "Reaction ~ Days", groups="Subject", re_formula="~ Days", reml=True
    )
    est, se = _row(fit, "Intercept")
    assert _printed(est, "251.405")
    assert _printed(se, "6.825")
    est, se = _row(fit, "Days")
    assert _printed(est, "10.467")
    assert _printed(se, "1.546")
    assert fit.residual_variance is not None
    assert _printed(fit.residual_variance, "654.94")


def test_ohio_exchangeable_as_published() -> None:
    # geeglm(resp ~ age + smoke, binomial, id = id, corstr = "exchangeable")
    fit = fit_gee(_data("ohio"), "resp ~ age + smoke", groups="id", cov_struct="exchangeable")
    published = {
        "Intercept": ("-1.88043", "0.11389"),
        "age": ("-0.11338", "0.04386"),
        "smoke": ("0.26508", "0.17775"),
    }
    for term, (est_text, se_text) in published.items():
        est, se = _row(fit, term)
        assert _printed(est, est_text), (term, est)
        assert _printed(se, se_text), (term, se)
    assert fit.alpha is not None
    assert _printed(fit.alpha, "0.3543")


def test_quine_negative_binomial_as_published() -> None:
    # glm.nb(Days ~ Sex + Eth + Age + Lrn): intercept 2.89458 (0.22842), theta 1.275 (0.161)
    fit = fit_negbin(_data("quine"), "Days ~ Sex + Eth + Age + Lrn")
    est, se = _row(fit, "Intercept")
    assert _printed(est, "2.89458")
    assert _printed(se, "0.22842")
    assert fit.theta is not None and fit.theta_se is not None
    assert _printed(fit.theta, "1.275")
    assert _printed(fit.theta_se, "0.161")


@pytest.mark.parametrize(
    ("value", "published", "ok"),
    [(1.2345, "1.23", True), (1.236, "1.23", False), (-1.880425, "-1.88043", True)],
)
def test_printed_helper(value: float, published: str, ok: bool) -> None:
    assert _printed(value, published) is ok
