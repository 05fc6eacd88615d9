"""The audience chart, drawn on the server as SVG (docs/console.md): the size at the end of
each day as a line, and each day's entries (up) and exits (down) as bars. No chart library and
no script: the markup is built here, every text escaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP = 48, 12, 16
SIZE_H, GAP, BARS_H = 150, 30, 80


@dataclass(frozen=True)
class Day:
    day: date
    size: int
    entered: int
    exited: int


def days(history: list[dict[str, Any]], today: date, span: int) -> list[Day]:
    """Every day of the `span` days to `today`, from the history's days with a change: a quiet
    day keeps the size the day before ended with."""
    known = {date.fromisoformat(h["day"]): h for h in history}
    first = min(known, default=None)
    size = 0
    if first is not None:  # the size before the first change shown
        earliest = known[first]
        size = earliest["size"] - earliest["entered"] + earliest["exited"]
    out = []
    for i in range(span - 1, -1, -1):
        d = today - timedelta(days=i)
        h = known.get(d)
        if h is not None:
            size = h["size"]
        out.append(Day(d, size, h["entered"] if h else 0, h["exited"] if h else 0))
    return out


def svg(name: str, series: list[Day]) -> str:
    """The chart of `series` (oldest first) as one ``<svg>`` element."""
    n = max(len(series), 1)
    plot_w = WIDTH - LEFT - RIGHT
    step = plot_w / n
    top_size = max([d.size for d in series] + [1])
    top_move = max([max(d.entered, d.exited) for d in series] + [1])
    base = TOP + SIZE_H + GAP + BARS_H / 2  # the bars' zero line

    def x(i: int) -> float:
        return LEFT + step * (i + 0.5)

    points = " ".join(
        f"{x(i):.1f},{TOP + SIZE_H * (1 - d.size / top_size):.1f}" for i, d in enumerate(series)
    )
    bars = []
    half = BARS_H / 2
    width = max(step * 0.7, 1)
    for i, d in enumerate(series):
        label = f"{d.day.isoformat()}: size {d.size}, {d.entered} entered, {d.exited} exited"
        if d.entered:
            h = half * d.entered / top_move
            bars.append(
                f'<rect class="enter" x="{x(i) - width / 2:.1f}" y="{base - h:.1f}" '
                f'width="{width:.1f}" height="{h:.1f}"><title>{escape(label)}</title>'
                f"</rect>"
            )
        if d.exited:
            h = half * d.exited / top_move
            bars.append(
                f'<rect class="exit" x="{x(i) - width / 2:.1f}" y="{base:.1f}" '
                f'width="{width:.1f}" height="{h:.1f}"><title>{escape(label)}</title>'
                f"</rect>"
            )
    first = series[0].day.isoformat() if series else ""
    last = series[-1].day.isoformat() if series else ""
    described = (
        f"Audience {name}: size over the {len(series)} days from {first} to {last}, "
        f"now {series[-1].size if series else 0}, and entries and exits per day"
    )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(described)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(described)}</title>"
        f'<line class="axis" x1="{LEFT}" y1="{TOP + SIZE_H}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + SIZE_H}"/>'
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>'
        f'<text x="4" y="{TOP + 10}">{top_size}</text>'
        f'<text x="4" y="{TOP + SIZE_H}">0</text>'
        f'<text x="4" y="{base - half + 10}">+{top_move}</text>'
        f'<text x="4" y="{base + half}">-{top_move}</text>'
        f'<text x="{LEFT}" y="{HEIGHT - 4}">{escape(first)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">{escape(last)}</text>'
        f'<text x="{LEFT}" y="{TOP + SIZE_H + GAP - 8}">entries (up) and exits (down) per day'
        f"</text>"
        f'<polyline class="size" points="{points}"/>' + "".join(bars) + "</svg>"
    )
