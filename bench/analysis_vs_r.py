"""Time the full M-ROCC analysis in MindTrial against R's reference packages.

For each size (default 196 and 5,000 participants) one trial is simulated and written as a
study dataset folder; then, in the same run and on the same folder:

* MindTrial: ``read_dataset`` + ``run_analysis`` (outcome derivation and every model of the
  plan) — once without sensitivity analyses, once with multiple imputation (m imputations,
  applied to the primary outcome, as the R script does);
* R: ``tests/reference/mrocc_pipeline.R`` (outcome derivation in base R, geepack::geeglm,
  lme4::lmer, MASS::glm.nb, and mice + pool for the primary outcome) — with M = 0 and M = m.

Prints both wall-clock times and their ratio, and the machine. Usage::

    uv run python bench/analysis_vs_r.py [--sizes 196 5000] [--imputations 20] [--seed 1]
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

from mindtrial.analysis.runner import run_analysis
from mindtrial.dataset import read_dataset, write_dataset
from mindtrial.protocols import Protocol, load_protocol
from mindtrial.simulate import simulate_trial

R_SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "reference" / "mrocc_pipeline.R"


def _plan(protocol: Protocol, *, imputation: bool) -> Protocol:
    sensitivity = (
        [
            s.model_copy(update={"applies_to": ["primary"]})
            for s in protocol.analysis.sensitivity
            if s.kind == "multiple_imputation"
        ]
        if imputation
        else []
    )
    analysis = protocol.analysis.model_copy(update={"sensitivity": sensitivity})
    return protocol.model_copy(update={"analysis": analysis})


def _time_python(folder: Path, protocol: Protocol, m: int, seed: int) -> float:
    start = time.perf_counter()
    dataset = read_dataset(folder)
    report = run_analysis(dataset, protocol=protocol, imputations=max(m, 2), seed=seed)
    elapsed = time.perf_counter() - start
    failed = [a.id for a in report.analyses if a.status == "error"]
    if failed:
        print(f"    (python: analyses not estimable: {', '.join(failed)})")
    return elapsed


def _time_r(rscript: str, folder: Path, m: int, seed: int) -> float:
    out = folder.parent / f"r_{m}.json"
    start = time.perf_counter()
    done = subprocess.run(
        [rscript, "--vanilla", str(R_SCRIPT), str(folder), str(out), str(m), str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"R failed:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[196, 5000])
    parser.add_argument("--imputations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--skip-imputation-above",
        type=int,
        default=None,
        help="Only time the run without imputation for larger sizes.",
    )
    args = parser.parse_args()
    rscript = shutil.which("Rscript")
    if rscript is None:
        sys.exit(
            "Rscript not found: install r-base-core and r-cran-{lme4,geepack,mice,mass,jsonlite}"
        )
    protocol = load_protocol("mrocc-2025")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"python {platform.python_version()}; R via {rscript}")
    print(f"{'n':>6}  {'run':<22} {'python s':>9} {'R s':>9} {'python/R':>9}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            folder = write_dataset(
                simulate_trial(protocol, n=n, seed=args.seed), Path(tmp) / "trial"
            )
            print(f"{n:>6}  (simulated in {time.perf_counter() - start:.1f} s)")
            runs = [("no imputation", 0)]
            if args.skip_imputation_above is None or n <= args.skip_imputation_above:
                runs.append((f"MI m={args.imputations} (primary)", args.imputations))
            for label, m in runs:
                plan = _plan(protocol, imputation=m > 0)
                py = _time_python(folder, plan, m, args.seed)
                r = _time_r(rscript, folder, m, args.seed)
                print(f"{n:>6}  {label:<22} {py:>9.1f} {r:>9.1f} {py / r:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
