"""The dashboard's state model, fed events and /status replies as the bus and the API send them."""

from tripwire.watch.state import WatchState

STATUS = {
    "mode": "demo",
    "coins": {"BTC": {"mid": 100.0}},
    "connection": {"state": "CONNECTED"},
    "hotpath": {
        "risk": {"state": "ACTIVE", "paused_by": None, "breakers": {}},
        "execution": {
            "account": {"equity": 1000.0, "positions": {"BTC": {"szi": -0.5, "entry_px": 102.0, "notional": 50.0}}},
            "open_orders": [
                {
                    "coin": "BTC",
                    "leg": "tp",
                    "trigger_px": 98.0,
                    "px": 99.0,
                    "cloid": "a",
                    "state": "waitingForTrigger",
                },
                {
                    "coin": "BTC",
                    "leg": "sl",
                    "trigger_px": 104.0,
                    "px": 105.0,
                    "cloid": "b",
                    "state": "waitingForTrigger",
                },
            ],
            "deadman": {"armed_until_ms": 60_000},
            "tick_to_order_p50_s": 0.001,
            "tick_to_order_p99_s": 0.004,
            "pnl_by_trigger": {
                "t.closed": {"lots": {}, "pnl": 1.5, "fees": 0.1, "fills": 2},
                "t.open": {"lots": {"BTC": -0.5}, "pnl": 0.0, "fees": 0.05, "fills": 1},
            },
        },
    },
}


def fired(tid: str, rule: str = "squeeze_up", coin: str = "BTC", ns: int = 1) -> dict:
    return {"trigger_id": tid, "rule": rule, "coin": coin, "side": "long", "fired_ts_ns": ns}


def test_a_status_reply_gives_positions_with_their_legs_orders_and_closed_trades():
    s = WatchState()
    s.apply_status(STATUS, now_ns=10)
    assert s.coins == ["BTC"] and s.mode == "demo" and s.feed_state == "CONNECTED"
    assert s.positions["BTC"]["szi"] == -0.5
    assert s.legs_of("BTC") == {"tp": 98.0, "sl": 104.0}
    assert list(s.closed) == ["t.closed"] and s.closed["t.closed"]["pnl"] == 1.5
    assert s.deadman_left_s(now_ms=30_000) == 30.0
    assert s.tick_to_order_s == (0.001, 0.004)


def test_unrealized_pnl_follows_the_latest_mark_from_the_features():
    s = WatchState()
    s.apply_status(STATUS, now_ns=10)
    s.apply_event("md.features.BTC", {"coin": "BTC", "values": {"mid": 100.0, "mark_px": 100.0}}, now_ns=11)
    assert s.unrealized("BTC") == -0.5 * (100.0 - 102.0)


def test_a_decision_sets_the_triggers_verdict_and_its_source():
    s = WatchState()
    s.apply_event("trigger.fired.squeeze_up.BTC", fired("t1"), now_ns=1)
    assert s.trigger_rows()[0].verdict is None
    s.apply_event(
        "decision.t1",
        {"decision": {"trigger_id": "t1", "go": False, "source": "llm", "reason": "no"}, "result": {"kind": "cancel"}},
        now_ns=2,
    )
    row = s.trigger_rows()[0]
    assert (row.verdict, row.source, row.reason) == ("cancel", "llm", "no")


def test_a_decision_for_a_trigger_never_seen_changes_nothing():
    s = WatchState()
    s.apply_event("decision.x", {"decision": {"trigger_id": "x", "source": "local"}, "result": {}}, now_ns=1)
    assert s.triggers == {}


def test_triggers_are_filtered_by_coin_and_text_newest_first():
    s = WatchState()
    s.apply_event("trigger.fired.a.BTC", fired("a.BTC.1", "a", "BTC", 1), 1)
    s.apply_event("trigger.fired.b.ETH", fired("b.ETH.2", "b", "ETH", 2), 2)
    s.apply_event("trigger.fired.a.ETH", fired("a.ETH.3", "a", "ETH", 3), 3)
    assert [r.trigger_id for r in s.trigger_rows()] == ["a.ETH.3", "b.ETH.2", "a.BTC.1"]
    assert [r.trigger_id for r in s.trigger_rows(coin="ETH", text="a")] == ["a.ETH.3"]


def test_order_events_add_resting_legs_and_drop_filled_or_canceled_ones():
    s = WatchState()
    s.apply_event("order.resting.BTC", {"cloid": "c1", "coin": "BTC", "leg": "tp", "state": "resting"}, 1)
    assert [o["cloid"] for o in s.open_orders] == ["c1"]
    s.apply_event("order.filled.BTC", {"cloid": "c1", "coin": "BTC", "leg": "tp", "state": "filled"}, 2)
    assert s.open_orders == []


def test_a_flat_position_event_removes_the_position():
    s = WatchState()
    s.apply_event("position.BTC", {"coin": "BTC", "szi": 1.0, "entry_px": 10.0}, 1)
    s.apply_event("position.BTC", {"coin": "BTC", "szi": 0.0, "entry_px": 0.0}, 2)
    assert s.positions == {}


def test_the_message_rate_counts_the_last_five_seconds_only():
    s = WatchState()
    for i in range(10):
        s.apply_event("heartbeat", {}, now_ns=i * 1_000_000_000)
    assert s.events.rate(now_ns=9_000_000_000) == 6 / 5  # stamps 4..9 s
    assert s.events.age_s(now_ns=10_000_000_000) == 1.0


def test_limit_use_puts_positions_day_loss_and_drawdown_against_the_reported_limits():
    from tripwire.hotpath.risk.config import RiskConfig
    from tripwire.hotpath.risk.manager import RiskManager

    risk = RiskManager(RiskConfig())
    risk.on_equity(1000.0, 0)
    risk.on_equity(990.0, 1000)  # 1 % off the peak
    status = {**STATUS, "hotpath": {**STATUS["hotpath"], "risk": risk.snapshot()}}
    s = WatchState()
    s.apply_status(status, now_ns=10)
    s.account["day_pnl"] = -25.0
    s.apply_event("md.features.BTC", {"values": {"mid": 110.0}}, now_ns=11)
    s.apply_event("trigger.fired.squeeze_up.BTC", fired("t1"), now_ns=12)
    use = {name: (used, allowed) for name, used, allowed in s.limit_use()}
    assert use["largest position $"] == (0.5 * 110.0, 5000.0)  # at the mark, not the entry
    assert use["all positions $"] == (55.0, 10000.0)
    assert use["open positions"] == (1.0, 3.0)
    assert use["triggers awaiting a decision"] == (1.0, 3.0)
    assert use["day loss $"] == (25.0, 500.0)
    assert use["drawdown %"][0] == 1.0 and use["drawdown %"][1] == 3.0


def test_no_limits_reported_means_no_limit_use_shown():
    s = WatchState()
    s.apply_status(STATUS, now_ns=10)
    assert s.limit_use() == []
