"""A small server-rendered SVG line chart (no script, no CDN): messages per state over time.

Pure: takes the points, returns the SVG text. Colours pass 3:1 against white (WCAG 1.4.11
for graphics) and each series also has its own dash pattern, so it reads in greyscale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape

WIDTH, HEIGHT = 720, 260
SECONDS_SHOWN = 240  # a shorter time axis is labelled with seconds
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40

#: name -> (colour, dash pattern)
STYLES = {
    "sent": ("#0b6b2e", ""),
    "queued": ("#0b5394", "6 4"),
    "failed": ("#a4001d", "2 3"),
    "skipped": ("#6b4c00", "10 3 2 3"),
}


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    values: dict[str, int]


def _nice_max(n: int) -> int:
    """The smallest 4·{1, 2, 3, 5}·10^k at or above ``n``: four grid lines at whole numbers."""
    scale = 1
    while True:
        for m in (1, 2, 3, 5):
            if 4 * m * scale >= n:
                return 4 * m * scale
        scale *= 10


def line_chart(points: list[Point], *, tz: tzinfo, title: str,
               labels: dict[str, str] | None = None) -> str:
    """An SVG of each series over time; ``labels`` translates the series names."""
    labels = labels or {}
    names = [n for n in STYLES if any(n in p.values for p in points)]
    if len(points) < 2 or not names:
        return ""
    t0, t1 = points[0].at.timestamp(), points[-1].at.timestamp()
    span = max(t1 - t0, 1e-6)
    top = _nice_max(max(max(p.values.get(n, 0) for n in names) for p in points))
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + (at.timestamp() - t0) / span * w

    def y(v: int) -> float:
        return TOP + h - (v / top) * h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'role="img" aria-labelledby="chart-title" font-family="system-ui, sans-serif" '
           f'font-size="12"><title id="chart-title">{escape(title)}</title>',
           f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="#fff" '
           'stroke="#6b6b6b"/>']
    for i in range(5):
        v = top * i // 4  # exact: top is a multiple of 4
        out.append(f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   'stroke="#d5dce3"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
                   f'fill="#1b1b1b">{v:,}</text>'.replace(",", "\u202f"))
    same_day = points[0].at.astimezone(tz).date() == points[-1].at.astimezone(tz).date()
    # Seconds when minutes alone would label the axis "08:00 08:00 08:00".
    fmt = "%d/%m %H:%M" if not same_day else "%H:%M" if span >= SECONDS_SHOWN else "%H:%M:%S"
    for frac in (0.0, 0.5, 1.0):
        at = datetime.fromtimestamp(t0 + span * frac, tz)
        anchor = {0.0: "start", 0.5: "middle", 1.0: "end"}[frac]
        out.append(f'<text x="{LEFT + w * frac:.1f}" y="{TOP + h + 18}" text-anchor="{anchor}" '
                   f'fill="#1b1b1b">{at.strftime(fmt)}</text>')
    for name in names:
        colour, dash = STYLES[name]
        coords = " ".join(f"{x(p.at):.1f},{y(p.values.get(name, 0)):.1f}" for p in points)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        last = points[-1].values.get(name, 0)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                   f'stroke-width="2.5"{dash_attr}><title>{escape(labels.get(name, name))}: '
                   f'{last}</title></polyline>')
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # shown left of the bar (a link, shortened by the caller)
    value: int  # the bar's length
    note: str = ""  # shown after the value, e.g. "2 unika"


def bar_chart(bars: list[Bar], *, title: str) -> str:
    """A horizontal SVG bar per item (clicks per link), longest scale a nice round number."""
    if not bars:
        return ""
    row, label_w, value_w = 28, 260, 120
    height = TOP + row * len(bars) + BOTTOM // 2
    w = WIDTH - LEFT - label_w - value_w
    top = _nice_max(max(max(b.value for b in bars), 1))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
           f'role="img" aria-labelledby="bars-title" font-family="system-ui, sans-serif" '
           f'font-size="12"><title id="bars-title">{escape(title)}</title>']
    x0 = LEFT + label_w
    for i, b in enumerate(bars):
        y = TOP + i * row
        length = b.value / top * w
        label = b.label if len(b.label) <= 40 else b.label[:39] + "…"
        out.append(f'<text x="{x0 - 8}" y="{y + 17}" text-anchor="end" fill="#1b1b1b">'
                   f'{escape(label)}<title>{escape(b.label)}</title></text>')
        out.append(f'<rect x="{x0}" y="{y + 4}" width="{length:.1f}" height="{row - 10}" '
                   f'fill="#0b5394"><title>{escape(b.label)}: {b.value}</title></rect>')
        text = f"{b.value:,}".replace(",", "\u202f") + (f" ({b.note})" if b.note else "")
        out.append(f'<text x="{x0 + length + 6:.1f}" y="{y + 17}" fill="#1b1b1b">'
                   f'{escape(text)}</text>')
    out.append("</svg>")
    return "".join(out)
