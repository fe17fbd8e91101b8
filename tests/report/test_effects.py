"""Result tables chosen by the declared effect measure, with the published values beside."""

from __future__ import annotations

from mindtrial.analysis.results import (
    AnalysisReport,
    AnalysisResult,
    ArmEstimate,
    ArmInfo,
    Contrast,
    Summary,
)
from mindtrial.protocols import load_protocol
from mindtrial.report.effects import (
    forest_rows,
    hazard_table,
    measure_kind,
    percent_table,
    published_text,
)
from mindtrial.report.survival import kaplan_meier

MMT = load_protocol("more-mmt-2024")
LTOT = load_protocol("more-ltot-2022")


def _contrast(measure: str, estimate: float, low: float, high: float) -> Contrast:
    return Contrast(
        label="A / B",
        measure=measure,
        comparison="a",
        reference="b",
        estimate=estimate,
        std_error=0.1,
        ci_lower=low,
        ci_upper=high,
        p_value=0.0123,
    )


def _result(
    analysis_id: str, contrast: Contrast | None, *, model: str = "cox_ph"
) -> AnalysisResult:
    summary = (
        None
        if contrast is None
        else Summary(
            measure="participants with the event, % (95% CI)",
            arms=(
                ArmEstimate(
                    arm="a",
                    label="A",
                    estimate=40.0,
                    std_error=5.0,
                    ci_lower=30.0,
                    ci_upper=50.0,
                    n_participants=45,
                ),
                ArmEstimate(
                    arm="b",
                    label="B",
                    estimate=60.0,
                    std_error=5.0,
                    ci_lower=50.0,
                    ci_upper=70.0,
                    n_participants=45,
                ),
            ),
            contrast=contrast,
        )
    )
    return AnalysisResult(
        id=analysis_id,
        title=f"Title of {analysis_id}",
        kind="analysis",
        model=model,
        outcome=analysis_id,
        formula=None,
        multiplicity_family=None,
        status="ok" if contrast is not None else "error",
        n_participants=90,
        n_observations=90,
        converged=True,
        warnings=(),
        summary=summary,
        error=None if contrast is not None else "no events in either arm",
    )


def _report(*results: AnalysisResult, masked: bool = False) -> AnalysisReport:
    return AnalysisReport(
        protocol_id="p",
        protocol_version="1",
        arms_masked=masked,
        arms=(
            ArmInfo(code="a", label="A", n_randomized=45),
            ArmInfo(code="b", label="B", n_randomized=45),
        ),
        reference_arm="b",
        comparison_arm="a",
        seed=1,
        imputations=2,
        analyses=results,
    )


def test_the_measure_not_the_model_picks_the_table() -> None:
    # a hazard ratio from any model goes to the time-to-event table, an odds ratio to yes/no
    assert measure_kind(_result("x", _contrast("hazard ratio", 0.6, 0.4, 0.9)), None) == "hazard"
    odds = _result("x", _contrast("odds ratio", 2.0, 1.2, 3.6), model="cox_ph")
    assert measure_kind(odds, None) == "percent"
    assert measure_kind(_result("x", _contrast("ratio of means", 0.6, 0.4, 0.9)), None) == "rate"
    change = _contrast("difference in change from month 0 to 9", 0.5, 0.2, 0.8)
    assert measure_kind(_result("x", change), None) == "change"
    # a withheld analysis keeps its place through the protocol's declared contrast
    assert measure_kind(_result("x", None), "hazard_ratio") == "hazard"
    assert measure_kind(_result("x", None), None) == "other"


def test_published_value_sits_beside_the_estimate() -> None:
    # MORE-MMT published HR for return to use 0.58 (protocol file), LTOT misuse OR 2.06
    # (1.17 to 3.61) with 45.0% vs 24.4% not misusing
    hr = _result("return_to_use", _contrast("hazard ratio", 0.6, 0.37, 0.96))
    assert published_text(hr, MMT, _report(hr), 2) == "0.58"
    odds = _result("misuse", _contrast("odds ratio", 2.2, 1.2, 3.9), model="gee_logistic")
    report = AnalysisReport(
        protocol_id="p",
        protocol_version="1",
        arms_masked=False,
        arms=(
            ArmInfo(code="more", label="MORE", n_randomized=45),
            ArmInfo(code="supportive", label="Supportive", n_randomized=45),
        ),
        reference_arm="supportive",
        comparison_arm="more",
        seed=1,
        imputations=2,
        analyses=(odds,),
    )
    assert (
        published_text(odds, LTOT, report, 2) == "2.06 (1.17 to 3.61); MORE 45.0, Supportive 24.4"
    )
    # masked reports never show per-arm published values
    assert published_text(hr, MMT, _report(hr, masked=True), 2) == "—"
    rows = forest_rows(_report(hr), MMT)
    assert rows[0].published == 0.58 and rows[0].ratio


def test_hazard_table_counts_events_and_person_time() -> None:
    hr = _result("return_to_use", _contrast("hazard ratio", 0.6, 0.37, 0.96))
    # arm a: 2 events in 3 participants over 4 + 6 + 10 = 20 weeks → 10 per 100 person-weeks;
    # the KM curve drops to 2/3 at week 4 and 1/3 at week 6: median 6 (first S <= 0.5, as
    # survfit); arm b drops to 1/2 at week 2: median 2
    a = kaplan_meier([4, 6, 10], [1, 1, 0], group="a", label="A")
    b = kaplan_meier([2, 8], [1, 0], group="b", label="B")
    table = hazard_table(_report(hr), MMT, {"return_to_use": [a, b]})
    row = table.iloc[0]
    assert row.iloc[1] == "2/3; 20 person-weeks; 10.00 per 100 person-weeks; median 6"
    assert row.iloc[2] == "1/2; 10 person-weeks; 10.00 per 100 person-weeks; median 2"
    assert row["Estimate (95% CI)"] == "0.60 (0.37 to 0.96)"
    assert row["P"] == "0.012" and row["BH-adjusted P"] == "not adjusted"
    assert row["Published"] == "0.58"


def test_an_odds_ratio_table_keeps_the_difference_on_its_own_row() -> None:
    difference = _contrast("difference in percentage points", 20.6, 5.0, 36.0)
    odds = _result("misuse", _contrast("odds ratio", 2.5, 1.3, 4.8), model="gee_logistic")
    assert odds.summary is not None
    from dataclasses import replace

    odds = replace(odds, summary=replace(odds.summary, other_contrasts=(difference,)))
    table = percent_table(_report(odds), LTOT)
    assert table["Effect measure"].tolist() == [
        "Odds ratio (A / B)",
        "Difference in percentage points (A / B)",
    ]
    assert table["Estimate (95% CI)"].tolist() == ["2.50 (1.30 to 4.80)", "20.6 (5.0 to 36.0)"]
    assert table.iloc[0, 1] == "40.0 (30.0 to 50.0)"
