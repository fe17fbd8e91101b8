"""The printer: one way to write an estimate, its interval and its P value, shared by the
report and `mindtrial analyze`'s terminal table."""

from __future__ import annotations

import math

from mindtrial.analysis.results import (
    AnalysisReport,
    AnalysisResult,
    ArmInfo,
    Contrast,
    Estimate,
    Summary,
)
from mindtrial.report.printer import MISSING, analyses_table, estimate_cells, fmt, fmt_ci, fmt_p


def test_numbers_and_p_values_as_journals_print_them() -> None:
    assert fmt(1.23456, 2) == "1.23"
    assert fmt(-0.004, 2) == "0.00"  # no negative zero
    assert fmt(math.nan) == MISSING and fmt(None) == MISSING and fmt(math.inf) == MISSING
    assert fmt_p(0.0004) == "<0.001"
    assert fmt_p(0.001) == "0.001"
    assert fmt_p(0.0504) == "0.050"
    assert fmt_ci(2.0, -0.5, 4.25, 2) == "2.00 (-0.50 to 4.25)"
    assert fmt_ci(math.nan, 1.0, 2.0) == MISSING


def test_estimate_cells_of_any_interval() -> None:
    value = Estimate(estimate=0.7, std_error=0.2, ci_lower=0.37, ci_upper=1.35, p_value=0.2994)
    assert estimate_cells(value, 2) == ("0.70 (0.37 to 1.35)", "0.299")
    assert estimate_cells(None, 2) == (MISSING, MISSING)


def _result(analysis_id: str, kind: str, contrast: Contrast | None) -> AnalysisResult:
    return AnalysisResult(
        id=analysis_id,
        title=analysis_id,
        kind="analysis" if kind == "analysis" else "sensitivity",
        model="lmm",
        outcome=analysis_id,
        formula=None,
        multiplicity_family=None,
        status="ok" if contrast is not None else "error",
        n_participants=130 if contrast is not None else 0,
        n_observations=260,
        converged=True,
        warnings=(),
        summary=None if contrast is None else Summary(measure="m", arms=(), contrast=contrast),
    )


def test_analyses_table_gives_each_analysis_its_main_contrast() -> None:
    contrast = Contrast(
        label="b - a",
        measure="difference in means",
        comparison="b",
        reference="a",
        estimate=-2.154,
        std_error=0.41,
        ci_lower=-2.958,
        ci_upper=-1.35,
        p_value=1.6e-7,
    )
    report = AnalysisReport(
        protocol_id="p",
        protocol_version="1",
        arms_masked=False,
        arms=(ArmInfo(code="a", label="A", n_randomized=98),),
        reference_arm="a",
        comparison_arm="b",
        seed=1,
        imputations=2,
        analyses=(
            _result("craving", "analysis", contrast),
            _result("completers.craving", "sensitivity", None),
        ),
    )
    table = analyses_table(report)
    assert table.values.tolist() == [
        ["craving", "130", "-2.15 (-2.96 to -1.35)", "<0.001", "ok"],
        ["completers.craving", "0", MISSING, MISSING, "error"],
    ]
    assert analyses_table(report, main_only=True)["analysis"].tolist() == ["craving"]
