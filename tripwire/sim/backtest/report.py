"""What a backtest produced: a JSON summary and a single-file HTML report with inline SVG plots.

Every money figure comes from the simulator's own account (balance, positions, marks,
funding records) or from the fills it reported; USD amounts are rounded to 6 decimals, as the
exchange's API reports them. ``pnl_usd`` is the account's equity change, nothing else:
``equity_end_usd − equity_start_usd``, with open positions at the last mark.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import orjson

from tripwire.sim.backtest import svg
from tripwire.sim.backtest.engine import BacktestResult
from tripwire.sim.backtest.ledger import OUTCOMES, TriggerRecord
from tripwire.sim.exchange.wire import USD_QUANTUM, ZERO

SCHEMA_VERSION = 1
JSON_NAME, HTML_NAME = "summary.json", "report.html"


def usd(d: Decimal) -> float:
    return float(d.quantize(USD_QUANTUM))


def _percentile(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


def drawdown_series(equity: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Equity minus its running peak (≤ 0), per sample."""
    out, peak = [], float("-inf")
    for t, eq in equity:
        peak = max(peak, eq)
        out.append((t, eq - peak))
    return out


def max_drawdown(equity: list[tuple[int, float]]) -> tuple[float, float]:
    """(largest drop from a running peak in USD, largest such drop in % of that peak)."""
    worst_usd = worst_pct = 0.0
    peak = float("-inf")
    for _, eq in equity:
        peak = max(peak, eq)
        worst_usd = max(worst_usd, peak - eq)
        if peak > 0:
            worst_pct = max(worst_pct, (peak - eq) / peak * 100.0)
    return worst_usd, worst_pct


def _rule_stats(recs: list[TriggerRecord], marks: dict[str, Decimal]) -> dict[str, Any]:
    filled = [r for r in recs if r.filled]
    pnls = {r.trigger_id: r.pnl(marks) for r in recs}
    wins = sum(1 for r in filled if pnls[r.trigger_id] > 0)
    outcomes = {o: 0 for o in OUTCOMES}
    for r in recs:
        outcomes[r.outcome()] += 1
    return {
        "triggers": len(recs),
        "refused": outcomes["refused"],
        "filled": len(filled),
        "not_filled": outcomes["not_filled"],
        "tp_hits": sum(1 for r in recs if r.tp_hit),
        "sl_hits": sum(1 for r in recs if r.sl_hit),
        "open_at_end": outcomes["open"],
        "outcomes": outcomes,
        "win_rate": round(wins / len(filled), 4) if filled else None,
        "pnl_usd": usd(sum(pnls.values(), ZERO)),
        "fees_usd": usd(sum((r.fees for r in recs), ZERO)),
    }


def summarize(r: BacktestResult) -> dict[str, Any]:
    acct = r.account
    marks = r.engine.marks
    equity_end = acct.account_value(marks)
    pnl = equity_end - r.equity_start
    funding = sum((Decimal(f["usdc"]) for f in acct.funding), ZERO)
    records = list(r.records.values())
    by_rule: dict[str, list[TriggerRecord]] = {}
    for rec in records:
        by_rule.setdefault(rec.rule, []).append(rec)
    triggers = [rec for rec in records if not rec.pseudo]
    overall = _rule_stats(triggers, marks)
    equity = [(r.first_ms, float(r.equity_start)), *r.equity_series]
    dd_usd, dd_pct = max_drawdown(equity)
    lat = r.latencies_ms
    return {
        "schema": SCHEMA_VERSION,
        "files": r.files,
        "seed": r.config.seed,
        "synthetic": r.config.synthetic,
        "latency": r.config.latency.describe(),
        "queue_model": r.config.queue.name if r.config.queue is not None else "none",
        "account": r.user,
        "equity_start_usd": usd(r.equity_start),
        "equity_end_usd": usd(equity_end),
        "pnl_usd": usd(pnl),
        "return_pct": round(float(pnl / r.equity_start * 100), 6) if r.equity_start else None,
        "realized_usd": usd(acct.balance - r.equity_start),
        "unrealized_usd": usd(acct.unrealized(marks)),
        "fees_usd": usd(r.fees_paid - r.rebates),
        "fees_paid_usd": usd(r.fees_paid),
        "rebates_usd": usd(r.rebates),
        "funding_usd": usd(funding),
        "max_drawdown_usd": round(dd_usd, 6),
        "max_drawdown_pct": round(dd_pct, 6),
        "triggers": overall["triggers"],
        "filled": overall["filled"],
        "win_rate": overall["win_rate"],
        "tp_hits": overall["tp_hits"],
        "sl_hits": overall["sl_hits"],
        "open_at_end": overall["open_at_end"],
        "positions_at_end": {c: str(p.szi) for c, p in acct.positions.items()},
        "marks_at_end": {c: str(m) for c, m in marks.items()},
        "per_rule": {rule: _rule_stats(recs, marks) for rule, recs in sorted(by_rule.items())},
        "orders": {
            "actions_sent": len(lat),
            "fills": len(acct.fills),
            "exchange_rejections": sum(len(rec.rejected) for rec in records),
            "risk_refusals": r.risk_refusals,
            "unattributed_fills": r.unattributed_fills,
        },
        "breaker_trips": r.trips,
        "exits": exits_summary(r),
        "quoting": quoting_summary(r),
        "latency_ms": {
            "count": len(lat),
            "mean": round(sum(lat) / len(lat), 3) if lat else None,
            "p50": _percentile(lat, 50),
            "p99": _percentile(lat, 99),
            "max": max(lat) if lat else None,
        },
        "replay": {
            "messages": r.messages,
            "messages_total": sum(r.messages.values()),
            "exchange_span_s": round(r.exchange_span_s, 3),
            "wall_s": round(r.wall_s, 3),
            "speed_x_realtime": round(r.exchange_span_s / r.wall_s, 1) if r.wall_s else None,
            "untradable": r.untradable,
            "bad_market_messages": r.bad_market_messages,
            "sources": r.sources,
            "synthetic": r.synthetic,
        },
        "trigger_list": [
            {
                "trigger_id": rec.trigger_id,
                "rule": rec.rule,
                "coin": rec.coin,
                "side": rec.side,
                "fired_ms": rec.fired_ms,
                "outcome": rec.outcome(),
                "entry_filled": str(rec.entry_filled),
                "positions_at_end": {c: str(v) for c, v in rec.positions.items() if v != 0},
                "pnl_usd": usd(rec.pnl(marks)),
                "fees_usd": usd(rec.fees),
                "latency_ms": [round(x, 3) for x in rec.latency_ms],
                "refusals": rec.refusals,
                "rejected": rec.rejected,
                "not_modelled": rec.not_modelled,
                "done_ms": rec.done_ms,
                "done_reason": rec.done_reason,
            }
            for rec in records
        ],
    }


# -- HTML --------------------------------------------------------------------------------------

_CSS = """body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.neg{color:#c00}.pos{color:#080}
.kpi td{min-width:120px}.note{color:#666;font-size:12px}"""


def _money(x: float | None) -> str:
    if x is None:
        return "–"
    cls = "neg" if x < 0 else "pos" if x > 0 else ""
    return f'<span class="{cls}">{x:,.2f}</span>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(s: dict[str, Any], r: BacktestResult) -> str:
    """The report page: headline figures, the four plots, per-rule and per-trigger tables."""
    equity = [(r.first_ms, float(r.equity_start)), *r.equity_series]
    rules = list(s["per_rule"])
    outcome_series = {o: [s["per_rule"][rule]["outcomes"][o] for rule in rules] for o in OUTCOMES}
    lat = s["latency"]
    lat_text = ", ".join(f"{k} {v}" for k, v in lat.items())
    win = s["win_rate"]
    kpis = [
        ("PnL (USD)", _money(s["pnl_usd"])),
        ("return", f"{s['return_pct']:.4f} %"),
        ("equity start → end", f"{s['equity_start_usd']:,.2f} → {s['equity_end_usd']:,.2f}"),
        ("realized / unrealized", f"{_money(s['realized_usd'])} / {_money(s['unrealized_usd'])}"),
        (
            "fees / rebates / funding",
            f"{_money(-s['fees_paid_usd'])} / {_money(s['rebates_usd'])} / {_money(s['funding_usd'])}",
        ),
        ("max drawdown", f"{s['max_drawdown_usd']:,.2f} USD ({s['max_drawdown_pct']:.4f} %)"),
        ("triggers / filled", f"{s['triggers']} / {s['filled']}"),
        ("win rate (filled)", "–" if win is None else f"{win:.0%}"),
        ("TP / SL hits / open at end", f"{s['tp_hits']} / {s['sl_hits']} / {s['open_at_end']}"),
        (
            "replay",
            f"{s['replay']['exchange_span_s']:,.0f} s of market in {s['replay']['wall_s']:.2f} s "
            f"({s['replay']['speed_x_realtime'] or 0:,.0f}× real time)",
        ),
    ]
    rule_rows = [
        [
            escape(rule),
            str(v["triggers"]),
            str(v["refused"]),
            str(v["filled"]),
            str(v["tp_hits"]),
            str(v["sl_hits"]),
            str(v["open_at_end"]),
            "–" if v["win_rate"] is None else f"{v['win_rate']:.0%}",
            _money(-v["fees_usd"]),
            _money(v["pnl_usd"]),
        ]
        for rule, v in s["per_rule"].items()
    ]
    trig_rows = [
        [
            escape(t["trigger_id"]),
            escape(t["side"]),
            svg.utc_hhmm(t["fired_ms"]) + " UTC",
            escape(t["outcome"]),
            escape(t["entry_filled"]),
            ", ".join(f"{x:g}" for x in t["latency_ms"]),
            _money(t["pnl_usd"]),
            escape("; ".join(t["refusals"] + t["rejected"])),
        ]
        for t in s["trigger_list"]
    ]
    trips = (
        "".join(
            f"<li>{svg.utc_hhmm(t['time_ms'])} UTC: {escape(t['breaker'])} → {escape(t['action'])} "
            f"({escape(t['detail'])})</li>"
            for t in s["breaker_trips"]
        )
        or "<li>none</li>"
    )
    return "".join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            "<title>tripwire backtest</title>",
            f"<style>{_CSS}</style></head><body>",
            "<h1>tripwire backtest</h1>",
            f'<p class="note">{escape(", ".join(s["files"]))}; seed {s["seed"]}; synthetic '
            f"{'on' if s['synthetic'] else 'off'}; latency {escape(lat_text)}; account {escape(s['account'])}</p>",
            '<table class="kpi">' + "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in kpis) + "</table>",
            _comparison_html(s),
            "<h2>Equity</h2>",
            svg.line_chart(equity, "Equity (USD, open positions at the mark)"),
            _price_charts(r),
            "<h2>Drawdown</h2>",
            svg.line_chart(
                drawdown_series(equity), "Drawdown from running peak (USD)", area=True, color="#d62728", baseline=0.0
            ),
            "<h2>Trigger outcomes by rule</h2>",
            svg.stacked_bars(rules, outcome_series, "Outcomes per rule"),
            "<h2>Order latency</h2>",
            svg.histogram(r.latencies_ms, "Modelled latency per action sent (ms)"),
            _exits_html(s["exits"]),
            "<h2>Per rule</h2>",
            _table(
                [
                    "rule",
                    "triggers",
                    "refused",
                    "filled",
                    "TP hits",
                    "SL hits",
                    "open at end",
                    "win rate",
                    "fees",
                    "PnL",
                ],
                rule_rows,
            ),
            "<h2>Triggers</h2>",
            _table(
                ["trigger", "side", "fired", "outcome", "entry filled", "latency ms", "PnL", "refusals / rejections"],
                trig_rows,
            ),
            f"<h2>Breaker trips</h2><ul>{trips}</ul>",
            '<p class="note">The account nets every trigger on a coin, as the exchange does: a '
            "trigger against the open position is refused, a same-side one adds, and the coin's one "
            "stop and take-profit (sized to the net position) close the triggers' positions oldest "
            "first. A trigger's PnL is its booked cash flow + its position at the last mark − its "
            "fees (a shared stop's split in proportion); outcome <i>closed</i> = closed by a "
            "breaker's flatten or a hedge. Funding is charged on the netted position and shown "
            "apart.</p>",
            "</body></html>",
        ]
    )


_LEG_NAMES = {"entry": "entry", "tp": "take-profit", "sl": "stop", "limit": "limit", "hedge": "hedge"}


def exits_summary(r: BacktestResult) -> dict[str, Any]:
    """Fees by kind of order and by liquidity (from the fills): a take-profit resting as a maker
    order pays the maker fee, one sent as a trigger (why: ``tp_fallbacks``) the taker's."""
    rows = [
        {
            "leg": leg,
            "liquidity": liquidity,
            "fills": int(n),
            "notional_usd": usd(notional),
            "fees_usd": usd(fees),
            "fee_bps": round(float(fees / notional * 10_000), 4) if notional else None,
        }
        for (leg, liquidity), (n, notional, fees) in sorted(r.by_leg.items())
    ]
    return {
        "by_order": rows,
        "maker_bps": round(float(r.config.fees.maker * 10_000), 4),
        "taker_bps": round(float(r.config.fees.taker * 10_000), 4),
        "tp_fallbacks": dict(sorted(r.tp_fallbacks.items())),
    }


def _exits_html(e: dict[str, Any]) -> str:
    rows = [
        [
            escape(_LEG_NAMES.get(row["leg"], row["leg"])),
            escape(row["liquidity"]),
            str(row["fills"]),
            f"{row['notional_usd']:,.2f}",
            _money(-row["fees_usd"]),
            "–" if row["fee_bps"] is None else f"{row['fee_bps']:.2f}",
        ]
        for row in e["by_order"]
    ]
    fallbacks = ", ".join(f"{escape(k)} ×{v}" for k, v in e["tp_fallbacks"].items()) or "none"
    return "".join(
        [
            "<h2>Fees by order</h2>",
            _table(["order", "liquidity", "fills", "notional (USD)", "fees", "bps"], rows)
            if rows
            else "<p>no fills</p>",
            f'<p class="note">Maker {e["maker_bps"]:g} bps, taker {e["taker_bps"]:g} bps. A take-profit rests '
            "as a reduce-only post-only order once its position is open, so a hit is a maker fill; "
            f"take-profits sent as trigger orders instead (they exit as takers): {fallbacks}.</p>",
        ]
    )


def _price_charts(r: BacktestResult) -> str:
    """Per coin: the mid, the resting quotes, every fill and the position (inline SVG)."""
    parts = []
    for coin, c in sorted(r.chart.items()):
        if not c.mid:
            continue
        parts.append(f"<h2>{escape(coin)}: price, quotes, fills and position</h2>")
        parts.append(svg.price_chart(c.mid, c.bid, c.ask, c.fills, c.position, f"{coin} mid, our orders and position"))
    return "".join(parts)


def quoting_summary(r: BacktestResult) -> dict[str, Any] | None:
    """What the quoting strategy did and earned (its pseudo-trigger ``quote.<coin>`` records:
    their fills, fees and PnL with the inventory at the last mark), or None without quoting."""
    if r.quoting is None:
        return None
    recs = [rec for rec in r.records.values() if rec.pseudo and rec.rule == "quoting"]
    marks = r.engine.marks
    return {
        **r.quoting,
        "fills": sum(rec.fills for rec in recs),
        "fees_usd": usd(sum((rec.fees for rec in recs), ZERO)),
        "pnl_usd": usd(sum((rec.pnl(marks) for rec in recs), ZERO)),
        "inventory_at_end": {c: str(sz) for rec in recs for c, sz in rec.positions.items() if sz},
    }


COMPARED = ("pnl_usd", "fees_paid_usd", "rebates_usd", "funding_usd", "max_drawdown_usd", "filled")


def compare(baseline: dict[str, Any], quoting: dict[str, Any]) -> dict[str, Any]:
    """The same hour with the rules alone and with the rules and quoting, side by side."""
    rows = {"no_quoting": {k: baseline[k] for k in COMPARED}, "quoting": {k: quoting[k] for k in COMPARED}}
    rows["no_quoting"]["fills"] = baseline["orders"]["fills"]
    rows["quoting"]["fills"] = quoting["orders"]["fills"]
    rows["quoting"]["quoting_pnl_usd"] = quoting["quoting"]["pnl_usd"] if quoting.get("quoting") else None
    return rows


def compared_row(s: dict[str, Any]) -> dict[str, Any]:
    """One more quoting run's row of the comparison (with its γ policy's decisions, if any)."""
    row = {k: s[k] for k in COMPARED}
    row["fills"] = s["orders"]["fills"]
    q = s.get("quoting") or {}
    row["quoting_pnl_usd"] = q.get("pnl_usd")
    if "gamma_policy" in q:
        row["gamma_policy"] = q["gamma_policy"]
    return row


def _comparison_html(s: dict[str, Any]) -> str:
    c = s.get("comparison")
    if not c:
        return ""
    heads = ["", "PnL", "fees paid", "rebates", "funding", "max drawdown", "triggers filled", "fills"]
    rows = [
        [
            name.replace("_", " "),
            _money(v["pnl_usd"]),
            _money(-v["fees_paid_usd"]),
            _money(v["rebates_usd"]),
            _money(v["funding_usd"]),
            f"{v['max_drawdown_usd']:,.2f}",
            str(v["filled"]),
            str(v["fills"]),
        ]
        for name, v in c.items()
    ]
    q = s.get("quoting") or {}
    note = (
        f'<p class="note">Quoting alone: PnL {_money(q.get("pnl_usd", 0))} (inventory at the last mark), '
        f"{q.get('fills', 0)} fills, actions {escape(str(q.get('actions', {})))}, paused books "
        f"{escape(str(q.get('books_paused', {})))}, risk refusals {escape(str(q.get('risk_refused', {})))}.</p>"
    )
    for name, v in c.items():
        g = v.get("gamma_policy")
        if g:
            note += (
                f'<p class="note">{escape(name.replace("_", " "))}: γ scale chosen every {g["interval_ms"] / 1000:g} s, '
                f"{escape(str(g['coins']))}; quoting alone {_money(v.get('quoting_pnl_usd') or 0)}.</p>"
            )
    return "<h2>Quoting vs no quoting</h2>" + _table(heads, rows) + note


def write_report(
    r: BacktestResult,
    out_dir: str | Path,
    baseline: BacktestResult | None = None,
    others: dict[str, BacktestResult] | None = None,
) -> tuple[Path, Path, dict[str, Any]]:
    """Write ``summary.json`` and ``report.html`` into ``out_dir`` (created); returns both paths
    and the summary. With ``baseline`` (the same run without quoting) the summary and the
    report compare the two."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(r)
    if baseline is not None:
        summary["comparison"] = compare(summarize(baseline), summary)
        for name, other in (others or {}).items():  # more quoting runs of the same hour (a γ policy)
            summary["comparison"][name] = compared_row(summarize(other))
    json_path, html_path = out / JSON_NAME, out / HTML_NAME
    json_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    html_path.write_text(render_html(summary, r), encoding="utf-8")
    return json_path, html_path, summary
