"""The dashboards' inline SVG bars: a week with no check-in still shows its empty track."""

from __future__ import annotations

import re

from mindtrial.web.dashboards.charts import bars


def _rects(svg: str) -> list[dict[str, float]]:
    return [
        {k: float(v) for k, v in re.findall(r'(x|y|width|height)="([\d.]+)"', rect)}
        for rect in re.findall(r"<rect [^>]*>", svg)
    ]


def test_each_bar_stands_on_a_full_height_track_and_zero_is_an_empty_track() -> None:
    svg = bars([0.0, 50.0, 100.0, 130.0], width=240, height=48)
    rects = _rects(svg)
    tracks, values = rects[0::2], rects[1::2]
    # 46 px of drawing height (2 px margin); 0 %, 50 %, 100 % and an over-full 130 % (capped).
    assert [t["height"] for t in tracks] == [46, 46, 46, 46]
    assert [v["height"] for v in values] == [0, 23, 46, 46]
    assert [v["y"] for v in values] == [48, 25, 2, 2]
    assert [t["x"] for t in tracks] == [v["x"] for v in values] == [0, 60.5, 121, 181.5]
    assert re.findall(r"<title>(\d+)</title>", svg) == ["0", "50", "100", "130"]
    assert 'fill-opacity="0.12"' in svg and "<script" not in svg and "style=" not in svg


def test_no_values_no_chart() -> None:
    assert bars([]) == ""
