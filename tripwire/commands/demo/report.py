"""The demo's closing report: what fired, what the simulator filled, decisions applied, rows in
the store, flow runs in Prefect, the metrics each process exports, and where the UIs are.

:func:`build_report` asks the running processes (each source that cannot be read is named in
the report rather than failing it); :func:`format_report` turns it into the text printed at the
end. The report is also written as ``report.json`` in the run directory.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from tripwire.commands.demo.live_view import Seen
from tripwire.commands.demo.outcomes import format_outcomes, trigger_outcomes
from tripwire.commands.demo.prefect_runs import flow_run_summary, format_flow_runs


def build_report(
    seen: Seen, ports: dict[str, int], run_dir: Path, commands_address: str, api_key: str
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "triggers_fired": len(seen.triggers),
        "triggers": [{"id": t["trigger_id"], "rule": t["rule"], "side": t["side"]} for t in seen.triggers],
        "decisions_applied": len(seen.decisions),
        "decisions": [
            {
                "trigger_id": d["decision"]["trigger_id"],
                "kind": d["result"].get("kind"),
                "source": d["decision"].get("source"),
            }
            for d in seen.decisions
        ],
        "order_events": seen.orders,
        "fills_seen": seen.fills,
        "breakers": [b["breaker"] for b in seen.breakers],
        "account": seen.account,
        "start_equity": (seen.first_account or {}).get("equity"),
    }
    sim = f"http://127.0.0.1:{ports['sim']}"
    try:
        status = _command("status", commands_address)
        user = status.get("account_address")
        execution = status.get("execution") or {}
        report["hot_path"] = {
            "trading_state": status["risk"]["state"],
            "connection": status.get("connection", {}).get("state"),
            "open_orders": len(execution.get("open_orders", [])),
        }
        report["pnl_by_trigger"] = execution.get("pnl_by_trigger", {})
        if user:
            fills = _post_json(sim + "/info", {"type": "userFills", "user": user})
            report["simulator"] = {
                "account": user,
                "fills": len(fills),
                "open_orders": len(_post_json(sim + "/info", {"type": "openOrders", "user": user})),
            }
            report["one_way"] = one_way_check(
                _post_json(sim + "/info", {"type": "clearinghouseState", "user": user}),
                _post_json(sim + "/info", {"type": "frontendOpenOrders", "user": user}),
            )
    except Exception as e:  # noqa: BLE001 - the report says what it could not read
        report["hot_path_error"] = str(e)
    try:
        from tripwire.flows.store import open_store
        from tripwire.flows.store.base import COLLECTIONS

        store = open_store(f"sqlite:///{run_dir / 'tripwire.sqlite'}")
        report["store_rows"] = {c: n for c in COLLECTIONS if (n := store.count(c))}
        try:
            report["outcomes"] = trigger_outcomes(
                store.find("triggers"),
                store.find("fills"),
                store.find("decisions"),
                store.find("orders"),
                report.get("pnl_by_trigger"),
            )
        finally:
            store.close()
    except Exception as e:  # noqa: BLE001  (any failure goes into the report)
        report["store_error"] = str(e)
    try:
        report["prefect_flow_runs"] = flow_run_summary(f"http://127.0.0.1:{ports['prefect']}/api")
    except Exception as e:  # noqa: BLE001  (any failure goes into the report)
        report["prefect_error"] = str(e)
    report["metrics"] = scrape_metrics(ports, api_key, run_dir / "metrics.txt")
    report["links"] = {
        "prefect_ui": f"http://127.0.0.1:{ports['prefect']}",
        "api_docs": f"http://127.0.0.1:{ports['api']}/docs",
        "hot_path_metrics": f"http://127.0.0.1:{ports['hotpath_metrics']}/metrics",
        "logs": str(run_dir / "logs"),
    }
    report["api_key"] = api_key  # a throwaway key for this demo's API only
    return report


def one_way_check(clearinghouse_state: Any, frontend_open_orders: Any) -> dict[str, Any]:
    """The simulator's account against the one-way invariant (docs/EXECUTION.md): per coin, at
    most one stop and one take-profit, each no larger than the position, none when flat."""
    from tripwire.hotpath.execution.orders import Leg, parse_cloid
    from tripwire.hotpath.execution.protection import check_invariant
    from tripwire.hotpath.feed.reconcile import parse_clearinghouse_state, parse_open_orders

    positions = {p.coin: p.szi for p in parse_clearinghouse_state(clearinghouse_state)[0]}

    def resting_tp(o: Any) -> bool:  # a take-profit resting as a post-only limit (a maker exit)
        info = parse_cloid(o.cloid)
        return not o.is_trigger and o.reduce_only and info is not None and info.leg == "tp"

    legs = [
        Leg(
            "tp" if "Take Profit" in o.order_type or not o.is_trigger else "sl",
            o.cloid or "",
            o.coin,
            o.is_buy,
            o.sz,
            o.limit_px,
            reduce_only=o.reduce_only,
            trigger_px=o.trigger_px if o.is_trigger else None,
            state="waitingForTrigger" if o.is_trigger else "resting",
        )
        for o in parse_open_orders(frontend_open_orders)
        if o.is_trigger or resting_tp(o)
    ]
    problems = [
        f"{c}: {why}"
        for c in sorted(set(positions) | {leg.coin for leg in legs})
        if (why := check_invariant(positions.get(c, 0.0), [g for g in legs if g.coin == c], 8))
    ]
    return {"positions": positions, "protective_orders": len(legs), "violations": problems}


def scrape_metrics(ports: dict[str, int], api_key: str, names_file: Path) -> dict[str, Any]:
    """Scrape every process's /metrics once: how many metric names each exposes (the report's
    proof that monitoring is wired); ``names_file`` lists them all."""
    targets = {
        "hotpath": f"http://127.0.0.1:{ports['hotpath_metrics']}/metrics",
        "dispatcher": f"http://127.0.0.1:{ports['dispatcher_metrics']}/metrics",
        "recorder": f"http://127.0.0.1:{ports['recorder_metrics']}/metrics",
        "api": f"http://127.0.0.1:{ports['api']}/metrics",
    }
    names: set[str] = set()
    out: dict[str, Any] = {}
    for name, url in targets.items():
        req = urllib.request.Request(url, headers={"X-API-Key": api_key})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            out[name] = f"unreachable: {e}"
            continue
        found = {
            re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")
        }
        out[name] = len(found)
        names |= found
    names_file.write_text("\n".join(sorted(names)) + "\n")
    return out


def format_report(r: dict[str, Any], path: Path) -> str:
    """The report as printed at the end of the demo (``path``: where its JSON was written)."""
    lines = ["\n=== tripwire demo report ===", f"triggers fired     {r['triggers_fired']}"]
    lines += [f"  {t['id']}  {t['side']}" for t in r["triggers"]]
    lines.append(
        f"decisions applied  {r['decisions_applied']}  "
        + ", ".join(f"{d['kind']} ({d['source']})" for d in r["decisions"])
    )
    if "simulator" in r:
        s = r["simulator"]
        lines.append(f"simulator          account {s['account']}: {s['fills']} fills, {s['open_orders']} open orders")
    if r.get("account"):
        a = r["account"]
        lines.append(
            f"account            equity {a.get('equity', 0):,.2f}  realized "
            f"{a.get('realized_pnl', 0):+,.2f}  fees {a.get('fees_paid', a.get('fees', 0)):,.2f}  "
            f"rebates {a.get('rebates', 0):,.2f}  "
            f"unrealized {a.get('unrealized_pnl', 0):+,.2f}"
        )
        if line := equity_context(r.get("start_equity"), a.get("equity")):
            lines.append(line)
    if "one_way" in r:
        w = r["one_way"]
        held = ", ".join(f"{c} {sz:+g}" for c, sz in w["positions"].items()) or "flat"
        lines.append(
            f"one-way check      {held}, {w['protective_orders']} stop/take-profit orders: "
            + ("; ".join(w["violations"]) if w["violations"] else "none outlives or exceeds its position")
        )
    if r.get("pnl_by_trigger") and "outcomes" not in r:  # else the closing table has them
        # docs/EXECUTION.md: each trigger's lot on the one-way position; the coin's shared
        # stop and target close lots oldest first
        lines.append("PnL by trigger     (net of fees, open lots at the mid)")
        for tid, row in r["pnl_by_trigger"].items():
            pnl = "   n/a" if row.get("pnl") is None else f"{row['pnl']:+,.2f}"
            held = ", ".join(f"{sz:+g} {c}" for c, sz in row.get("lots", {}).items()) or "flat"
            lines.append(f"  {tid:<54} {pnl:>9}  {held}")
    if r.get("breakers"):
        lines.append(f"breakers tripped   {', '.join(r['breakers'])}")
    if "store_rows" in r:
        lines.append("store rows         " + ", ".join(f"{c} {n}" for c, n in r["store_rows"].items()))
    if r.get("metrics"):
        lines.append("metrics scraped    " + ", ".join(f"{k} {v}" for k, v in r["metrics"].items()))
    if "prefect_flow_runs" in r:
        lines += format_flow_runs(r["prefect_flow_runs"])
    lines += [f"({k}: {r[k]})" for k in ("hot_path_error", "store_error", "prefect_error") if k in r]
    lines += [f"{name:<18} {url}" for name, url in r["links"].items()]
    lines.append(f"report             {path}")
    if "outcomes" in r:
        lines += format_outcomes(r["outcomes"], r.get("start_equity"))
    return "\n".join(lines)


def equity_context(start: float | None, end: float | None) -> str | None:
    """The PnL against the account: each rule trades ``size_frac`` of equity (2 % in
    config/triggers.yaml, docs/TRIGGERS.md), so its dollars are small."""
    if not start or end is None:
        return None
    change = end - start
    return (
        f"                   started with {start:,.2f}: {change:+,.2f} ({100 * change / start:+.3f} % of equity); "
        "a trigger trades its rule's size_frac of equity (2 %: ~$200 on $10k), so a move of a few bps is cents"
    )


def _command(cmd: str, address: str) -> dict[str, Any]:
    from tripwire.bus.commands import CommandClient

    client = CommandClient(address, timeout_s=5)
    try:
        return client.call(cmd, {})
    finally:
        client.close()


def _post_json(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())
