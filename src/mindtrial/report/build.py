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

from mindtrial.analysis.plans.types import AnalysisReport, AnalysisResult
from mindtrial.atomic_files import replace_folder
from mindtrial.dataset import StudyDataset
from mindtrial.instruments import get_instrument
from mindtrial.protocols.schema import Protocol
from mindtrial.report.consort import consort_figure, consort_flow, consort_table
from mindtrial.report.figures import RenderedFigure, render, trajectory_figure
from mindtrial.report.methods import methods_paragraphs
from mindtrial.report.tables import (
    adverse_event_table,
    baseline_table,
    change_table,
    coefficient_table,
    sensitivity_table,
    substance_use_table,
)

__all__ = ["ReportBundle", "build_report", "html_table", "write_report"]

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


def html_table(frame: pd.DataFrame, *, caption: str | None = None) -> Markup:
    """A DataFrame of display text as an HTML table (escaped; numbers right-aligned)."""
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{escape(caption)}</caption>")
    parts.append(
        "<thead><tr>"
        + "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
        + "</tr></thead>"
    )
    parts.append("<tbody>")
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            text = (
                "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
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


def _outcome_label(outcome: str) -> str:
    """``ocs.mean`` → ``Opioid Craving Scale (mean)``; other outcomes as they are."""
    instrument, _, score = outcome.partition(".")
    try:
        name = get_instrument(instrument).name
    except KeyError:
        return outcome
    return f"{name} ({score.replace('_', ' ')})" if score else name


def _coefficients_long(report: AnalysisReport) -> pd.DataFrame:
    rows = [{"analysis": a.id, **c.to_json()} for a in report.analyses for c in a.coefficients]
    columns = ["analysis", "term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    return pd.DataFrame(rows, columns=columns)


def build_report(dataset: StudyDataset, protocol: Protocol, report: AnalysisReport) -> ReportBundle:
    """Tables, figures, the HTML page and the JSON results of one analysis run."""
    flow = consort_flow(dataset, protocol, report)
    tables = {
        "consort": consort_table(flow),
        "baseline": baseline_table(dataset, protocol, report),
        "substance_use": substance_use_table(report),
        "craving_anxiety": change_table(report),
        "sensitivity": sensitivity_table(report),
        "adverse_events": adverse_event_table(dataset, protocol, report),
        "coefficients": _coefficients_long(report),
    }
    figures = [render("consort", "Participant flow (CONSORT)", consort_figure(flow))]
    labels = {a.code: a.label for a in report.arms}
    order = {report.comparison_arm: labels.get(report.comparison_arm, report.comparison_arm)}
    order[report.reference_arm] = labels.get(report.reference_arm, report.reference_arm)
    trajectories = []
    for result in report.analyses:
        summary = result.summary
        if result.kind != "analysis" or summary is None or not summary.trajectory:
            continue
        spec = protocol.analysis_spec(result.id)
        time = spec.time or "time"
        title = f"{result.title}: model-based mean by {time} and arm"
        figure = render(
            f"{result.id}_by_{time}",
            title,
            trajectory_figure(
                summary.trajectory,
                arm_labels=order,
                time_label=time.capitalize(),
                value_label=_outcome_label(spec.outcome),
                title=result.title,
            ),
        )
        figures.append(figure)
        trajectories.append(figure)
    masked = report.arms_masked
    title = (
        f"{protocol.short_title} trial: blinded analysis report"
        if masked
        else f"{protocol.short_title}: trial report"
    )
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template_text = (
        resources.files("mindtrial.report").joinpath("templates/report.html.j2").read_text("utf-8")
    )
    template = environment.from_string(template_text)
    html_tables = {
        "consort": html_table(tables["consort"]),
        "baseline": html_table(tables["baseline"]),
        "substance_use": html_table(tables["substance_use"]),
        "craving_anxiety": html_table(tables["craving_anxiety"]),
        "sensitivity": html_table(tables["sensitivity"]),
        "adverse_events": html_table(tables["adverse_events"]),
    }
    details = [
        {
            "id": a.id,
            "title": a.title,
            "status": a.status,
            "formula": a.formula,
            "n_participants": a.n_participants,
            "n_observations": a.n_observations,
            "converged": a.converged,
            "error": a.error,
            "warnings": a.warnings,
            "notes": a.summary.notes if a.summary is not None else (),
            "table": html_table(coefficient_table(a)) if a.coefficients else Markup(""),
        }
        for a in report.analyses
    ]
    html = template.render(
        title=title,
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        exported_at=dataset.meta.exported_at.date().isoformat(),
        n_randomized=len(dataset.participants),
        masked=masked,
        status_rows=[
            {
                "id": a.id,
                "title": a.title,
                "model": a.model,
                "n_participants": a.n_participants,
                "n_observations": a.n_observations,
                "status": a.status,
                "problems": _problems(a),
            }
            for a in report.analyses
        ],
        consort_svg=Markup(_inline_svg(figures[0])),
        tables=html_tables,
        trajectory_figures=[
            {"svg": Markup(_inline_svg(f)), "title": f.title} for f in trajectories
        ],
        methods=methods_paragraphs(protocol, report),
        details=details,
        versions=sorted(report.versions.items()),
        seed=report.seed,
        imputations=report.imputations,
    )
    return ReportBundle(results=report.to_json(), html=html, tables=tables, figures=tuple(figures))


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
