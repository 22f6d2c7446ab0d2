"""The demo report's parts that explain the run: per-trigger outcomes (entry, exit, PnL, fees,
decision and its source), the PnL against the starting equity, and Prefect's flow runs counted
by state with the runs the scheduler made ahead named apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tripwire.commands.demo.outcomes import format_outcomes, trigger_outcomes
from tripwire.commands.demo.prefect_runs import format_flow_runs, group_scheduled
from tripwire.commands.demo.report import equity_context, format_report


def trigger(tid: str, rule: str, side: str, ts: int) -> dict:
    return {"trigger_id": tid, "rule": rule, "coin": "BTC", "side": side, "ts": ts}


def fill(tid: str, leg: str, side: str, px: float, sz: float, fee: float, time: int) -> dict:
    return {
        "trigger_id": tid,
        "leg": leg,
        "coin": "BTC",
        "side": side,
        "px": px,
        "sz": sz,
        "fee": fee,
        "time": time,
        "tid": time,
    }


TRIGGERS = [
    trigger("A", "squeeze_up", "long", 1),
    trigger("B", "breakout_continuation_long", "long", 2),
    trigger("C", "reversion_fade_up", "short", 3),
]
# A and B go long; the coin's one stop (sized to the net position, carrying B's id) closes both,
# A's lot first (oldest first, as the hot path books it)
FILLS = [
    fill("A", "entry", "B", 100.0, 0.01, 0.1, 10),
    fill("B", "entry", "B", 102.0, 0.01, 0.1, 20),
    fill("B", "sl", "A", 99.0, 0.02, 0.2, 30),
]
DECISIONS = [
    {"trigger_id": "A", "kind": "adjust", "source": "n8n"},
    {"trigger_id": "B", "kind": "keep", "source": "local", "fallback_reason": "disabled"},
    {"trigger_id": "C", "kind": "cancel", "source": "operator"},
]
ORDERS = [{"trigger_id": "C", "leg": None, "state": "refused", "error": "opposite_position: BTC is long 0.02"}]


def test_a_shared_stop_is_the_exit_of_each_lot_it_closed_oldest_first():
    rows = {r["trigger_id"]: r for r in trigger_outcomes(TRIGGERS, FILLS, DECISIONS, ORDERS, None)}
    assert rows["A"]["entry"] == {"sz": 0.01, "px": 100.0, "legs": ["entry"]}
    assert rows["A"]["exit"] == {"sz": 0.01, "px": 99.0, "legs": ["sl"]}
    assert rows["B"]["exit"] == {"sz": 0.01, "px": 99.0, "legs": ["sl"]}
    # without the hot path's ledger: the re-booked fees (own fill + half the shared one) and the
    # realized PnL of the flat lots
    assert rows["A"]["fees"] == pytest.approx(0.2) and rows["A"]["pnl"] == pytest.approx(-0.01 - 0.2)
    assert rows["B"]["pnl"] == pytest.approx(-0.03 - 0.2)
    assert rows["C"]["entry"] is None and rows["C"]["refused"].startswith("opposite_position")


def test_each_row_carries_the_applied_decision_and_its_source():
    rows = trigger_outcomes(TRIGGERS, FILLS, DECISIONS, ORDERS, None)
    assert [(r["decision"], r["source"]) for r in rows] == [
        ("adjust", "n8n"),
        ("keep", "local"),
        ("cancel", "operator"),
    ]
    undecided = trigger_outcomes(TRIGGERS[:1], FILLS[:1], [], [], None)
    assert undecided[0]["decision"] is None and undecided[0]["open"] == {"BTC": 0.01} and undecided[0]["pnl"] is None


def test_the_hot_paths_ledger_gives_pnl_fees_and_open_lots_when_it_answered():
    ledger = {"A": {"pnl": -0.25, "fees": 0.21, "lots": {}}}
    [a, b, _] = trigger_outcomes(TRIGGERS, FILLS, DECISIONS, ORDERS, ledger)
    assert (a["pnl"], a["fees"]) == (-0.25, 0.21)
    assert b["pnl"] == pytest.approx(-0.23)  # not in the ledger: re-booked


def test_the_table_shows_entry_exit_pnl_fees_and_the_decision_per_trigger():
    lines = format_outcomes(trigger_outcomes(TRIGGERS, FILLS, DECISIONS, ORDERS, None), 10.0)
    assert lines[0].startswith("per-trigger outcomes") and "sizes as % of equity 10.00" in lines[0]
    a, b, c = lines[2:]
    assert "#1 squeeze_up" in a and "0.01 BTC @ 100.0 10.0%" in a and "0.01 @ 99.0 (sl)" in a
    assert "-0.21" in a and "0.20" in a and a.endswith("adjust (n8n)")
    assert b.endswith("keep (local, fallback: disabled)")
    assert "refused: opposite_position" in c and c.endswith("cancel (operator)")
    assert format_outcomes([], None) == ["per-trigger outcomes: no trigger fired"]


def test_the_report_ends_with_the_outcomes_and_puts_the_pnl_against_equity():
    report = {
        "triggers_fired": 3,
        "triggers": [{"id": t["trigger_id"], "side": t["side"]} for t in TRIGGERS],
        "decisions_applied": 3,
        "decisions": [{"kind": d["kind"], "source": d["source"]} for d in DECISIONS],
        "account": {"equity": 9_999.73, "realized_pnl": -0.14, "fees": 0.27, "unrealized_pnl": 0.14},
        "start_equity": 10_000.0,
        "links": {"prefect_ui": "http://127.0.0.1:4200"},
        "outcomes": trigger_outcomes(TRIGGERS, FILLS, DECISIONS, ORDERS, None),
    }
    text = format_report(report, Path("report.json"))
    assert "started with 10,000.00: -0.27 (-0.003 % of equity)" in text
    assert text.rstrip().splitlines()[-1].startswith("  #3 reversion_fade_up")
    assert equity_context(None, 1.0) is None


RUNS = [
    {"deployment_id": "d1", "expected_start_time": "2026-12-06T00:02:00+00:00", "state": {"name": "Late"}},
    {"deployment_id": "d1", "expected_start_time": "2026-12-06T00:03:00+00:00", "state": {"name": "Scheduled"}},
    {"deployment_id": "d2", "expected_start_time": "2026-12-06T03:00:00+00:00", "state": {"name": "Scheduled"}},
]


def test_scheduled_runs_are_grouped_per_deployment_with_the_late_ones_and_the_next():
    grouped = group_scheduled(RUNS, {"d1": "snapshot_market", "d2": "archive_data"})
    assert grouped == {
        "snapshot_market": {"count": 2, "late": 1, "next": "2026-12-06T00:02:00+00:00"},
        "archive_data": {"count": 1, "late": 0, "next": "2026-12-06T03:00:00+00:00"},
    }


def test_the_flow_run_lines_count_finished_runs_by_state_and_name_the_scheduled_apart():
    summary = {
        "finished": {"COMPLETED": 3, "FAILED": 1},
        "in_flight": {"RUNNING": 1},
        "scheduled": group_scheduled(RUNS, {"d1": "snapshot_market", "d2": "archive_data"}),
    }
    lines = format_flow_runs(summary)
    assert lines[0] == "Prefect flow runs  finished: 3 completed, 1 failed"
    assert "still going: 1 running" in lines[1]
    assert "scheduled for later (created ahead by Prefect's scheduler, not run): 3" in lines[2]
    assert "snapshot_market" in lines[4] and "2, 1 late  next 2026-12-06 00:02:00Z" in lines[4]
    assert format_flow_runs({"finished": {}, "in_flight": {}, "scheduled": {}}) == ["Prefect flow runs  finished: none"]


def test_the_one_way_check_counts_a_take_profit_resting_as_a_maker_order():
    from tripwire.commands.demo.report import one_way_check
    from tripwire.hotpath.execution.orders import cloid_for

    position = {
        "coin": "BTC",
        "szi": "0.005",
        "entryPx": "42000",
        "positionValue": "210",
        "unrealizedPnl": "0",
        "marginUsed": "21",
    }
    state = {
        "marginSummary": {"accountValue": "10000", "totalNtlPos": "210", "totalMarginUsed": "21"},
        "withdrawable": "9979",
        "assetPositions": [{"position": position}],
        "time": 0,
    }

    def order(oid: int, leg: str, sz: str, trigger: bool) -> dict:
        return {
            "coin": "BTC",
            "oid": oid,
            "cloid": cloid_for("probe_long.BTC.1700000000000.1", f"{leg}.1"),
            "side": "A",
            "limitPx": "42500",
            "sz": sz,
            "timestamp": 0,
            "orderType": "Stop Market" if trigger else "Limit",
            "reduceOnly": True,
            "isTrigger": trigger,
            "triggerPx": "41500" if trigger else "0",
        }

    ok = one_way_check(state, [order(1, "sl", "0.005", True), order(2, "tp", "0.005", False)])
    assert ok["protective_orders"] == 2 and ok["violations"] == []
    # a resting take-profit larger than the position is seen, as a trigger one would be
    big = one_way_check(state, [order(1, "sl", "0.005", True), order(2, "tp", "0.009", False)])
    assert big["violations"] == ["BTC: tp total 0.009 exceeds the position 0.005"]
