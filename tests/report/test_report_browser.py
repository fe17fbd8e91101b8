"""Each shipped protocol end to end in a browser: simulate a small trial with
``mindtrial simulate``, analyse it with ``mindtrial analyze``, open ``report.html`` in Debian's
Chromium and check what a reader sees. Screenshots at desktop (1280 px) and phone (390 px)
width are kept under ``test-output/report/`` (or ``$MINDTRIAL_ARTIFACTS``) as test artifacts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_report import raw_names
from typer.testing import CliRunner

from mindtrial.cli.main import app
from mindtrial.protocols import load_protocol
from mindtrial.protocols.loader import shipped_protocol_ids

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get(
        "MINDTRIAL_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-output" / "report"
    )
)
PROTOCOLS = shipped_protocol_ids()

pytestmark = [pytest.mark.browser, pytest.mark.slow]

runner = CliRunner()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (install Debian's chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nreport screenshots: {ARTIFACTS}")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield instance
        instance.close()


def _run(*args: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module", params=PROTOCOLS)
def trial(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    protocol = str(request.param)
    root = tmp_path_factory.mktemp(protocol)
    data = root / "data"
    out = root / "report"
    _run("simulate", "--protocol", protocol, "--n", "90", "--seed", "11", "--out", str(data))
    _run("analyze", str(data), "--out", str(out), "--imputations", "2", "--seed", "5")
    (out / "protocol.txt").write_text(protocol, encoding="utf-8")
    (out / "participants.csv").write_bytes((data / "participants.csv").read_bytes())
    return out


def test_report_shows_every_analysis_to_a_reader(browser: Any, trial: Path) -> None:
    protocol = load_protocol((trial / "protocol.txt").read_text(encoding="utf-8"))
    results = json.loads((trial / "results.json").read_text(encoding="utf-8"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((trial / "report.html").as_uri())
    name = protocol.id
    page.screenshot(path=str(ARTIFACTS / f"{name}-desktop.png"), full_page=True)

    assert page.locator("#simulated-banner").is_visible()
    assert "SIMULATED DATA" in page.locator("#simulated-banner").inner_text()

    # every prespecified analysis sits in a visible results table with its effect measure
    result_tables = page.locator("section[id^='results-'] table")
    assert result_tables.count() >= 1
    shown = " ".join(result_tables.nth(i).inner_text() for i in range(result_tables.count()))
    for analysis in results["analyses"]:
        if analysis["kind"] != "analysis":
            continue
        assert analysis["title"] in shown, analysis["title"]
        contrast = (analysis["summary"] or {}).get("contrast")
        if contrast is not None:
            assert contrast["measure"].lower() in shown.lower(), contrast["measure"]
    for i in range(result_tables.count()):
        assert result_tables.nth(i).is_visible()
        assert "Published" in result_tables.nth(i).locator("thead").inner_text()

    # Kaplan-Meier curves for every hazard-ratio analysis, with the numbers at risk
    for analysis in results["analyses"]:
        contrast = (analysis["summary"] or {}).get("contrast") or {}
        if analysis["kind"] == "analysis" and contrast.get("measure") == "hazard ratio":
            figure = page.locator(f"#figure-{analysis['id']}_kaplan_meier")
            assert figure.is_visible()
            assert "Number at risk" in figure.inner_text()

    assert page.locator("#figure-forest svg").is_visible()
    assert page.locator("#engagement table").first.is_visible()
    assert "Sessions attended" in page.locator("#engagement").inner_text()

    table1 = page.locator("#baseline table")
    assert table1.is_visible()
    for covariate in protocol.baseline_covariates:
        assert covariate.label in table1.inner_text()
    people = pd.read_csv(trial / "participants.csv", dtype=str)
    for column, label in (("race", "Race"), ("ethnicity", "Ethnicity")):
        if column in people.columns and people[column].notna().any():
            assert label in table1.inner_text()

    text = page.locator("main").inner_text()
    columns = set(people.columns) | {c.name for c in protocol.baseline_covariates}
    assert raw_names(text, columns) == set()
    # no unformatted missing number in any cell (messages of the analysis may say "nan")
    cells = page.evaluate("[...document.querySelectorAll('td')].map(c => c.innerText)")
    bad = [c for c in cells if re.search(r"^(nan|None|NaN)$|\bnan \(|\(nan\b|to nan\)", c)]
    assert bad == []

    page.set_viewport_size({"width": 390, "height": 844})
    # on a phone nothing but the wide tables' own scroll boxes is wider than the screen
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    assert width <= 390

    # printed (A4 landscape, 12 mm margins: 273 mm ≈ 1031 px): no table is wider than the page
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 1031, "height": 1400})
    overflow = page.evaluate(
        "Math.max(...[...document.querySelectorAll('table')].map("
        "t => t.scrollWidth - document.querySelector('main').clientWidth))"
    )
    assert overflow <= 1
    pdf = page.pdf(format="A4", landscape=True)
    assert pdf[:5] == b"%PDF-"
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) > 1
    page.close()
