"""The trial report built from a run on the hand-built trial (trial_factory.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from trial_factory import make_trial

from mindtrial.analysis.results import AnalysisReport
from mindtrial.analysis.runner import run_analysis
from mindtrial.protocols import Protocol, load_protocol
from mindtrial.protocols.schema import SensitivitySpec
from mindtrial.report import ReportBundle, build_report, write_report
from mindtrial.report.consort import consort_flow
from mindtrial.report.printer import fmt_ci, fmt_p

MROCC = load_protocol("mrocc-2025")


def small_plan() -> Protocol:
    """Every main analysis plus the cheap sensitivity analyses (all but imputation) of the
    primary and anxiety analyses."""
    keep: list[SensitivitySpec] = [
        s.model_copy(
            update={"applies_to": [a for a in ("primary", "anxiety") if a in s.applies_to]}
        )
        for s in MROCC.analysis.sensitivity
        if s.kind != "multiple_imputation"
    ]
    analysis = MROCC.analysis.model_copy(update={"sensitivity": keep})
    return MROCC.model_copy(update={"analysis": analysis})


PLAN = small_plan()


@pytest.fixture(scope="module")
def run() -> tuple[AnalysisReport, ReportBundle]:
    ds = make_trial()
    report = run_analysis(ds, protocol=PLAN, imputations=2, seed=3)
    return report, build_report(ds, PLAN, report)


@pytest.fixture(scope="module")
def masked_bundle() -> ReportBundle:
    ds = make_trial(masked=True)
    report = run_analysis(ds, protocol=PLAN, imputations=2, seed=3)
    return build_report(ds, PLAN, report)


def test_consort_counts_follow_the_screening_records() -> None:
    # The factory writes 60 randomized referrals and 120 others whose furthest stages cycle
    # through referred, screened, eligible, consented (twice) and baseline: 20 of each kind.
    ds = make_trial()
    report = run_analysis(
        ds,
        protocol=PLAN.model_copy(
            update={
                "analysis": PLAN.analysis.model_copy(
                    update={"analyses": PLAN.analysis.analyses[:1], "sensitivity": []}
                )
            }
        ),
        imputations=2,
        seed=1,
    )
    flow = consort_flow(ds, MROCC, report)
    assert flow.referred == 180
    assert flow.consented == 60 + 20 + 20 + 20
    assert flow.not_consented == 60
    assert dict(flow.not_randomized_reasons) == {
        "did not complete baseline": 20,
        "met exclusion criteria": 20,
        "not randomized after baseline": 20,
    }
    assert flow.randomized == 60
    withdrawn = ds.participants.dropna(subset=["withdrawn_week"])
    for arm in flow.arms:
        assert arm.allocated == int((ds.participants["arm"] == arm.code).sum())
        assert arm.withdrew == int((withdrawn["arm"] == arm.code).sum())
        assert arm.completed_final <= arm.allocated - arm.withdrew
    assert sum(a.analysed_primary or 0 for a in flow.arms) == report.analyses[0].n_participants


def test_every_output_file_is_written(
    run: tuple[AnalysisReport, ReportBundle], tmp_path: Path
) -> None:
    _, bundle = run
    out = write_report(bundle, tmp_path / "report")
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == sorted(
        [
            "results.json",
            "report.html",
            *[
                f"tables/{t}.csv"
                for t in (
                    "consort",
                    "baseline",
                    "results_percent",
                    "results_change",
                    "results_rate",
                    "engagement_attendance",
                    "engagement_continuation",
                    "sensitivity",
                    "adverse_events",
                    "coefficients",
                )
            ],
            *[
                f"figures/{f}.{x}"
                for f in (
                    "consort",
                    "forest",
                    "anxiety_by_week",
                    "craving_by_week",
                    "primary_by_period",
                    "benzodiazepines_by_period",
                    "cocaine_by_period",
                )
                for x in ("svg", "png")
            ],
        ]
    )
    assert (out / "figures/craving_by_week.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [a["id"] for a in results["analyses"]][:6] == [
        "primary",
        "benzodiazepines",
        "cocaine",
        "anxiety",
        "craving",
        "adverse_events",
    ]
    assert "completers.primary" in [a["id"] for a in results["analyses"]]


def test_html_is_self_contained(run: tuple[AnalysisReport, ReportBundle]) -> None:
    html = run[1].html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#|data:)""", html)
    assert not re.search(r"@import|url\((?!#)", html)
    # CONSORT, forest plot, three yes/no outcomes by period and two trajectories, inline
    assert html.count("<svg") == 7
    assert "<style>" in html


def test_html_shows_the_numbers_of_the_results(run: tuple[AnalysisReport, ReportBundle]) -> None:
    report, bundle = run
    primary = report.analysis("primary").summary
    assert primary is not None and primary.contrast is not None
    c = primary.contrast
    assert fmt_ci(c.estimate, c.ci_lower, c.ci_upper) in bundle.html
    assert fmt_p(c.bh_p_value) in bundle.tables["results_percent"].iloc[0].tolist()
    craving = report.analysis("craving").summary
    assert craving is not None and craving.interaction is not None
    assert f"χ²(24) = {craving.interaction.chi2:.1f}" in bundle.html
    for heading in (
        "Participant flow (CONSORT)",
        "Table 1. Baseline",
        "Sensitivity analyses",
        "Adverse events",
        "Methods",
        "Software and reproducibility",
    ):
        assert heading in bundle.html
    assert f"<td>{report.seed}</td>" in bundle.html


def test_baseline_table_counts_by_arm(run: tuple[AnalysisReport, ReportBundle]) -> None:
    ds = make_trial()
    table = run[1].tables["baseline"]
    female = table[(table["Characteristic"] == "Sex") & (table["Statistic"] == "Female, n (%)")]
    people = ds.participants
    n = int(((people["arm"] == "mrocc") & (people["sex"] == "female")).sum())
    share = 100 * n / int((people["arm"] == "mrocc").sum())
    assert female.iloc[0, 2] == f"{n} ({share:.1f}%)"


def test_masked_outputs_never_name_a_real_arm(masked_bundle: ReportBundle, tmp_path: Path) -> None:
    out = write_report(masked_bundle, tmp_path / "masked")
    secrets = [arm.label.lower() for arm in MROCC.arms] + ["mindfulness)", "recovery support"]
    # Arm ids as whole tokens; "mrocc-2025" is the protocol's id, not an arm.
    tokens = re.compile(r"(?<![\w-])(mrocc|recovery_support)(?![\w-])", re.IGNORECASE)
    checked = 0
    for path in out.rglob("*"):
        if path.suffix in (".json", ".html", ".csv", ".svg"):
            text = path.read_text(encoding="utf-8")
            lowered = text.lower()
            for secret in secrets:
                assert secret not in lowered, (path.name, secret)
            assert not tokens.search(text), (path.name, tokens.search(text))
            checked += 1
    assert checked == 2 + 9 + 7  # json, html, csv tables (no continuation: masked), svg
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "KX" in html and "QB" in html and "Blinded" in html


def test_write_report_refuses_a_non_empty_folder(
    run: tuple[AnalysisReport, ReportBundle], tmp_path: Path
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not empty"):
        write_report(run[1], target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    write_report(run[1], target, overwrite=True)
    assert not (target / "keep.txt").exists() and (target / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folders left


def test_two_builds_are_byte_identical(run: tuple[AnalysisReport, ReportBundle]) -> None:
    report, bundle = run
    again = build_report(make_trial(), PLAN, report)
    assert again.files() == bundle.files()


def test_an_analysis_that_fails_still_renders() -> None:
    ds = make_trial(no_craving=True)
    report = run_analysis(ds, protocol=PLAN, imputations=2, seed=1)
    bundle = build_report(ds, PLAN, report)
    craving = report.analysis("craving")
    assert craving.status == "error"
    assert "not estimable" in bundle.html
    assert bundle.html.count("<svg") == 6  # no craving figure, the rest still drawn


_SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")


def visible_text(html: str) -> str:
    """The text a reader sees: no style sheet, no tags, entities as characters."""
    import html as html_lib

    without_style = re.sub(r"<style>.*?</style>", " ", html, flags=re.DOTALL)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", without_style))


def raw_names(text: str, dataset_columns: set[str]) -> set[str]:
    """Dataset column names and snake_case identifiers in ``text`` (file names excepted)."""
    found = {m.group(0) for m in _SNAKE.finditer(text)}
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    found |= {c for c in dataset_columns if "_" in c and c in words}
    return {f for f in found if not text.count(f + ".csv")}


def test_no_raw_variable_name_in_the_report(run: tuple[AnalysisReport, ReportBundle]) -> None:
    _, bundle = run
    ds = make_trial()
    columns = (
        {
            str(c)
            for frame in (ds.participants, ds.responses, ds.toxicology, ds.attendance)
            for c in frame.columns
        }
        | {c.name for c in MROCC.baseline_covariates}
        | {s.id for s in MROCC.analysis.analyses}
    )
    assert raw_names(visible_text(bundle.html), columns) == set()
    for name, table in bundle.tables.items():
        if name in ("coefficients", "consort"):
            continue  # machine-readable long tables
        text = " ".join([*map(str, table.columns), *map(str, table.to_numpy().ravel())])
        assert raw_names(text, columns) == set(), name


def test_simulated_data_carry_the_banner_and_the_published_values() -> None:
    from dataclasses import replace

    ds = make_trial()
    simulated = replace(ds, meta=replace(ds.meta, source="simulate"))
    plan = PLAN.model_copy(
        update={
            "analysis": PLAN.analysis.model_copy(
                update={"analyses": PLAN.analysis.analyses[:1], "sensitivity": []}
            )
        }
    )
    report = run_analysis(simulated, protocol=plan, imputations=2, seed=1)
    bundle = build_report(simulated, plan, report)
    assert "SIMULATED DATA" in bundle.html
    # M-ROCC's published primary difference is 0.6 points (-8.2 to 9.5), beside the estimate
    row = bundle.tables["results_percent"].iloc[0]
    assert row["Published"].startswith("0.6 (-8.2 to 9.5)")
    assert "SIMULATED DATA" not in build_report(ds, plan, report).html
    # A single simulated trial varies: the report shows the Monte-Carlo spread of each
    # estimate, as the shipped simulate-check figures (file named with seed and reps) give it.
    shipped = json.loads(
        (Path(__file__).parents[2] / "src/mindtrial/simulate/spread/mrocc-2025.json").read_text()
    )
    low, _, high = shipped["estimands"]["primary"]["estimate_quantiles"]
    assert f"Over {shipped['reps']} simulated trials" in bundle.html
    assert f"seed {shipped['seed']}" in bundle.html
    assert f"{low:.1f} to {high:.1f}" in bundle.html
    assert 'id="variation"' not in build_report(ds, plan, report).html
