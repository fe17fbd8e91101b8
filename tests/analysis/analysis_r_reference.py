"""R reference fits for the analysis tests (see tests/reference/public_fits.R)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
R_SCRIPT = REFERENCE_DIR / "public_fits.R"


def r_term(python_term: str) -> str:
    """Our (patsy) coefficient name -> R's: ``Intercept`` -> ``(Intercept)``,
    ``arm[T.mrocc]`` -> ``armmrocc``, interactions part by part."""
    if python_term == "Intercept":
        return "(Intercept)"
    return ":".join(re.sub(r"^(.*)\[T\.(.*)\]$", r"\1\2", part) for part in python_term.split(":"))


@dataclass(frozen=True)
class RReference:
    """R's output: ``fits`` is the parsed JSON, ``data_dir`` holds the CSVs R fitted."""

    fits: dict[str, Any]
    data_dir: Path
    live: bool

    def data(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.data_dir / f"{name}.csv")

    def coefficients(self, name: str) -> pd.DataFrame:
        """R's coefficient table of fit ``name`` indexed by R term name."""
        table = pd.DataFrame(self.fits[name]["coefficients"])
        return table.set_index("term")


def _rscript_or_fail() -> str | None:
    rscript = shutil.which("Rscript")
    if rscript is None and os.environ.get("CI", "").lower() == "true":
        pytest.fail("Rscript is not installed: CI must rerun the R references (apt r-base-core)")
    return rscript


def load_r_reference(tmp_path_factory: pytest.TempPathFactory) -> RReference:
    """Rerun the R script live when Rscript exists, else read the committed output."""
    rscript = _rscript_or_fail()
    if rscript is None:
        return RReference(
            fits=json.loads((REFERENCE_DIR / "public_fits.json").read_text(encoding="utf-8")),
            data_dir=REFERENCE_DIR / "data",
            live=False,
        )
    out = tmp_path_factory.mktemp("r_reference")
    done = subprocess.run(
        [rscript, "--vanilla", str(R_SCRIPT), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{R_SCRIPT.name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return RReference(
        fits=json.loads((out / "public_fits.json").read_text(encoding="utf-8")),
        data_dir=out / "data",
        live=True,
    )
