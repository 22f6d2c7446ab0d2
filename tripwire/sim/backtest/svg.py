"""Small inline-SVG charts for the backtest report: a line (or area) over time, stacked bars,
a histogram. Pure functions of their data, returning SVG text; no plotting library, so the
report is one self-contained HTML file that opens anywhere.

Long series are reduced to at most two points per pixel column (the minimum and the maximum,
in time order), so a drawdown spike survives however many samples the hour held.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 760, 230
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 78, 16, 30, 34
PALETTE = {
    "tp": "#2ca02c",
    "sl": "#d62728",
    "open": "#1f77b4",
    "closed": "#9467bd",
    "not_filled": "#bcbd22",
    "refused": "#7f7f7f",
}


def utc_hhmm(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC).strftime("%H:%M")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks or [lo]


_TIME_STEPS_MS = [
    s * 1000
    for s in (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
]


def time_ticks(t0_ms: float, t1_ms: float, n: int = 7) -> list[float]:
    """Tick times on round clock values (every 10 min, every hour…) covering [t0, t1]."""
    span = max(t1_ms - t0_ms, 1.0)
    step = next((s for s in _TIME_STEPS_MS if span / s <= n), _TIME_STEPS_MS[-1])
    first = math.ceil(t0_ms / step) * step
    return [float(t) for t in range(int(first), int(t1_ms) + 1, int(step))]


def downsample(points: Sequence[tuple[float, float]], columns: int) -> list[tuple[float, float]]:
    """At most the min and max of each of ``columns`` time buckets, in time order."""
    if len(points) <= 2 * columns:
        return list(points)
    t0, t1 = points[0][0], points[-1][0]
    span = (t1 - t0) or 1.0
    buckets: dict[int, list[tuple[float, float]]] = {}
    for p in points:
        buckets.setdefault(min(columns - 1, int((p[0] - t0) / span * columns)), []).append(p)
    out: list[tuple[float, float]] = []
    for _, pts in sorted(buckets.items()):
        lo = min(pts, key=lambda p: p[1])
        hi = max(pts, key=lambda p: p[1])
        out.extend(sorted({lo, hi}))
    return out


def _frame(title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="{MARGIN_L}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]


def line_chart(
    points: Sequence[tuple[float, float]],
    title: str,
    *,
    y_fmt: Callable[[float], str] = lambda v: f"{v:,.2f}",
    x_fmt: Callable[[float], str] = utc_hhmm,
    area: bool = False,
    color: str = "#1f77b4",
    baseline: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """A line over time (``points`` = (x, y), x ascending); ``area`` fills down to ``baseline``
    (default the lowest value), e.g. a drawdown below zero."""
    out = _frame(title, width, height)
    if not points:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>')
        return "".join(out)
    pw, ph = width - MARGIN_L - MARGIN_R, height - MARGIN_T - MARGIN_B
    pts = downsample(points, pw)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1
    lo, hi = (
        min(ys + ([baseline] if baseline is not None else [])),
        max(ys + ([baseline] if baseline is not None else [])),
    )
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad

    def sx(x: float) -> float:
        return MARGIN_L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return MARGIN_T + (hi - y) / (hi - lo) * ph

    for t in nice_ticks(lo, hi):
        y = sy(t)
        out.append(
            f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(y_fmt(t))}</text>'
        )
    for t in time_ticks(x0, x1) if x_fmt is utc_hhmm else nice_ticks(x0, x1, 7):
        x = sx(t)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_T + ph}" y2="{MARGIN_T + ph + 4}" stroke="#888"/>'
            f'<text x="{x:.1f}" y="{MARGIN_T + ph + 16}" text-anchor="middle">{escape(x_fmt(t))}</text>'
        )
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    if area:
        base = sy(baseline if baseline is not None else min(ys))
        out.append(
            f'<polygon points="{sx(xs[0]):.1f},{base:.1f} {path} {sx(xs[-1]):.1f},{base:.1f}" '
            f'fill="{color}" fill-opacity="0.25" stroke="none"/>'
        )
    out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    out.append(f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    out.append("</svg>")
    return "".join(out)


def stacked_bars(
    categories: Sequence[str],
    series: dict[str, Sequence[int]],
    title: str,
    *,
    colors: dict[str, str] = PALETTE,
    width: int = WIDTH,
) -> str:
    """One horizontal bar per category, stacked by series (e.g. outcomes per rule), with a legend."""
    row = 24
    height = MARGIN_T + 24 + row * max(len(categories), 1) + 10
    label_w = 230
    out = _frame(title, width, height)
    pw = width - label_w - MARGIN_R - 40
    totals = [sum(series[s][i] for s in series) for i in range(len(categories))]
    top = max([*totals, 1])
    lx = label_w
    for name in series:
        out.append(
            f'<rect x="{lx}" y="26" width="10" height="10" fill="{colors.get(name, "#999")}"/>'
            f'<text x="{lx + 14}" y="35">{escape(name)}</text>'
        )
        lx += 18 + 7 * len(name) + 12
    if not categories:
        out.append(f'<text x="{label_w}" y="{MARGIN_T + 40}">no triggers</text>')
    for i, cat in enumerate(categories):
        y = MARGIN_T + 24 + i * row
        out.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(cat)}</text>')
        x = float(label_w)
        for name, values in series.items():
            v = values[i]
            if v <= 0:
                continue
            w = v / top * pw
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                f'fill="{colors.get(name, "#999")}"><title>{escape(cat)}: {v} {escape(name)}'
                f"</title></rect>"
            )
            if w >= 14:
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + 16}" text-anchor="middle" fill="#fff">{v}</text>')
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{totals[i]}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(
    values: Sequence[float],
    title: str,
    *,
    bins: int = 30,
    unit: str = "ms",
    color: str = "#ff7f0e",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Counts of ``values`` in equal-width bins (one bar when all values are equal)."""
    out = _frame(title, width, height)
    if not values:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no orders sent</text></svg>')
        return "".join(out)
    lo, hi = min(values), max(values)
    nb = 1 if hi - lo < 1e-9 else bins
    step = (hi - lo) / nb if nb > 1 else 1.0
    counts = [0] * nb
    for v in values:
        counts[min(nb - 1, int((v - lo) / step)) if nb > 1 else 0] += 1
    pw, ph = width - MARGIN_L - MARGIN_R, height - MARGIN_T - MARGIN_B
    top = max(counts)
    for t in [t for t in nice_ticks(0, top) if t == int(t)]:  # counts: whole numbers only
        y = MARGIN_T + ph - t / top * ph
        out.append(
            f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>'
        )
    bw = pw / nb
    for i, c in enumerate(counts):
        h = c / top * ph
        left = lo + i * step
        label = f"{left:,.1f}–{left + step:,.1f} {unit}" if nb > 1 else f"{lo:,.1f} {unit}"
        out.append(
            f'<rect x="{MARGIN_L + i * bw + 1:.1f}" y="{MARGIN_T + ph - h:.1f}" '
            f'width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(label)}: {c}</title></rect>"
        )
    edges = [lo, hi] if nb > 1 else [lo]
    for v in edges:
        x = MARGIN_L + (0 if v == lo else pw) if nb > 1 else MARGIN_L + pw / 2
        out.append(f'<text x="{x:.1f}" y="{MARGIN_T + ph + 16}" text-anchor="middle">{v:,.1f} {escape(unit)}</text>')
    out.append(f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    out.append("</svg>")
    return "".join(out)
