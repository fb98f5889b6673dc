"""Small self-contained SVG charts (no network, no plotting library) for the bulletin."""

from __future__ import annotations

from html import escape

FONT = "font-family=\"'Noto Sans CJK SC','WenQuanYi Zen Hei','Microsoft YaHei',sans-serif\""
BAR = "#3b6ea8"
BAR_ALT = "#c0504d"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="chart" {FONT} font-size="12">'
        f"<title>{escape(title)}</title>"
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def hbar(
    title: str,
    items: list[tuple[str, float]],
    *,
    max_value: float,
    fmt=lambda v: f"{v:.1f}",
    lines: list[tuple[float, str]] = (),
    min_value: float = 0.0,
) -> str:
    """Horizontal bars, one per (label, value), in the given order, on a labelled scale (its ends, and
    zero when the scale spans it, with a zero line); optional vertical reference lines, labelled above
    the bars."""
    left, right, top, row = 110, 60, 46, 20
    width = 640
    height = top + row * len(items) + 30
    span = (max_value - min_value) or 1
    plot = width - left - right

    def x(v: float) -> float:
        return left + plot * (v - min_value) / span

    body = []
    for i, (label, value) in enumerate(items):
        y = top + i * row
        x0, x1 = sorted((x(max(min_value, 0)), x(value)))
        color = BAR if value >= 0 else BAR_ALT
        body.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 0.5):.1f}" height="{row - 6}" '
            f'fill="{color}"/>'
            f'<text x="{x1 + 4:.1f}" y="{y + 14}">{escape(fmt(value))}</text>'
        )
    axis = height - 24
    body.append(f'<line class="axis" x1="{left}" x2="{left + plot}" y1="{axis}" y2="{axis}" stroke="#333"/>')
    ticks = [min_value, max_value] + ([0.0] if min_value < 0 < max_value else [])
    for v in ticks:
        body.append(
            f'<text class="tick" x="{x(v):.1f}" y="{height - 10}" text-anchor="middle" fill="#333">'
            f"{escape(fmt(v))}</text>"
        )
    if min_value < 0 < max_value:
        body.append(f'<line class="zero" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 2}" y2="{axis}" stroke="#333"/>')
    for v, label in lines:
        body.append(
            f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top - 4}" y2="{axis}" stroke="#888" '
            f'stroke-dasharray="4 3"/><text class="line-label" x="{x(v):.1f}" y="{top - 8}" text-anchor="middle" '
            f'fill="#555">{escape(label)}</text>'
        )
    return _svg(width, height, title, body)


def histogram(title: str, bins: list[tuple[float, float, int]], lines: list[tuple[float, str]]) -> str:
    """Vertical histogram of (from, to, count) bins, with reference lines (pass, excellent) labelled
    above the plot, where no bar reaches."""
    width, height, left, bottom, top = 640, 320, 50, 40, 50  # the lines' labels go above the plot
    plot_w, plot_h = width - left - 20, height - top - bottom
    lo, hi = bins[0][0], bins[-1][1]
    peak = max((c for _, _, c in bins), default=0) or 1

    def x(v: float) -> float:
        return left + plot_w * (v - lo) / ((hi - lo) or 1)

    body = [f'<line x1="{left}" x2="{width - 20}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#333"/>']
    for a, b, c in bins:
        h = plot_h * c / peak
        body.append(
            f'<rect class="bar" x="{x(a) + 1:.1f}" y="{top + plot_h - h:.1f}" width="{x(b) - x(a) - 2:.1f}" '
            f'height="{h:.1f}" fill="{BAR}"><title>{a:g}-{b:g}: {c}</title></rect>'
        )
        if c:
            body.append(
                f'<text x="{(x(a) + x(b)) / 2:.1f}" y="{top + plot_h - h - 3:.1f}" '
                f'text-anchor="middle" font-size="10">{c}</text>'
            )
    for v in (lo, (lo + hi) / 2, hi):
        body.append(f'<text x="{x(v):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{v:g}</text>')
    for v, label in lines:
        body.append(
            f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top}" y2="{top + plot_h}" stroke="{BAR_ALT}" '
            f'stroke-dasharray="5 3"/><text class="line-label" x="{x(v):.1f}" y="{top - 18}" text-anchor="middle" '
            f'fill="{BAR_ALT}">{escape(label)}</text>'
        )
    return _svg(width, height, title, body)
