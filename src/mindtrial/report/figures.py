"""Figures of the trial report, drawn with matplotlib's object API (no pyplot, no display).

Each figure function returns a :class:`matplotlib.figure.Figure`; :func:`render` turns it into
deterministic SVG text and PNG bytes (no timestamps, fixed SVG ids) so that two runs with the
same seed write identical files.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import matplotlib
import matplotlib.ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from mindtrial.analysis.results import TimePoint

_COLOURS = ("#1f5f99", "#c8553d", "#4c8b3a", "#7b4ea3")
_MARKERS = ("o", "s", "^", "D")


@dataclass(frozen=True)
class RenderedFigure:
    """A figure as files: ``svg`` (text, also inlined in the HTML report) and ``png``."""

    name: str
    title: str
    svg: str
    png: bytes


def render(name: str, title: str, figure: Figure, *, dpi: int = 150) -> RenderedFigure:
    """SVG text and PNG bytes of ``figure`` (deterministic: no dates, fixed id salt)."""
    FigureCanvasAgg(figure)
    # Text stays text (searchable, selectable); ids are salted by figure name so several
    # figures can be inlined in one HTML page without clashing.
    with matplotlib.rc_context({"svg.hashsalt": f"mindtrial-{name}", "svg.fonttype": "none"}):
        svg_buffer = io.StringIO()
        figure.savefig(svg_buffer, format="svg", metadata={"Date": None})
    png_buffer = io.BytesIO()
    figure.savefig(png_buffer, format="png", dpi=dpi, metadata={"Software": None})
    return RenderedFigure(
        name=name, title=title, svg=svg_buffer.getvalue(), png=png_buffer.getvalue()
    )


def trajectory_figure(
    points: Sequence[TimePoint],
    *,
    arm_labels: Mapping[str, str],
    time_label: str,
    value_label: str,
    title: str,
) -> Figure:
    """Model-based mean by time and arm with 95% confidence intervals (error bars).

    Arms are drawn in the order of ``arm_labels``, each slightly offset in time so the
    intervals do not hide each other.
    """
    figure = Figure(figsize=(7.0, 4.2))
    ax = figure.add_subplot(1, 1, 1)
    arms = list(arm_labels)
    times = sorted({p.time for p in points})
    span = (max(times) - min(times)) if len(times) > 1 else 1.0
    offset = span * 0.006
    for i, arm in enumerate(arms):
        rows = sorted((p for p in points if p.arm == arm), key=lambda p: p.time)
        if not rows:
            continue
        x = [p.time + (i - (len(arms) - 1) / 2) * offset for p in rows]
        y = [p.estimate for p in rows]
        low = [p.estimate - p.ci_lower for p in rows]
        high = [p.ci_upper - p.estimate for p in rows]
        ax.errorbar(
            x,
            y,
            yerr=[low, high],
            label=arm_labels[arm],
            color=_COLOURS[i % len(_COLOURS)],
            marker=_MARKERS[i % len(_MARKERS)],
            markersize=4,
            linewidth=1.4,
            capsize=2.5,
        )
    ax.set_xlabel(time_label)
    ax.set_ylabel(value_label)
    ax.set_title(title, fontsize=11)
    if len(times) <= 13:
        ax.set_xticks(times)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=9)
    figure.tight_layout()
    return figure


@dataclass(frozen=True)
class FlowBox:
    """One box of a flow diagram: ``lines`` of text at centre ``(x, y)`` in axis units 0-1."""

    key: str
    x: float
    y: float
    lines: tuple[str, ...]
    width: float = 0.3


def flow_figure(
    boxes: Sequence[FlowBox],
    arrows: Sequence[tuple[str, str, Literal["down", "side"]]],
    *,
    height: float = 9.0,
) -> Figure:
    """A box-and-arrow diagram (the CONSORT flow). ``"down"`` arrows join the bottom of one
    box to the top of the next; ``"side"`` arrows leave the vertical line below a box for the
    left edge of a box on its right (the exclusion boxes)."""
    figure = Figure(figsize=(8.5, height))
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    line_height = 0.022 * 9.0 / height
    extents: dict[str, tuple[float, float, float, float]] = {}
    for box in boxes:
        h = line_height * len(box.lines) + 0.02
        left, bottom = box.x - box.width / 2, box.y - h / 2
        ax.add_patch(
            FancyBboxPatch(
                (left, bottom),
                box.width,
                h,
                boxstyle="round,pad=0.004,rounding_size=0.006",
                linewidth=1.0,
                edgecolor="#333333",
                facecolor="#f7f7f7",
            )
        )
        ax.text(
            box.x,
            box.y,
            "\n".join(box.lines),
            ha="center",
            va="center",
            fontsize=8.5,
            linespacing=1.35,
        )
        extents[box.key] = (left, bottom, left + box.width, bottom + h)
    for start, end, kind in arrows:
        a, b = extents[start], extents[end]
        a_x = (a[0] + a[2]) / 2
        b_x, b_y = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        if kind == "side":
            # off the vertical line below ``start`` to the left edge of ``end``
            tail, head = (a_x, b_y), (b[0], b_y)
        else:
            tail = (b_x if a[0] <= b_x <= a[2] else a_x, a[1])
            head = (b_x, b[3])
        ax.add_patch(
            FancyArrowPatch(
                tail, head, arrowstyle="-|>", mutation_scale=10, linewidth=1.0, color="#333333"
            )
        )
    return figure


@dataclass(frozen=True)
class ForestPoint:
    """One row of a forest plot: an estimate with its 95% CI (and the published value)."""

    label: str
    estimate: float
    ci_lower: float
    ci_upper: float
    text: str
    published: float | None = None


def forest_figure(panels: Sequence[tuple[str, bool, Sequence[ForestPoint]]]) -> Figure:
    """A forest plot with one panel per scale: ``(axis label, log scale, points)``. Ratio
    panels are drawn on a log axis with the line of no effect at 1, differences at 0.
    Published values are open diamonds."""
    panels = [p for p in panels if p[2]]
    heights = [max(len(points), 1) + 1.2 for _, _, points in panels]
    figure = Figure(figsize=(8.5, 0.42 * sum(heights) + 0.6))
    if not panels:
        return figure
    grid = figure.add_gridspec(len(panels), 1, height_ratios=heights)
    for index, (axis_label, log, points) in enumerate(panels):
        ax = figure.add_subplot(grid[index, 0])
        y = list(range(len(points), 0, -1))
        for row, point in zip(y, points, strict=True):
            ax.plot([point.ci_lower, point.ci_upper], [row, row], color=_COLOURS[0], linewidth=1.6)
            ax.plot([point.estimate], [row], marker="s", color=_COLOURS[0], markersize=6)
            if point.published is not None:
                ax.plot(
                    [point.published],
                    [row],
                    marker="D",
                    markerfacecolor="none",
                    markeredgecolor=_COLOURS[1],
                    markersize=6,
                    linestyle="none",
                )
        ax.axvline(1.0 if log else 0.0, color="#777777", linewidth=0.8, linestyle="--")
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_yticks(y)
        ax.set_yticklabels([p.label for p in points], fontsize=8.5)
        ax.set_ylim(0.4, len(points) + 0.6)
        ax.set_xlabel(axis_label, fontsize=9)
        for row, point in zip(y, points, strict=True):
            ax.annotate(
                point.text,
                xy=(1.02, row),
                xycoords=("axes fraction", "data"),
                fontsize=8,
                va="center",
            )
        ax.spines[["top", "right"]].set_visible(False)
    legend_ax = figure.axes[0]
    legend_ax.plot([], [], marker="s", color=_COLOURS[0], linestyle="none", label="This analysis")
    if any(p.published is not None for _, _, points in panels for p in points):
        legend_ax.plot(
            [],
            [],
            marker="D",
            markerfacecolor="none",
            markeredgecolor=_COLOURS[1],
            linestyle="none",
            label="Published",
        )
    legend_ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    figure.subplots_adjust(left=0.34, right=0.72, top=0.93, bottom=0.08, hspace=0.9)
    return figure


@dataclass(frozen=True)
class Curve:
    """A step curve (Kaplan–Meier) of one arm."""

    label: str
    times: Sequence[float]
    values: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]


def km_figure(
    curves: Sequence[Curve],
    *,
    at_risk_times: Sequence[float],
    at_risk: Sequence[Sequence[int]],
    title: str,
    time_label: str,
    value_label: str,
) -> Figure:
    """Kaplan–Meier curves (steps with shaded 95% CI) and the numbers at risk below."""
    figure = Figure(figsize=(7.0, 4.8))
    grid = figure.add_gridspec(2, 1, height_ratios=[4.0, 0.35 + 0.3 * len(curves)], hspace=0.45)
    ax = figure.add_subplot(grid[0, 0])
    for i, curve in enumerate(curves):
        colour = _COLOURS[i % len(_COLOURS)]
        ax.step(
            curve.times, curve.values, where="post", color=colour, linewidth=1.6, label=curve.label
        )
        ax.fill_between(
            curve.times,
            curve.lower,
            curve.upper,
            step="post",
            color=colour,
            alpha=0.12,
            linewidth=0,
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, max(at_risk_times) if at_risk_times else None)
    ax.set_xticks(list(at_risk_times))
    ax.set_xlabel(time_label)
    ax.set_ylabel(value_label)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=9, loc="lower left")
    table = figure.add_subplot(grid[1, 0], sharex=ax)
    table.set_ylim(-0.5, len(curves) - 0.5)
    table.axis("off")
    table.text(0.0, 1.15, "Number at risk", transform=table.transAxes, fontsize=8.5, weight="bold")
    for i, (curve, counts) in enumerate(zip(curves, at_risk, strict=True)):
        row = len(curves) - 1 - i
        colour = _COLOURS[i % len(_COLOURS)]
        for t, n in zip(at_risk_times, counts, strict=True):
            table.text(t, row, str(n), ha="center", va="center", fontsize=8.5, color=colour)
        table.text(
            -0.09,
            (row + 0.5) / len(curves),
            curve.label,
            transform=table.transAxes,
            ha="right",
            va="center",
            fontsize=8.5,
            color=colour,
        )
    figure.subplots_adjust(left=0.3, right=0.97, top=0.93, bottom=0.06)
    return figure


def observed_by_time_figure(
    points: Sequence[TimePoint],
    *,
    arm_labels: Mapping[str, str],
    time_label: str,
    value_label: str,
    title: str,
) -> Figure:
    """Observed percentage by time and arm (with 95% CI), e.g. the primary outcome by period."""
    return trajectory_figure(
        points, arm_labels=arm_labels, time_label=time_label, value_label=value_label, title=title
    )
