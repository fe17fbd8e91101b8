"""Simulation power: MindTrial's engine against an R loop (geepack + lme4) on the same data.

In one run:

1. simulate ``--reps`` M-ROCC trials of ``--n`` participants (seeds fixed);
2. MindTrial: for each trial, ``run_analysis`` restricted to the primary GEE and the
   craving mixed model (outcome derivation from the study dataset + both fits);
3. the model frames MindTrial fitted are written to two CSV files (with a ``trial``
   column), and an R loop fits the same models to the same rows:
   ``geepack::geeglm(non_abstinent ~ arm + factor(period) + covariates, binomial,
   id = participant_id, corstr = "exchangeable")`` and
   ``lme4::lmer(ocs_mean ~ arm * factor(week) + covariates + baseline_craving +
   (1 | participant_id), REML = FALSE)``; R times only its fitting loop (reading excluded).

Prints the times, the ratio, replicates per second and how closely the two engines'
arm coefficients agree. Usage::

    uv run python bench/power_vs_r.py [--reps 200] [--n 196] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mindtrial.analysis import fit_gee, fit_lmm
from mindtrial.analysis.plans.frames import model_data, plain_dtypes
from mindtrial.analysis.runner import run_analysis
from mindtrial.evaluation.simulation_power import rep_seed
from mindtrial.protocols import Protocol, load_protocol
from mindtrial.simulate import simulate_trial

GEE_FORMULA = (
    "non_abstinent ~ arm + C(period) + bup_dose_mg + cocaine_use_baseline + income_category"
)
LMM_FORMULA = (
    "ocs_mean ~ arm * C(week) + bup_dose_mg + cocaine_use_baseline + income_category"
    " + baseline_craving"
)

R_LOOP = r"""
suppressPackageStartupMessages({library(geepack); library(lme4)})
args <- commandArgs(trailingOnly = TRUE)
gee_data <- read.csv(args[1], stringsAsFactors = FALSE)
lmm_data <- read.csv(args[2], stringsAsFactors = FALSE)
reference <- args[3]
prep <- function(d) {
  d$arm <- relevel(factor(d$arm), ref = reference)
  d$income_category <- factor(d$income_category)
  d$cocaine_use_baseline <- as.numeric(d$cocaine_use_baseline == "True" | d$cocaine_use_baseline == "1")
  d
}
gee_data <- prep(gee_data); lmm_data <- prep(lmm_data)
trials <- sort(unique(gee_data$trial))
gee_arm <- numeric(length(trials)); lmm_arm <- numeric(length(trials))
elapsed <- system.time({
  for (k in seq_along(trials)) {
    g <- gee_data[gee_data$trial == trials[k], ]
    g <- g[order(g$participant_id, g$period), ]
    fit <- geeglm(non_abstinent ~ arm + factor(period) + bup_dose_mg + cocaine_use_baseline +
                    income_category, family = binomial, id = factor(g$participant_id),
                  data = g, corstr = "exchangeable")
    gee_arm[k] <- coef(fit)[2]
    l <- lmm_data[lmm_data$trial == trials[k], ]
    m <- lmer(ocs_mean ~ arm * factor(week) + bup_dose_mg + cocaine_use_baseline +
                income_category + baseline_craving + (1 | participant_id), data = l, REML = FALSE)
    lmm_arm[k] <- fixef(m)[2]
  }
})[["elapsed"]]
cat(sprintf("R_SECONDS %.6f\n", elapsed))
cat("GEE_ARM", sprintf("%.10g", gee_arm), "\n")
cat("LMM_ARM", sprintf("%.10g", lmm_arm), "\n")
"""


def _restricted(protocol: Protocol) -> Protocol:
    plan = protocol.analysis.model_copy(
        update={
            "analyses": [protocol.analysis_spec("primary"), protocol.analysis_spec("craving")],
            "sensitivity": [],
        }
    )
    return protocol.model_copy(update={"analysis": plan})


def _arm_term(terms: list[str]) -> str:
    found = [t for t in terms if t.startswith("arm[") and ":" not in t]
    if len(found) != 1:
        raise SystemExit(f"cannot find the arm coefficient among {terms}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--n", type=int, default=196)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if shutil.which("Rscript") is None:
        print("Rscript is not installed; cannot compare with R.", file=sys.stderr)
        return 2
    protocol = load_protocol("mrocc-2025")
    plan = _restricted(protocol)
    print(
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}"
    )
    print(f"{args.reps} simulated M-ROCC trials of n = {args.n} (seed {args.seed})")

    start = time.perf_counter()
    datasets = [
        simulate_trial(protocol, n=args.n, seed=rep_seed(args.seed, args.n, r))
        for r in range(args.reps)
    ]
    simulate_seconds = time.perf_counter() - start

    gee_frames: list[pd.DataFrame] = []
    lmm_frames: list[pd.DataFrame] = []
    ours_gee: list[float] = []
    ours_lmm: list[float] = []
    reference = ""
    start = time.perf_counter()
    for ds in datasets:
        report = run_analysis(ds, protocol=plan, seed=1)
        primary, craving = report.analyses
        reference = report.reference_arm
        for result, store in ((primary, ours_gee), (craving, ours_lmm)):
            # The arm main effect (the LMM's is the arm difference at week 0).
            term = _arm_term([c.term for c in result.coefficients])
            store.append(next(c.estimate for c in result.coefficients if c.term == term))
    ours_seconds = time.perf_counter() - start

    for k, ds in enumerate(datasets):
        for spec_id, sink in (("primary", gee_frames), ("craving", lmm_frames)):
            data = model_data(ds, protocol, protocol.analysis_spec(spec_id))
            frame = plain_dtypes(data.frame).dropna(subset=[data.outcome])
            sink.append(frame.assign(trial=k))

    # The estimators alone on the very rows R fits (what the R loop times).
    fits_gee: list[float] = []
    fits_lmm: list[float] = []
    levels = {"arm": [reference, *sorted({str(a) for a in gee_frames[0]["arm"]} - {reference})]}
    start = time.perf_counter()
    for g, m in zip(gee_frames, lmm_frames, strict=True):
        gee = fit_gee(
            g.assign(arm=pd.Categorical(g["arm"].astype(str), categories=levels["arm"])),
            GEE_FORMULA,
            groups="participant_id",
            time="period",
            family="binomial",
            cov_struct="exchangeable",
        )
        lmm = fit_lmm(
            m.assign(arm=pd.Categorical(m["arm"].astype(str), categories=levels["arm"])),
            LMM_FORMULA,
            groups="participant_id",
        )
        fits_gee.append(float(gee.coefficients["estimate"].iloc[1]))
        fits_lmm.append(float(lmm.coefficients["estimate"].iloc[1]))
    fit_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="mindtrial-power-bench-") as tmp:
        folder = Path(tmp)
        pd.concat(gee_frames).to_csv(folder / "gee.csv", index=False)
        pd.concat(lmm_frames).to_csv(folder / "lmm.csv", index=False)
        (folder / "loop.R").write_text(R_LOOP, encoding="utf-8")
        start = time.perf_counter()
        completed = subprocess.run(
            [
                "Rscript",
                str(folder / "loop.R"),
                str(folder / "gee.csv"),
                str(folder / "lmm.csv"),
                reference,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        r_wall = time.perf_counter() - start
    if completed.returncode != 0:
        print(completed.stderr, file=sys.stderr)
        return 1
    values: dict[str, list[float]] = {}
    for line in completed.stdout.splitlines():
        head, *rest = line.split()
        values[head] = [float(x) for x in rest]
    r_seconds = values["R_SECONDS"][0]
    gee_diff = np.abs(np.array(ours_gee) - np.array(values["GEE_ARM"]))
    lmm_diff = np.abs(np.array(ours_lmm) - np.array(values["LMM_ARM"]))

    reps = args.reps
    print()
    print(f"{'':34}{'seconds':>10}{'reps/s':>10}")
    print(f"{'simulate (MindTrial)':34}{simulate_seconds:10.2f}{reps / simulate_seconds:10.2f}")
    print(
        f"{'derive + fit GEE + LMM (MindTrial)':34}{ours_seconds:10.2f}{reps / ours_seconds:10.2f}"
    )
    print(f"{'fit GEE + LMM (R loop, in R)':34}{r_seconds:10.2f}{reps / r_seconds:10.2f}")
    print(
        f"{'fit GEE + LMM (MindTrial, same rows)':34}{fit_seconds:10.2f}{reps / fit_seconds:10.2f}"
    )
    print(f"{'R wall incl. start-up and reading':34}{r_wall:10.2f}")
    total = simulate_seconds + ours_seconds
    print(f"{'MindTrial simulation power total':34}{total:10.2f}{reps / total:10.2f}")
    print()
    print(f"ratio MindTrial derive + fit / R fit: {ours_seconds / r_seconds:.2f}")
    print(f"ratio MindTrial fit / R fit (same rows): {fit_seconds / r_seconds:.3f}")
    fit_gee_diff = np.abs(np.array(fits_gee) - np.array(values["GEE_ARM"]))
    fit_lmm_diff = np.abs(np.array(fits_lmm) - np.array(values["LMM_ARM"]))
    print(
        f"max |difference| of the arm coefficients, fits alone: {fit_gee_diff.max():.2e} (GEE),"
        f" {fit_lmm_diff.max():.2e} (LMM)"
    )
    print(f"max |difference| of the GEE arm coefficient:  {gee_diff.max():.2e}")
    print(f"max |difference| of the LMM arm coefficient:  {lmm_diff.max():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
