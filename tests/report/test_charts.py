"""The bulletin's SVG charts: labels never drawn over bars, small changes on a labelled scale."""

from __future__ import annotations

import re

from reformwatch import charts


def attrs(svg: str, cls: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w+)="([^"]*)"', m)) for m in re.findall(rf'<\w+ class="{cls}"([^>]*)>', svg)]


def test_histogram_line_labels_sit_above_every_bar_and_count():
    bins = [(i * 5.0, i * 5.0 + 5, c) for i, c in enumerate([0] * 12 + [3, 9, 20, 41, 80, 120, 250, 60])]
    svg = charts.histogram("成绩分布", bins, [(60.0, "及格线"), (90.0, "优秀线")])
    bar_tops = [float(a["y"]) for a in attrs(svg, "bar")]
    labels = [float(a["y"]) for a in attrs(svg, "line-label")]
    assert len(labels) == 2
    count_labels = min(bar_tops) - 3  # a bar's count is written just above it
    assert all(y < count_labels - 10 for y in labels)  # a 12-pixel line of text above the highest count


def test_a_small_change_is_shown_on_a_labelled_scale_with_a_zero_line():
    svg = charts.hbar("变化", [("甲厅", 0.5), ("乙局", -0.2)], min_value=-0.5, max_value=0.5, fmt=lambda v: f"{v:+.1f}")
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', svg)
    assert sorted(ticks) == ["+0.0", "+0.5", "-0.5"]  # the reader sees the scale is half a point
    assert len(attrs(svg, "zero")) == 1


def test_a_scale_from_zero_has_no_zero_line_but_its_ends_labelled():
    svg = charts.hbar("平均成绩", [("甲厅", 87.4)], max_value=100, lines=[(80.0, "总平均 80.0")])
    assert re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', svg) == ["0.0", "100.0"]
    assert attrs(svg, "zero") == [] and len(attrs(svg, "line-label")) == 1
