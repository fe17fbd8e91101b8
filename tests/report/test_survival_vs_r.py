"""Kaplan–Meier estimates against R's survival::survfit (tests/reference/km_reference.R).

The R script is rerun live into a temporary file when ``Rscript`` is on the PATH (a missing R
fails under CI, ``CI=true``); otherwise the committed ``km_reference.json`` is used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mindtrial.report.survival import kaplan_meier, number_at_risk

REFERENCE = Path(__file__).parents[1] / "reference"


@pytest.fixture(scope="module")
def r_km(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    script = REFERENCE / "km_reference.R"
    if shutil.which("Rscript") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Rscript is required in CI for the Kaplan–Meier reference")
        path = REFERENCE / "km_reference.json"
    else:
        path = tmp_path_factory.mktemp("km") / "km.json"
        subprocess.run(["Rscript", str(script), str(path)], check=True, capture_output=True)
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("group", ["female", "male"])
def test_kaplan_meier_matches_survfit(r_km: dict[str, dict[str, object]], group: str) -> None:
    lung = pd.read_csv(REFERENCE / "data" / "lung.csv")
    rows = lung[lung["sex_label"] == group]
    km = kaplan_meier(rows["time"], rows["event"], group=group, label=group)
    ref = r_km[group]
    r_times = np.asarray(ref["time"], dtype=float)
    # survfit lists every distinct time (events and censorings) as lifelines does, after 0.
    assert np.allclose(np.asarray(km.times[1:]), r_times)
    assert np.allclose(np.asarray(km.survival[1:]), np.asarray(ref["surv"], dtype=float))
    # log-log (exponential Greenwood) limits, survfit(conf.type = "log-log")
    lower = np.asarray(ref["lower"], dtype=float)
    upper = np.asarray(ref["upper"], dtype=float)
    finite = np.isfinite(lower)
    assert np.allclose(np.asarray(km.ci_lower[1:])[finite], lower[finite], atol=1e-6)
    assert np.allclose(np.asarray(km.ci_upper[1:])[finite], upper[finite], atol=1e-6)
    assert km.median == pytest.approx(float(ref["median"]))  # type: ignore[arg-type]
    assert km.n == ref["n"] and km.events == ref["events"]
    assert km.person_time == pytest.approx(float(ref["person_time"]))  # type: ignore[arg-type]
    times = [float(t) for t in ref["risk_times"]]  # type: ignore[attr-defined]
    assert number_at_risk(rows["time"], times) == list(ref["n_risk"])  # type: ignore[call-overload]
    # the step function read at a time between two events equals survfit's summary
    assert km.at(100.0) == pytest.approx(float(np.asarray(ref["surv"])[r_times <= 100][-1]))
