"""The M-ROCC analysis (no multiple imputation) of 100,000 participants: wall time and peak memory.

The dataset: one simulated trial of ``--base`` participants (default 5,000) replicated
``--copies`` times (default 20) with new participant, cohort, referral and adverse-event ids,
so every copy is a trial of its own cohorts; written as one study dataset folder. Then, each
in a fresh process on that folder:

* MindTrial: ``read_dataset`` + ``run_analysis`` without sensitivity analyses (outcome
  derivation from the raw files and every model of the plan); its wall time and peak
  resident memory (``getrusage`` of the child process);
* R (unless ``--no-r``): ``tests/reference/mrocc_pipeline.R`` with M = 0 (outcome derivation
  in base R, geepack, lme4, MASS), stopped after ``--r-timeout`` seconds.

Targets (issue "Faster than R at every size"): ≤ 60 s and ≤ 4 GB peak. Usage::

    uv run python bench/analysis_100k.py [--base 5000] [--copies 20] [--seed 1] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

R_SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "reference" / "mrocc_pipeline.R"
RELABELLED = ("participant_id", "cohort", "referral_id", "ae_id")
"""Id columns given a copy suffix (blank cells stay blank)."""


def _replicate(frame: pd.DataFrame, copies: int) -> pd.DataFrame:
    """``copies`` copies of a file's cells (text), id columns suffixed ``-c00``, ``-c01``…"""
    parts = []
    for k in range(copies):
        part = frame.copy()
        for column in RELABELLED:
            if column in part.columns:
                given = part[column] != ""
                part.loc[given, column] = part.loc[given, column] + f"-c{k:02d}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def build(folder: Path, *, base: int, copies: int, seed: int) -> Path:
    """Simulate ``base`` participants, write them, and write ``copies`` copies of every file
    (cells as text, ids relabelled) as the folder ``folder``."""
    from mindtrial.dataset import write_dataset
    from mindtrial.protocols import load_protocol
    from mindtrial.simulate import simulate_trial

    protocol = load_protocol("mrocc-2025")
    folder.mkdir()
    with tempfile.TemporaryDirectory() as scratch:  # the single trial is not kept
        one = write_dataset(simulate_trial(protocol, n=base, seed=seed), Path(scratch) / "one")
        for source in one.iterdir():
            if source.suffix != ".csv":
                shutil.copy(source, folder / source.name)
                continue
            cells = pd.read_csv(source, dtype=str, keep_default_na=False, na_filter=False)
            _replicate(cells, copies).to_csv(folder / source.name, index=False)
    return folder


def run_python(folder: Path) -> None:
    """In this (fresh) process: read and analyse ``folder``; print one JSON line."""
    from mindtrial.analysis.runner import run_analysis
    from mindtrial.dataset import read_dataset
    from mindtrial.protocols import load_protocol

    protocol = load_protocol("mrocc-2025")
    analysis = protocol.analysis.model_copy(update={"sensitivity": []})
    plan = protocol.model_copy(update={"analysis": analysis})
    start = time.perf_counter()
    dataset = read_dataset(folder)
    read = time.perf_counter() - start
    report = run_analysis(dataset, protocol=plan, imputations=2, seed=1)
    total = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss  # KiB on Linux
    failed = [a.id for a in report.analyses if a.status == "error"]
    print(
        json.dumps(
            {
                "seconds": total,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,  # imports included
                "read_seconds": read,
                "peak_mib": peak_kib / 1024,
                "participants": len(dataset.participants),
                "responses": len(dataset.responses),
                "failed": failed,
            }
        )
    )


def _uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=5000)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-r", action="store_true", help="Time MindTrial only.")
    parser.add_argument("--r-timeout", type=float, default=900.0)
    parser.add_argument("--keep", type=Path, help="Write the folder here and keep it.")
    parser.add_argument("--folder", type=Path, help="Time this folder (one --keep wrote).")
    parser.add_argument("--run-python", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_python is not None:
        run_python(args.run_python)
        return

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"python {platform.python_version()}; load average {_uptime()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or args.keep or Path(tmp) / "trial"
        start = time.perf_counter()
        if args.folder is None:
            build(folder, base=args.base, copies=args.copies, seed=args.seed)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        built = "given" if args.folder else f"built in {time.perf_counter() - start:.1f} s"
        print(
            f"dataset: {args.base} simulated x {args.copies} copies, {size:.0f} MiB ({built})",
            flush=True,
        )
        done = subprocess.run(
            [sys.executable, __file__, "--run-python", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"python run failed:\n{done.stderr[-3000:]}")
        py = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"python: {py['seconds']:.1f} s (reading and validating {py['read_seconds']:.1f} s; "
            f"CPU time of the process {py['cpu_seconds']:.1f} s), "
            f"peak RSS {py['peak_mib']:.0f} MiB; {py['participants']} participants, "
            f"{py['responses']} responses; not estimable: {', '.join(py['failed']) or 'none'}",
            flush=True,
        )
        print(f"load average after python: {_uptime()}", flush=True)
        rscript = shutil.which("Rscript")
        if args.no_r or rscript is None:
            print("R: not run" + ("" if args.no_r else " (no Rscript)"))
            return
        out = Path(tmp) / "r.json"  # not next to a kept or given folder
        start = time.perf_counter()
        try:
            r = subprocess.run(
                ["/usr/bin/time", "-f", "%U %S %M", rscript, "--vanilla", str(R_SCRIPT), str(folder),
                 str(out), "0", str(args.seed)],
                capture_output=True, text=True, check=False, timeout=args.r_timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            print(f"R: stopped after {args.r_timeout:.0f} s (not finished)")
            return
        seconds = time.perf_counter() - start
        if r.returncode != 0:
            print(f"R failed after {seconds:.1f} s:\n{r.stderr[-2000:]}")
            return
        user, system, kib = r.stderr.strip().splitlines()[-1].split()
        print(
            f"R: {seconds:.1f} s (CPU time {float(user) + float(system):.1f} s), "
            f"peak RSS {int(kib) / 1024:.0f} MiB; "
            f"python / R = {py['seconds'] / seconds:.2f}"
        )
        print(f"load average after R: {_uptime()}")


if __name__ == "__main__":
    main()
