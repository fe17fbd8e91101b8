"""Small inline SVG charts built from numbers only (no user text goes into the markup)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.safestring import SafeString, mark_safe


def sparkline(
    values: Sequence[float | None],
    *,
    maximum: float,
    width: int = 120,
    height: int = 28,
    label: str = "trend",
) -> SafeString:
    """A line through the values (gaps skipped), scaled 0..maximum, last point marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points or maximum <= 0:
        return mark_safe("")
    step = width / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return round(i * step, 1), round(height - 2 - (height - 4) * min(v, maximum) / maximum, 1)

    coords = " ".join(f"{x},{y}" for x, y in (xy(i, v) for i, v in points))
    last_x, last_y = xy(*points[-1])
    safe_label = "".join(c for c in label if c.isalnum() or c in " -.,")
    return mark_safe(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{safe_label}"><polyline fill="none" stroke="currentColor" '
        f'stroke-width="1.5" points="{coords}"/><circle cx="{last_x}" cy="{last_y}" r="2.5"/></svg>'
    )


def bars(
    values: Sequence[float],
    *,
    maximum: float = 100.0,
    width: int = 240,
    height: int = 48,
    label: str = "bars",
) -> SafeString:
    """Vertical bars (e.g. percent complete per week), each over a faint track of the full
    height, so that a bar of 0 still shows as an empty track, not as nothing."""
    if not values:
        return mark_safe("")
    gap = 2
    bar = max((width - gap * (len(values) - 1)) / len(values), 1)
    rects = []
    for i, v in enumerate(values):
        x, w = round(i * (bar + gap), 1), round(bar, 1)
        h = round((height - 2) * max(0.0, min(v, maximum)) / maximum, 1)
        rects.append(
            f'<g><title>{round(v)}</title><rect x="{x}" y="2" width="{w}" height="{height - 2}" '
            f'fill="currentColor" fill-opacity="0.12"/><rect x="{x}" y="{round(height - h, 1)}" '
            f'width="{w}" height="{h}"/></g>'
        )
    safe_label = "".join(c for c in label if c.isalnum() or c in " -.,")
    return mark_safe(
        f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{safe_label}">{"".join(rects)}</svg>'
    )
