"""Assemble and write the trial report: ``results.json``, ``report.html``, tables as CSV and
figures as SVG and PNG.

:func:`build_report` computes everything in memory (nothing is written); :func:`write_report`
writes a built report into a folder all-or-nothing (a temporary folder renamed into place).
The HTML file is self-contained: inline CSS, figures as inline SVG, no scripts, nothing
fetched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from mindtrial.analysis.results import AnalysisReport, AnalysisResult, TimePoint, to_json
from mindtrial.atomic_files import replace_folder
from mindtrial.dataset import StudyDataset
from mindtrial.protocols.schema import AnalysisSpec, Protocol
from mindtrial.report.consort import consort_figure, consort_flow, consort_table
from mindtrial.report.effects import (
    KIND_HEADINGS,
    KIND_ORDER,
    MeasureKind,
    change_table,
    forest_rows,
    hazard_table,
    measure_kind,
    other_table,
    percent_table,
    rate_table,
)
from mindtrial.report.engagement import attendance_table, continuation_table, home_practice_table
from mindtrial.report.figures import (
    Curve,
    ForestPoint,
    RenderedFigure,
    forest_figure,
    km_figure,
    render,
    trajectory_figure,
)
from mindtrial.report.labels import outcome_label, readable, time_label
from mindtrial.report.methods import methods_paragraphs, missing_data_paragraphs
from mindtrial.report.printer import fmt, fmt_estimate
from mindtrial.report.survival import KaplanMeier, curves_by_group, number_at_risk
from mindtrial.report.tables import adverse_event_table, baseline_table, sensitivity_table

__all__ = ["ReportBundle", "build_report", "html_table", "is_simulated", "write_report"]

_NUMERIC = re.compile(r"^[−\-<]?[0-9][0-9.,%]*( \(.*\))?$")
_SVG_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)


@dataclass(frozen=True, eq=False)
class ReportBundle:
    """A built report: the JSON results, the HTML page, the tables and the figures."""

    results: Mapping[str, object]
    html: str
    tables: dict[str, pd.DataFrame]
    figures: tuple[RenderedFigure, ...]

    def files(self) -> dict[str, bytes]:
        """Every output file by relative path."""
        out = {
            "results.json": (
                json.dumps(self.results, indent=2, ensure_ascii=False) + "\n"
            ).encode(),
            "report.html": self.html.encode("utf-8"),
        }
        for name, table in self.tables.items():
            out[f"tables/{name}.csv"] = table.to_csv(index=False, lineterminator="\n").encode(
                "utf-8"
            )
        for figure in self.figures:
            out[f"figures/{figure.name}.svg"] = figure.svg.encode("utf-8")
            out[f"figures/{figure.name}.png"] = figure.png
        return out


def html_table(
    frame: pd.DataFrame, *, caption: str | None = None, group_first: bool = False
) -> Markup:
    """A DataFrame of display text as an HTML table (escaped; numbers right-aligned; any
    snake_case identifier put into words). With ``group_first`` a first-column value that
    repeats the row above is left blank, as journals lay out grouped rows (the CSV keeps it)."""
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{escape(caption)}</caption>")
    parts.append(
        "<thead><tr>"
        + "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
        + "</tr></thead>"
    )
    parts.append("<tbody>")
    previous: object = None
    for row in frame.itertuples(index=False):
        cells = []
        repeated = group_first and len(row) > 0 and row[0] == previous and row[0] != ""
        previous = row[0] if len(row) else None
        for position, value in enumerate(row):
            if repeated and position == 0:
                cells.append('<td class="repeat"></td>')
                continue
            text = (
                ""
                if value is None or (isinstance(value, float) and pd.isna(value))
                else readable(str(value))
            )
            css = ' class="num"' if _NUMERIC.match(text) else ""
            cells.append(f"<td{css}>{escape(text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    return Markup("".join(parts))


def _inline_svg(figure: RenderedFigure) -> str:
    return _SVG_PROLOGUE.sub("", figure.svg, count=1)


def _problems(result: AnalysisResult) -> str:
    if result.error:
        return result.error
    return "; ".join(result.warnings)


def _coefficients_long(report: AnalysisReport) -> pd.DataFrame:
    rows = [{"analysis": a.id, **to_json(c)} for a in report.analyses for c in a.coefficients]
    columns = ["analysis", "term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    return pd.DataFrame(rows, columns=columns)


def is_simulated(dataset: StudyDataset) -> bool:
    """Whether ``study.json`` says the data were simulated (``source`` or ``simulated``)."""
    meta = dataset.meta
    flag = getattr(meta, "simulated", None)
    if isinstance(flag, bool):
        return flag
    return (meta.source or "").strip().lower() in ("simulate", "simulated", "simulation")


def _spec(protocol: Protocol, analysis_id: str) -> AnalysisSpec | None:
    try:
        return protocol.analysis_spec(analysis_id)
    except (KeyError, ValueError):
        return None


def _model_frame(
    dataset: StudyDataset, protocol: Protocol, spec: AnalysisSpec
) -> tuple[pd.DataFrame, str, str | None, str | None] | None:
    """The rows the analysis was fitted to: ``(frame, outcome, time, duration)``; ``None``
    when they cannot be derived (the analysis reports its own error)."""
    from mindtrial.analysis.errors import AnalysisError
    from mindtrial.analysis.plans.frames import model_data

    try:
        data = model_data(dataset, protocol, spec)
    except (AnalysisError, KeyError, ValueError):
        return None
    return data.frame, data.outcome, data.time, getattr(data, "duration", None)


def _risk_times(longest: float) -> list[float]:
    for step in (1, 2, 4, 8, 13, 26, 52):
        if longest / step <= 8:
            break
    return [float(step * i) for i in range(int(longest // step) + 1)]


def _survival(
    dataset: StudyDataset,
    protocol: Protocol,
    report: AnalysisReport,
    labels: dict[str, str],
) -> tuple[dict[str, list[KaplanMeier]], list[RenderedFigure]]:
    curves: dict[str, list[KaplanMeier]] = {}
    figures = []
    declared = {s.id: s.estimand.measure for s in protocol.analysis.analyses}
    for result in report.analyses:
        if result.kind != "analysis" or measure_kind(result, declared.get(result.id)) != "hazard":
            continue
        spec = _spec(protocol, result.id)
        found = None if spec is None else _model_frame(dataset, protocol, spec)
        if found is None or found[3] is None:
            continue
        frame, event, _, duration = found
        assert duration is not None
        by_arm = curves_by_group(frame, duration=duration, event=event, group="arm", labels=labels)
        if not by_arm:
            continue
        curves[result.id] = by_arm
        times = _risk_times(float(frame[duration].max()))
        at_risk = [
            number_at_risk(
                frame.loc[frame["arm"].astype(str) == c.group, duration].astype("float64").tolist(),
                times,
            )
            for c in by_arm
        ]
        figures.append(
            render(
                f"{result.id}_kaplan_meier",
                f"{result.title}: Kaplan–Meier estimate by arm",
                km_figure(
                    [Curve(c.label, c.times, c.survival, c.ci_lower, c.ci_upper) for c in by_arm],
                    at_risk_times=times,
                    at_risk=at_risk,
                    title=result.title,
                    time_label="Weeks since randomization",
                    value_label="Proportion without the event",
                ),
            )
        )
    return curves, figures


def _observed_points(frame: pd.DataFrame, outcome: str, time: str) -> list[TimePoint]:
    """Observed % with the outcome by arm and time (normal 95% CI, clipped to 0–100)."""
    points = []
    for (arm, when), rows in frame.groupby(
        [frame["arm"].astype(str), time], observed=True, sort=True
    ):
        y = rows[outcome].astype("float64").dropna()
        if len(y) == 0:
            continue
        p = float(y.mean())
        half = 1.959963984540054 * (p * (1 - p) / len(y)) ** 0.5
        points.append(
            TimePoint(
                arm=str(arm),
                time=int(float(str(when))),
                estimate=100 * p,
                ci_lower=100 * max(p - half, 0.0),
                ci_upper=100 * min(p + half, 1.0),
            )
        )
    return points


def _by_time_figures(
    dataset: StudyDataset,
    protocol: Protocol,
    report: AnalysisReport,
    order: dict[str, str],
) -> list[RenderedFigure]:
    """Observed % by time for yes/no outcomes; model-based means by time for the others."""
    figures = []
    declared = {s.id: s.estimand.measure for s in protocol.analysis.analyses}
    for result in report.analyses:
        if result.kind != "analysis":
            continue
        spec = _spec(protocol, result.id)
        if spec is None:
            continue
        kind = measure_kind(result, declared.get(result.id))
        summary = result.summary
        time = spec.time or "time"
        if kind == "percent":
            found = _model_frame(dataset, protocol, spec)
            if found is None or found[2] is None:
                continue
            frame, outcome, frame_time, _ = found
            assert frame_time is not None
            points = _observed_points(frame, outcome, frame_time)
            if len({p.time for p in points}) < 2:
                continue
            unit = frame_time if frame_time in ("week", "month", "period") else time
            figures.append(
                render(
                    f"{result.id}_by_{unit}",
                    f"{result.title}: observed percentage by {unit} and arm",
                    trajectory_figure(
                        points,
                        arm_labels=order,
                        time_label=time_label(unit),
                        value_label="Participants with the outcome (%)",
                        title=result.title,
                    ),
                )
            )
        elif summary is not None and summary.trajectory:
            figures.append(
                render(
                    f"{result.id}_by_{time}",
                    f"{result.title}: model-based mean by {time} and arm",
                    trajectory_figure(
                        summary.trajectory,
                        arm_labels=order,
                        time_label=time_label(time),
                        value_label=f"{outcome_label(spec.outcome).split(': ')[-1]}, model-based mean",
                        title=result.title,
                    ),
                )
            )
    return figures


def _abbreviation(measure: str) -> str:
    for words_, short in (
        ("hazard ratio", "HR"),
        ("odds ratio", "OR"),
        ("rate ratio", "RR"),
        ("ratio of means", "RR"),
        ("percentage points", "Diff. (points)"),
        ("change", "Diff. in change"),
    ):
        if words_ in measure:
            return short
    return "Diff."


def _forest(report: AnalysisReport, protocol: Protocol) -> RenderedFigure | None:
    rows = forest_rows(report, protocol)
    if not rows:
        return None
    panels: list[tuple[str, bool, list[ForestPoint]]] = []
    for ratio in (True, False):
        points = [
            ForestPoint(
                label=r.label,
                estimate=r.estimate,
                ci_lower=r.ci_lower,
                ci_upper=r.ci_upper,
                text=f"{_abbreviation(r.measure)} {fmt_estimate(r, 2)}",
                published=r.published,
            )
            for r in rows
            if r.ratio == ratio
        ]
        axis = (
            "Ratio (log scale; 1 = no difference)"
            if ratio
            else "Difference between arms (outcome units; 0 = no difference)"
        )
        panels.append((axis, ratio, points))
    return render(
        "forest",
        "Between-arm effects of every analysis of the plan (95% CI)",
        forest_figure(panels),
    )


def _figure_item(figure: RenderedFigure) -> dict[str, object]:
    return {"svg": Markup(_inline_svg(figure)), "title": figure.title, "name": figure.name}


def build_report(dataset: StudyDataset, protocol: Protocol, report: AnalysisReport) -> ReportBundle:
    """Tables, figures, the HTML page and the JSON results of one analysis run."""
    flow = consort_flow(dataset, protocol, report)
    labels = {a.code: a.label for a in report.arms}
    order = {report.comparison_arm: labels.get(report.comparison_arm, report.comparison_arm)}
    order[report.reference_arm] = labels.get(report.reference_arm, report.reference_arm)
    curves, km_figures = _survival(dataset, protocol, report, labels)
    effect_tables: dict[MeasureKind, pd.DataFrame] = {
        "percent": percent_table(report, protocol),
        "change": change_table(report, protocol),
        "hazard": hazard_table(report, protocol, curves),
        "rate": rate_table(report, protocol),
        "other": other_table(report, protocol),
    }
    engagement = {
        "attendance": attendance_table(dataset, protocol, report),
        "continuation": continuation_table(dataset, protocol, report),
        "home_practice": home_practice_table(dataset, report),
    }
    tables: dict[str, pd.DataFrame] = {
        "consort": consort_table(flow),
        "baseline": baseline_table(dataset, protocol, report),
        **{f"results_{k}": t for k, t in effect_tables.items() if len(t)},
        **{f"engagement_{k}": t for k, t in engagement.items() if len(t)},
        "sensitivity": sensitivity_table(report),
        "adverse_events": adverse_event_table(dataset, protocol, report),
        "coefficients": _coefficients_long(report),
    }
    consort = render("consort", "Participant flow (CONSORT)", consort_figure(flow))
    forest = _forest(report, protocol)
    by_time = _by_time_figures(dataset, protocol, report, order)
    figures = [consort, *([forest] if forest is not None else []), *km_figures, *by_time]
    masked = report.arms_masked
    title = (
        # The trial's name can be an arm's name (M-ROCC is both): a blinded report names neither.
        "Blinded analysis report" if masked else f"{protocol.short_title}: trial report"
    )
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template_text = (
        resources.files("mindtrial.report").joinpath("templates/report.html.j2").read_text("utf-8")
    )
    template = environment.from_string(template_text)
    result_sections = []
    number = 2
    declared = {s.id: s.estimand.measure for s in protocol.analysis.analyses}
    in_plan = [measure_kind(r, declared.get(r.id)) for r in report.analyses if r.kind == "analysis"]
    kinds = sorted(KIND_ORDER, key=lambda k: in_plan.index(k) if k in in_plan else len(in_plan))
    for kind in kinds:
        table = effect_tables[kind]
        if not len(table):
            continue
        result_sections.append(
            {
                "id": f"results-{kind}",
                "heading": f"Table {number}. {KIND_HEADINGS[kind]}",
                "table": html_table(table, group_first=True),
                "figures": [
                    _figure_item(f)
                    for f in (km_figures if kind == "hazard" else by_time)
                    if any(
                        f.name.startswith(f"{r.id}_")
                        for r in report.analyses
                        if r.kind == "analysis" and r.id in _ids_of(report, protocol, kind)
                    )
                ],
            }
        )
        number += 1
    details = [
        {
            "id": a.id,
            "title": a.title,
            "status": a.status,
            "formula": a.formula,
            "n_participants": a.n_participants,
            "n_observations": a.n_observations,
            "converged": a.converged,
            "error": None if a.error is None else readable(a.error, protocol),
            "warnings": [readable(w, protocol) for w in a.warnings],
            "notes": [readable(n, protocol) for n in a.summary.notes]
            if a.summary is not None
            else [],
        }
        for a in report.analyses
    ]
    html = template.render(
        title=title,
        protocol_title=protocol.title,
        protocol_version=protocol.version,
        exported_at=dataset.meta.exported_at.date().isoformat(),
        n_randomized=len(dataset.participants),
        masked=masked,
        simulated=is_simulated(dataset),
        status_rows=[
            {
                "title": a.title,
                "kind": "Sensitivity" if a.kind == "sensitivity" else "Prespecified",
                "n_participants": a.n_participants,
                "n_observations": a.n_observations,
                "status": a.status,
                "problems": readable(_problems(a), protocol),
            }
            for a in report.analyses
        ],
        consort_svg=Markup(_inline_svg(consort)),
        forest=None if forest is None else _figure_item(forest),
        has_sensitivity=bool(len(tables["sensitivity"])),
        tables={
            "consort": html_table(tables["consort"]),
            "baseline": html_table(tables["baseline"], group_first=True),
            "sensitivity": html_table(tables["sensitivity"]),
            "adverse_events": html_table(tables["adverse_events"]),
        },
        result_sections=result_sections,
        engagement={k: html_table(t, group_first=True) for k, t in engagement.items() if len(t)},
        methods=methods_paragraphs(protocol, report),
        missing_data=missing_data_paragraphs(dataset, protocol, report),
        results_text=_results_text(report, protocol),
        variation=_variation(dataset, protocol, report),
        details=details,
        versions=sorted(report.versions.items()),
        seed=report.seed,
        imputations=report.imputations,
    )
    return ReportBundle(results=to_json(report), html=html, tables=tables, figures=tuple(figures))


def _variation(
    dataset: StudyDataset, protocol: Protocol, report: AnalysisReport
) -> dict[str, object] | None:
    """The Monte-Carlo spread of each estimate, for a simulated trial's unblinded report."""
    if report.arms_masked or not is_simulated(dataset):
        return None
    from mindtrial.simulate.variation import shipped_spread

    spread = shipped_spread(protocol.id)
    if spread is None:
        return None
    rows = []
    for result in report.analyses:
        found = spread.estimates.get(result.id)
        if result.kind != "analysis" or found is None:
            continue
        contrast = None if result.summary is None else result.summary.contrast
        digits = 1 if contrast is not None and "percentage" in contrast.measure else 2
        rows.append(
            {
                "Analysis": result.title,
                "This trial": fmt(None if contrast is None else contrast.estimate, digits),
                "Simulated truth": fmt(found.truth, digits),
                "95% of simulated trials": f"{fmt(found.low, digits)} to {fmt(found.high, digits)}",
                "Significant with the scenario's effects": fmt_percent(found.power),
                "Significant with no effects": fmt_percent(found.type_i_error),
            }
        )
    if not rows:
        return None
    return {
        "table": html_table(pd.DataFrame(rows)),
        "n": spread.n,
        "reps": spread.reps,
        "seed": spread.seed,
    }


def fmt_percent(x: float | None) -> str:
    return fmt(None if x is None else 100 * x, 0) + ("%" if x is not None else "")


def _ids_of(report: AnalysisReport, protocol: Protocol, kind: MeasureKind) -> set[str]:
    declared = {s.id: s.estimand.measure for s in protocol.analysis.analyses}
    return {
        r.id
        for r in report.analyses
        if r.kind == "analysis" and measure_kind(r, declared.get(r.id)) == kind
    }


def _results_text(report: AnalysisReport, protocol: Protocol) -> list[str]:
    """One sentence per prespecified analysis, from the numbers."""
    out = []
    alpha = protocol.analysis.alpha
    for result in report.analyses:
        if result.kind != "analysis":
            continue
        summary = result.summary
        contrast = None if summary is None else summary.contrast
        if contrast is None:
            out.append(f"{result.title}: not estimable ({result.error or 'no estimate'}).")
            continue
        digits = 2 if "ratio" in contrast.measure or "change" in contrast.measure else 1
        arm_digits = 1 if summary is not None and "percent" in summary.measure else 2
        arms = (
            "; ".join(
                f"{report.arm_label(a.arm)} {fmt_estimate(a, arm_digits)}" for a in summary.arms
            )
            if summary is not None
            else ""
        )
        p = contrast.p_value
        verdict = (
            "statistically significant"
            if p is not None and p < alpha
            else "not statistically significant"
        )
        p_text = "P < .001" if p < 0.001 else f"P = {fmt(p, 3)}"
        bh = (
            f", Benjamini–Hochberg adjusted P = {fmt(contrast.bh_p_value, 3)}"
            if contrast.bh_p_value is not None
            else ""
        )
        what = "" if summary is None else summary.measure.removesuffix(" (95% CI)")
        out.append(
            f"{result.title} ({result.n_participants} participants analysed): {what}: {arms}. "
            f"The {contrast.measure} ({contrast.label}) was "
            f"{fmt_estimate(contrast, digits)}, "
            f"{p_text}{bh}; {verdict} at α = {alpha:g}."
        )
    return out


def write_report(bundle: ReportBundle, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write every file of ``bundle`` into ``out_dir``, all-or-nothing.

    The files go to a temporary folder beside ``out_dir`` that is renamed into place, so
    ``out_dir`` is either untouched or complete. An existing non-empty ``out_dir`` raises
    :class:`FileExistsError` unless ``overwrite`` (then it is replaced as a whole).
    """
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(f"{target} already exists and is not empty (use overwrite)")
    return replace_folder(target, bundle.files())
