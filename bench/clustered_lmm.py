"""Random-slope and therapy-group mixed models: MindTrial's estimators against statsmodels'
``MixedLM`` (``re_formula`` / ``vc_formula``), in the same run, on the simulated trial of
``tests/reference/clustered_fits.R``.

For each model and method (REML, ML) prints the wall-clock time of each side (best of
``--repeat``) and how far each is from lme4 run to its optimum (``clustered_fits.json``): the
largest error of a fixed effect (relative, or of its SE near 0) and of a standard error
(relative), and the log-likelihood difference. Usage::

    uv run python bench/clustered_lmm.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mindtrial.analysis.models.lmm_nested import fit_lmm_nested
from mindtrial.analysis.models.lmm_slopes import fit_lmm_slopes

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference"
FORMULA = "y ~ arm * C(week) + baseline_x + site"


def _r_term(term: str) -> str:
    if term == "Intercept":
        return "(Intercept)"
    parts = [re.sub(r"^(.*)\[T\.(.*)\]$", r"\1\2", p) for p in term.split(":")]
    return ":".join(p.replace("C(week)", "fweek") for p in parts)


def _errors(estimate: pd.Series, std_error: pd.Series, loglik: float, want: dict[str, Any]) -> str:
    est = estimate.rename(index=_r_term).loc[want["terms"]].to_numpy()
    se = std_error.rename(index=_r_term).loc[want["terms"]].to_numpy()
    r_est = np.asarray(want["estimate"])
    r_se = np.asarray(want["std_error"])
    e_err = np.max(np.abs(est - r_est) / np.maximum(np.abs(r_est), r_se))
    s_err = np.max(np.abs(se / r_se - 1))
    return f"est {e_err:8.1e}  se {s_err:8.1e}  loglik {loglik - want['loglik']:+9.1e}"


def _best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def _fit_ours(data: pd.DataFrame, model: str, reml: bool) -> Any:
    if model == "slopes":
        return fit_lmm_slopes(data, FORMULA, groups="participant_id", slope="week", reml=reml)
    return fit_lmm_nested(
        data, FORMULA, groups="participant_id", clusters="therapy_group", reml=reml
    )


def _fit_statsmodels(data: pd.DataFrame, model: str, reml: bool) -> Any:
    import statsmodels.formula.api as smf

    if model == "slopes":
        spec = smf.mixedlm(FORMULA, data, groups="participant_id", re_formula="~ week")
    else:
        spec = smf.mixedlm(
            FORMULA,
            data,
            groups="therapy_group",
            re_formula="1",
            vc_formula={"participant": "0 + C(participant_id)"},
        )
    return spec.fit(reml=reml)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ref = json.loads((REFERENCE / "clustered_fits.json").read_text("utf-8"))
    data = pd.read_csv(REFERENCE / "data" / "clustered_weeks.csv")
    data["arm"] = pd.Categorical(data["arm"], ["control", "therapy"])
    print(f"{platform.platform()}, {platform.processor() or platform.machine()}")
    print(
        f"{len(data)} rows, {data['participant_id'].nunique()} participants, "
        f"{data['therapy_group'].nunique()} therapy groups; best of {args.repeat}"
    )
    for reml in (True, False):
        tag = "reml" if reml else "ml"
        for model in ("slopes", "nested"):
            want = ref[f"{model}_{tag}"]
            ours = functools.partial(_fit_ours, data, model, reml)
            theirs = functools.partial(_fit_statsmodels, data, model, reml)
            t_ours, fit = _best(ours, args.repeat)
            table = fit.coefficients.set_index("term")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_sm, sm = _best(theirs, args.repeat)
            print(
                f"{model:6s} {tag:4s} mindtrial   {t_ours:6.2f} s  "
                + _errors(table["estimate"], table["std_error"], fit.loglik, want)
            )
            print(
                f"{model:6s} {tag:4s} statsmodels {t_sm:6.2f} s  "
                + _errors(sm.fe_params, sm.bse_fe, float(sm.llf), want)
            )


if __name__ == "__main__":
    main()
