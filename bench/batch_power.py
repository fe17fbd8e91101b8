"""Batch simulation power against an R loop (geepack + lme4) on the same replicate rows.

In one run:

1. MindTrial: ``batch_power`` for the M-ROCC primary analysis (exchangeable logistic GEE)
   and the craving analysis (random-intercept LMM, ML), ``--reps`` replicates each at
   ``--n``, in this process and on ``--jobs`` local processes: template trial simulated,
   fitted, replicate outcomes drawn and all replicates fitted (the whole call is timed,
   and its fitting part alone; the scenario's one-off calibration is timed before, apart);
2. the same replicates' rows (the template's analysed rows with each replicate's outcome,
   for the first ``--r-reps`` replicates) are written to CSV and an R loop fits them:
   ``geepack::geeglm(..., family = binomial, id = participant_id, corstr =
   "exchangeable")`` and ``lme4::lmer(... + (1 | participant_id), REML = FALSE)`` per
   replicate; R times its loop only (``system.time``, reading excluded);
3. MindTrial's batch fits of exactly those replicates, in this process (one core), timed
   alone, and the arm coefficients compared with R's.

Usage::

    uv run python bench/batch_power.py [--reps 1000] [--r-reps 100] [--n 196] [--jobs 2]
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

from mindtrial.evaluation.batch_power import (
    batch_power,
    build_design,
    draw_outcomes,
    fit_replicates,
)
from mindtrial.evaluation.simulation_power import rep_seed
from mindtrial.protocols import load_protocol
from mindtrial.simulate import default_scenario, simulate_trial
from mindtrial.simulate.effects import true_effect

R_LOOP = r"""
suppressPackageStartupMessages({library(geepack); library(lme4)})
args <- commandArgs(trailingOnly = TRUE)
gee_data <- read.csv(args[1], stringsAsFactors = FALSE)
lmm_data <- read.csv(args[2], stringsAsFactors = FALSE)
reference <- args[3]
gee_formula <- as.formula(args[4])
lmm_formula <- as.formula(args[5])
prep <- function(d) {
  d$arm <- relevel(factor(d$arm), ref = reference)
  d$income_category <- factor(d$income_category)
  d
}
gee_data <- prep(gee_data); lmm_data <- prep(lmm_data)
trials <- sort(unique(gee_data$trial))
gee_split <- split(gee_data, gee_data$trial); lmm_split <- split(lmm_data, lmm_data$trial)
gee_arm <- numeric(length(trials)); lmm_arm <- numeric(length(trials))
elapsed <- system.time({
  for (k in seq_along(trials)) {
    g <- gee_split[[k]]
    fit <- geeglm(gee_formula, family = binomial, id = factor(g$participant_id), data = g,
                  corstr = "exchangeable")
    gee_arm[k] <- coef(fit)[2]
    m <- lmer(lmm_formula, data = lmm_split[[k]], REML = FALSE)
    lmm_arm[k] <- fixef(m)[2]
  }
})[["elapsed"]]
cat(sprintf("R_SECONDS %.6f\n", elapsed))
cat("GEE_ARM", sprintf("%.10g", gee_arm), "\n")
cat("LMM_ARM", sprintf("%.10g", lmm_arm), "\n")
"""


def _r_formula(formula: str, random: bool) -> str:
    text = formula.replace("C(", "factor(")
    return text + " + (1 | participant_id)" if random else text


def _rows(frame: pd.DataFrame, outcome: str, y: np.ndarray) -> pd.DataFrame:
    parts = [
        frame.assign(**{outcome: y[k], "trial": k}).astype({"arm": str}) for k in range(len(y))
    ]
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--r-reps", type=int, default=100)
    parser.add_argument("--n", type=int, default=196)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if shutil.which("Rscript") is None:
        print("Rscript is not installed; cannot compare with R.", file=sys.stderr)
        return 2
    protocol = load_protocol("mrocc-2025")
    print(
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}"
    )
    print(f"load average at start: {os.getloadavg()}")
    print(f"M-ROCC primary (GEE) + craving (LMM), n = {args.n}, seed {args.seed}")

    # warm-up: the scenario's calibration and the first template (cached for the runs below)
    start = time.perf_counter()
    simulate_trial(protocol, n=args.n, seed=args.seed)
    warm = time.perf_counter() - start
    runs: list[tuple[str, int, float, float, float]] = []
    for jobs in sorted({1, args.jobs}):
        for analysis in ("primary", "craving"):
            start = time.perf_counter()
            result = batch_power(
                protocol, n=args.n, reps=args.reps, seed=args.seed, analysis_id=analysis,
                jobs=jobs,
            )  # fmt: skip
            whole = time.perf_counter() - start
            runs.append((analysis, jobs, whole, result.seconds, result.points[0].power))
    # The same replicates again, for R and for MindTrial's fits alone.
    template = simulate_trial(protocol, n=args.n, seed=args.seed)
    seeds = [rep_seed(args.seed, args.n, r) for r in range(args.r_reps)]
    designs = {}
    for analysis in ("primary", "craving"):  # the power run's effect: the scenario's truth
        spec = protocol.analysis_spec(analysis)
        truth = true_effect(default_scenario(protocol), protocol, spec)
        assert truth is not None
        sign = -1.0 if spec.estimand.flips_sign else 1.0
        designs[analysis] = build_design(template, protocol, spec, sign * truth)
    ys = {a: draw_outcomes(d, seeds) for a, d in designs.items()}
    start = time.perf_counter()
    fits = {a: fit_replicates(designs[a], ys[a]) for a in designs}
    fit_seconds = time.perf_counter() - start

    gee, lmm = designs["primary"], designs["craving"]
    reference = next(iter(gee.levels["arm"]))
    with tempfile.TemporaryDirectory(prefix="mindtrial-batch-bench-") as tmp:
        folder = Path(tmp)
        _rows(gee.frame, gee.outcome, ys["primary"]).to_csv(folder / "gee.csv", index=False)
        _rows(lmm.frame, lmm.outcome, ys["craving"]).to_csv(folder / "lmm.csv", index=False)
        (folder / "loop.R").write_text(R_LOOP, encoding="utf-8")
        completed = subprocess.run(
            [
                "Rscript",
                str(folder / "loop.R"),
                str(folder / "gee.csv"),
                str(folder / "lmm.csv"),
                reference,
                _r_formula(gee.formula, random=False),
                _r_formula(lmm.formula, random=True),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        print(completed.stderr, file=sys.stderr)
        return 1
    values: dict[str, list[float]] = {}
    for line in completed.stdout.splitlines():
        head, *rest = line.split()
        values[head] = [float(x) for x in rest]
    r_seconds = values["R_SECONDS"][0]
    arm = gee.terms.index(f"arm[T.{gee.levels['arm'][1]}]")
    gee_diff = np.abs(fits["primary"].beta[:, arm] - np.array(values["GEE_ARM"]))
    lmm_arm = lmm.terms.index(f"arm[T.{lmm.levels['arm'][1]}]")
    lmm_diff = np.abs(fits["craving"].beta[:, lmm_arm] - np.array(values["LMM_ARM"]))

    r_per = r_seconds / args.r_reps
    ours_per = fit_seconds / args.r_reps
    print()
    print(f"first simulated template (scenario calibration, imports): {warm:.2f} s")
    print(f"{'':48}{'whole call':>12}{'fitting':>10}{'ms/rep':>9}")
    totals: dict[int, float] = {}
    for analysis, jobs, whole, fitting, power in runs:
        label = f"batch_power {'GEE' if analysis == 'primary' else 'LMM'}, {args.reps} reps, {jobs} job(s)"
        print(
            f"{label:48}{whole:12.2f}{fitting:10.2f}{1000 * whole / args.reps:9.2f}"
            f"   power {power:.3f}"
        )
        totals[jobs] = totals.get(jobs, 0.0) + whole
    for jobs, total in totals.items():
        label = f"batch_power GEE + LMM, {jobs} job(s)"
        print(f"{label:48}{total:12.2f}{'':10}{1000 * total / args.reps:9.2f}")
    label = f"batch fits GEE + LMM, same {args.r_reps} reps, 1 core"
    print(f"{label:48}{fit_seconds:12.2f}{'':10}{1000 * ours_per:9.2f}")
    label = f"R loop geeglm + lmer, same {args.r_reps} reps"
    print(f"{label:48}{r_seconds:12.2f}{'':10}{1000 * r_per:9.2f}")
    print()
    print(f"R loop / MindTrial batch fits, per replicate (1 core each): {r_per / ours_per:.1f}x")
    for jobs, total in totals.items():
        print(
            f"R loop / MindTrial whole batch_power calls, per replicate ({jobs} job(s)): "
            f"{r_per / (total / args.reps):.1f}x"
        )
    print(
        f"max |difference| of the arm coefficients vs R: {gee_diff.max():.2e} (GEE), "
        f"{lmm_diff.max():.2e} (LMM)"
    )
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
