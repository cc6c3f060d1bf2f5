"""Server-drawn inline SVG charts: no JavaScript, every number also reachable as text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 12, 34  # margins in SVG units (axis labels live there)


@dataclass(frozen=True)
class Bar:
    label: str  # shown under the bar (some of them) and in its tooltip
    value: int
    href: str  # where the bar leads (for example the dashboard for that day)
    tooltip: str


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (at least 1), for the y axis."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def bar_chart(bars: Sequence[Bar], title: str, description: str, chart_id: str = "chart") -> Markup:
    """An SVG bar chart; each bar is a link with its own <title>, the chart has <title> and <desc>."""
    top = nice_ceiling(max((b.value for b in bars), default=0))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_h
    slot = plot_w / max(1, len(bars))
    gap = min(4.0, slot * 0.2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for tick in sorted({0, top // 2, top}):
        y = base - plot_h * tick / top
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    every = max(1, math.ceil(len(bars) / 8))  # at most ~8 date labels under the axis
    for i, bar in enumerate(bars):
        x = _LEFT + i * slot
        h = plot_h * bar.value / top
        parts.append(
            f'<a href="{escape(bar.href)}" class="bar-link" aria-label="{escape(bar.tooltip)}">'
            f'<title>{escape(bar.tooltip)}</title>'
            f'<rect class="hit" x="{x:.1f}" y="{_TOP}" width="{slot:.1f}" height="{plot_h}"/>'
            f'<rect class="bar" data-value="{bar.value}" x="{x + gap / 2:.1f}" y="{base - h:.1f}" '
            f'width="{max(1.0, slot - gap):.1f}" height="{h:.1f}"/></a>')
        if i % every == 0 or (i == len(bars) - 1 and i % every >= every / 2):
            parts.append(f'<text class="axis" x="{x + slot / 2:.1f}" y="{HEIGHT - 12}" '
                         f'text-anchor="middle">{escape(bar.label)}</text>')
    parts.append(f'<line class="axis-line" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{base}" y2="{base}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
