"""The funding carry's report: carry earned against fees, from the exchange's own records.

Every amount is read from what the simulator's API would answer for the account — ``userFills``
(fees, closed PnL), ``userFunding`` (payments), ``clearinghouseState`` and
``spotClearinghouseState`` (what is still held) — and the parts are checked to add up to the
change of equity (perp account value + spot at the pair's mid): ``accounting_gap_usd`` is that
difference, 0 up to rounding.
"""

from __future__ import annotations

import html
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from tripwire.hotpath.carry.model import hurdle_bps_per_hour
from tripwire.sim.backtest.carry import CarryResult
from tripwire.sim.backtest.svg import line_chart
from tripwire.sim.exchange.info import handle_info
from tripwire.sim.exchange.wire import ZERO

JSON_NAME = "summary.json"
HTML_NAME = "report.html"


def _f(d: Decimal) -> float:
    return round(float(d), 6)


def money(r: CarryResult) -> dict[str, Any]:
    """Funding, fees and trading PnL by leg, from the account's fills, funding and balances."""
    e, user = r.engine, r.user
    now = r.last_ms
    fills = handle_info(e, {"type": "userFillsByTime", "user": user, "startTime": 0}, now)
    funding = handle_info(e, {"type": "userFunding", "user": user, "startTime": 0}, now)
    perp_state = handle_info(e, {"type": "clearinghouseState", "user": user}, now)
    spot_state = handle_info(e, {"type": "spotClearinghouseState", "user": user}, now)
    assert isinstance(fills, list) and isinstance(funding, list)
    assert isinstance(perp_state, dict) and isinstance(spot_state, dict)
    spot_coins = {p.coin: p for p in e.spot.pairs}
    fees = {"perp": ZERO, "spot": ZERO}
    closed = {"perp": ZERO, "spot": ZERO}
    for f in fills:
        leg = "spot" if f["coin"] in spot_coins else "perp"
        fees[leg] += Decimal(f["fee"])
        closed[leg] += Decimal(f["closedPnl"])
    earned = sum((Decimal(x["delta"]["usdc"]) for x in funding), ZERO)
    upnl_perp = sum((Decimal(p["position"]["unrealizedPnl"]) for p in perp_state["assetPositions"]), ZERO)
    upnl_spot = ZERO
    for b in spot_state["balances"]:
        pair = next((p for p in e.spot.pairs if p.base.name == b["coin"]), None)
        mid = e.spot_book(pair.coin).mid() if pair is not None else None
        if pair is not None and mid is not None:
            upnl_spot += Decimal(b["total"]) * mid - Decimal(b["entryNtl"])
    trading = closed["perp"] + closed["spot"] + upnl_perp + upnl_spot
    net = earned - fees["perp"] - fees["spot"] + trading
    equity_end = Decimal(str(r.equity_series[-1][1])) if r.equity_series else r.equity_start
    return {
        "funding_earned_usd": _f(earned),
        "funding_payments": len(funding),
        "fees_usd": {"perp": _f(fees["perp"]), "spot": _f(fees["spot"]), "total": _f(fees["perp"] + fees["spot"])},
        # price moves, spreads crossed, basis: what the hedge did not hedge
        "trading_pnl_usd": {
            "perp_closed": _f(closed["perp"]),
            "spot_closed": _f(closed["spot"]),
            "unrealized": _f(upnl_perp + upnl_spot),
            "total": _f(trading),
        },
        "net_usd": _f(net),
        "carry_minus_fees_usd": _f(earned - fees["perp"] - fees["spot"]),
        "equity_start_usd": _f(r.equity_start),
        "equity_end_usd": _f(equity_end),
        "accounting_gap_usd": _f(equity_end - r.equity_start - net),
        "held_at_end": {
            "perp": {p["position"]["coin"]: p["position"]["szi"] for p in perp_state["assetPositions"]},
            "spot": {b["coin"]: b["total"] for b in spot_state["balances"] if Decimal(b["total"]) != 0},
        },
    }


def summarize_carry(r: CarryResult) -> dict[str, Any]:
    coins = {}
    for coin, cc in r.coins.items():
        p = r.config.params(coin)
        held = cc.held_ms + (r.last_ms - cc.opened_ms if cc.opened_ms is not None else 0)
        coins[coin] = {
            "spot": cc.pair.label,
            "spot_coin": cc.pair.coin,
            "entry_bps_per_hour": p.entry_bps_per_hour,
            "exit_bps_per_hour": p.exit_bps_per_hour,
            "hurdle_bps_per_hour": round(hurdle_bps_per_hour(p), 4),
            "funding_bps_per_hour_seen": (
                [round(cc.min_funding_bps, 4), round(cc.max_funding_bps, 4)]
                if cc.max_funding_bps > float("-inf")
                else None
            ),
            "opens": cc.opens,
            "closes": cc.closes,
            "hours_held": round(held / 3_600_000, 3),
            "open_at_end": cc.opened_ms is not None,
            "hedge_gap_after_open": cc.hedge_gap,
            "decisions": cc.decisions,
            "stayed_flat": dict(cc.waits),
            "risk_refused": dict(cc.refused),
            "exchange_rejected": dict(cc.rejected),
        }
    return {
        "strategy": "funding",
        "scenario": r.scenario,
        "synthetic_market": r.scenario is not None,
        "files": r.files,
        "span_hours": round((r.last_ms - r.equity_series[0][0]) / 3_600_000, 3) if r.equity_series else 0.0,
        "messages": r.messages,
        "bad_market_messages": r.bad_market_messages,
        "wall_s": round(r.wall_s, 3),
        "fees": {
            "perp_taker": str(r.fees.taker),
            "perp_maker": str(r.fees.maker),
            "spot_taker": str(r.fees.spot_taker),
            "spot_maker": str(r.fees.spot_maker),
        },
        "hold_hours": r.config.hold_hours,
        "coins": coins,
        "money": money(r),
        "breaker_trips": r.trips,
    }


def render_carry_html(s: dict[str, Any], r: CarryResult) -> str:
    m = s["money"]
    rows = [
        ("funding earned", m["funding_earned_usd"]),
        ("fees, perp", -m["fees_usd"]["perp"]),
        ("fees, spot", -m["fees_usd"]["spot"]),
        ("carry minus fees", m["carry_minus_fees_usd"]),
        ("trading PnL (spreads, basis, hedge drift)", m["trading_pnl_usd"]["total"]),
        ("net", m["net_usd"]),
        ("equity change", m["equity_end_usd"] - m["equity_start_usd"]),
        ("accounting gap", m["accounting_gap_usd"]),
    ]
    table = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>{v:,.4f}</td></tr>" for k, v in rows)
    coin_rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{html.escape(x['spot'])}</td><td>{x['opens']}</td><td>{x['closes']}</td>"
        f"<td>{x['hours_held']}</td><td>{x['hurdle_bps_per_hour']}</td><td>{x['entry_bps_per_hour']}</td>"
        f"<td>{x['exit_bps_per_hour']}</td><td>{html.escape(str(x['funding_bps_per_hour_seen']))}</td></tr>"
        for c, x in s["coins"].items()
    )
    decisions = "".join(
        f"<li>{d['time']}: {html.escape(d['action'])} {html.escape(c)} — {html.escape(d['reason'])}</li>"
        for c, x in s["coins"].items()
        for d in x["decisions"]
    )
    where = (
        f"scenario <b>{html.escape(s['scenario'])}</b> (synthetic market built for the carry)"
        if s["scenario"]
        else "recorded files: " + html.escape(", ".join(s["files"]))
    )
    chart = line_chart([(float(t), e) for t, e in r.equity_series], "Equity: perp account value + spot (USDC)")
    return (
        "<!doctype html><meta charset='utf-8'><title>tripwire funding carry backtest</title>"
        "<body style='font-family:sans-serif;max-width:960px;margin:auto'>"
        f"<h1>Funding carry backtest</h1><p>{where}; {s['span_hours']} h of market.</p>"
        f"<h2>Carry earned vs fees (USDC)</h2><table>{table}</table>"
        "<h2>Coins</h2><table border=1 cellpadding=4><tr><th>coin</th><th>hedge</th><th>opens</th>"
        "<th>closes</th><th>hours held</th><th>hurdle bps/h</th><th>entry</th><th>exit</th>"
        f"<th>funding bps/h seen</th></tr>{coin_rows}</table>"
        f"<h2>Decisions</h2><ul>{decisions or '<li>none: the carry stayed flat</li>'}</ul>"
        f"{chart}</body>"
    )


def write_carry_report(r: CarryResult, out_dir: str | Path) -> tuple[Path, Path, dict[str, Any]]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize_carry(r)
    json_path, html_path = out / JSON_NAME, out / HTML_NAME
    json_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    html_path.write_text(render_carry_html(summary, r), encoding="utf-8")
    return json_path, html_path, summary
