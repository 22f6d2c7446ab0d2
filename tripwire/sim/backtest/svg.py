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


# fill markers by the kind of order that filled (quotes, a trigger's entry, the coin's stop and
# take-profit, anything else)
FILL_COLORS = {"bid": "#1f77b4", "ask": "#1f77b4", "entry": "#ff7f0e", "tp": "#2ca02c", "sl": "#d62728"}


def price_chart(
    mid: Sequence[tuple[float, float]],
    bids: Sequence[tuple[float, float | None]],
    asks: Sequence[tuple[float, float | None]],
    fills: Sequence[tuple[float, float, bool, str]],
    inventory: Sequence[tuple[float, float]],
    title: str,
    *,
    width: int = WIDTH,
    height: int = 380,
) -> str:
    """The market and our orders on one time axis: the mid (grey), the resting bid and ask
    quotes (blue, broken where none rested), fills (▲ buy, ▼ sell, coloured by the order that
    filled: quote, entry, take-profit, stop), and below it the position (inventory) with its
    zero line. ``fills`` = (time, price, is_buy, leg name)."""
    out = _frame(title, width, height)
    if not mid:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>')
        return "".join(out)
    pw = width - MARGIN_L - MARGIN_R
    ph_price = int((height - MARGIN_T - MARGIN_B) * 0.68)
    gap = 14
    ph_inv = height - MARGIN_T - MARGIN_B - ph_price - gap
    inv_top = MARGIN_T + ph_price + gap
    pts = downsample(mid, pw)
    x0 = pts[0][0]
    x1 = max(pts[-1][0], x0 + 1)
    quote_pxs = [p for _, p in (*bids, *asks) if p is not None]
    ys = [p[1] for p in pts] + quote_pxs + [f[1] for f in fills]
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad

    def sx(x: float) -> float:
        return MARGIN_L + (min(max(x, x0), x1) - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return MARGIN_T + (hi - y) / (hi - lo) * ph_price

    for t in nice_ticks(lo, hi):
        y = sy(t)
        out.append(
            f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end">{t:,.1f}</text>'
        )
    out.append(
        f'<polyline points="{" ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)}" fill="none" '
        'stroke="#999" stroke-width="1"/>'
    )
    for series in (bids, asks):
        for run in _runs(series, pw, x0, x1):
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in run)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="1" stroke-opacity="0.7"/>'
            )
    for t, px, is_buy, leg in fills:
        x, y = sx(t), sy(px)
        d = 4.5
        tri = (
            f"{x:.1f},{y - d:.1f} {x - d:.1f},{y + d:.1f} {x + d:.1f},{y + d:.1f}"
            if is_buy
            else f"{x:.1f},{y + d:.1f} {x - d:.1f},{y - d:.1f} {x + d:.1f},{y - d:.1f}"
        )
        out.append(
            f'<polygon points="{tri}" fill="{FILL_COLORS.get(leg, "#9467bd")}" stroke="#333" stroke-width="0.5"/>'
        )
    out.append(f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{pw}" height="{ph_price}" fill="none" stroke="#888"/>')
    # inventory
    inv = downsample(inventory, pw) if inventory else [(x0, 0.0), (x1, 0.0)]
    ivs = [v for _, v in inv] + [0.0]
    ilo, ihi = min(ivs), max(ivs)
    if ihi - ilo < 1e-12:
        ilo, ihi = ilo - 1, ihi + 1

    def iy(v: float) -> float:
        return inv_top + (ihi - v) / (ihi - ilo) * ph_inv

    out.append(
        f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{iy(0):.1f}" y2="{iy(0):.1f}" stroke="#bbb" stroke-dasharray="3,3"/>'
        f'<text x="{MARGIN_L - 6}" y="{iy(ihi) + 9:.1f}" text-anchor="end">{ihi:+.4g}</text>'
        f'<text x="{MARGIN_L - 6}" y="{iy(ilo):.1f}" text-anchor="end">{ilo:+.4g}</text>'
        f'<text x="{MARGIN_L + 4}" y="{inv_top + 10}" fill="#555">position</text>'
    )
    # a step line: the position holds until the next change
    steps = []
    for i, (x, v) in enumerate(inv):
        if i:
            steps.append(f"{sx(x):.1f},{iy(inv[i - 1][1]):.1f}")
        steps.append(f"{sx(x):.1f},{iy(v):.1f}")
    out.append(f'<polyline points="{" ".join(steps)}" fill="none" stroke="#ff7f0e" stroke-width="1.5"/>')
    out.append(f'<rect x="{MARGIN_L}" y="{inv_top}" width="{pw}" height="{ph_inv}" fill="none" stroke="#888"/>')
    for t in time_ticks(x0, x1):
        x = sx(t)
        base = inv_top + ph_inv
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="#888"/>'
            f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{utc_hhmm(t)}</text>'
        )
    legend = [
        ("#999", "mid"),
        ("#1f77b4", "quotes / quote fills"),
        *((FILL_COLORS[k], n) for k, n in (("entry", "entry"), ("tp", "take-profit"), ("sl", "stop"))),
    ]
    lx = MARGIN_L + 260
    for color, name in legend:
        out.append(
            f'<rect x="{lx}" y="9" width="10" height="10" fill="{color}"/><text x="{lx + 14}" y="18">{escape(name)}</text>'
        )
        lx += 14 + 7 * len(name) + 12
    out.append("</svg>")
    return "".join(out)


def _runs(
    series: Sequence[tuple[float, float | None]], columns: int, x0: float, x1: float
) -> list[list[tuple[float, float]]]:
    """Unbroken stretches of a price that may be absent (None: no order resting), each
    thinned to about one point per pixel column (the last in each)."""
    runs: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    last_col = None
    span = (x1 - x0) or 1.0
    for t, px in series:
        if px is None:
            if cur:
                runs.append(cur)
            cur, last_col = [], None
            continue
        col = int((t - x0) / span * columns)
        if cur and col == last_col:
            cur[-1] = (t, px)
        else:
            cur.append((t, px))
        last_col = col
    if cur:
        runs.append(cur)
    return runs
