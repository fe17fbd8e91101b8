"""The command starts without loading the heavy libraries its light commands never use.

Each case runs the CLI in a fresh interpreter (a subprocess: this test process has long
imported everything) and reads ``sys.modules`` after the command finished.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("statsmodels", "scipy", "matplotlib", "pandas", "django", "lifelines", "dask", "patsy")

_PROBE = """
import json, sys
from mindtrial.cli.main import app
try:
    app(sys.argv[1:], prog_name="mindtrial")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(HEAVY)))
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


def _run(*args: str) -> dict[str, object]:
    script = _PROBE.replace("json.loads(HEAVY)", repr(list(HEAVY)))
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("PROBE "))
    probe: dict[str, object] = json.loads(line.removeprefix("PROBE "))
    probe["stdout"] = done.stdout
    return probe


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["analyze", "--help"],
        ["power", "--help"],
        ["redcap", "inspect", "--help"],
        ["version"],
    ],
)
def test_help_and_light_commands_import_no_heavy_library(args: list[str]) -> None:
    probe = _run(*args)
    assert probe["code"] == 0, probe
    assert probe["heavy"] == [], f"mindtrial {' '.join(args)} imported {probe['heavy']}"


def test_score_imports_no_statistics_web_or_plotting_library() -> None:
    # PHQ-9: nine items all "more than half the days" (2) sum to 18, "moderately severe"
    answers = [f"phq9_{i}=2" for i in range(1, 10)]
    probe = _run("score", "phq9", *answers, "--json")
    assert probe["code"] == 0, probe
    assert probe["heavy"] == [], probe["heavy"]
    result = json.loads(str(probe["stdout"]))
    assert result["scores"]["total"] == 18
    assert result["bands"]["total"] == "moderately severe"
