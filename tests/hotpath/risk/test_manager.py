import pytest

from tripwire.hotpath.risk.config import RiskConfigError, load_risk_config
from tripwire.hotpath.risk.manager import (
    ACTIVE,
    CANCEL_ALL,
    DRAWDOWN,
    FLATTEN,
    HALTED,
    LATENCY,
    OPEN_NOTHING,
    ORDER_ERRORS,
    PAUSE,
    REDUCING,
    STALE_DATA,
    WS_LAG,
    Exposure,
    OrderIntent,
    RiskManager,
)

CFG = load_risk_config("config/risk.yaml")


def flat(equity=10_000.0):
    return Exposure(equity=equity, marks={"BTC": 40_000.0, "ETH": 2_000.0, "SOL": 100.0})


def buy(sz, coin="BTC", px=40_000.0, **kw):
    return OrderIntent(coin, True, sz, px, **kw)


def test_order_within_limits_is_allowed():
    assert RiskManager(CFG).check(buy(0.05), flat()).ok


@pytest.mark.parametrize(
    "intent,exposure,reason",
    [
        (buy(0.0002), flat(), "min_order"),
        (buy(0.07, trigger_id="t1"), flat(), "size_frac"),  # $2,800 > 25 % of $10,000
        (buy(0.13), flat(100_000.0), "coin_limit"),  # $5,200 > $5,000
        (
            buy(0.02),
            Exposure(10_000.0, {"ETH": -2.4, "SOL": -45.0}, {"BTC": 40_000.0, "ETH": 2_000.0, "SOL": 100.0}),
            "total_limit",
        ),
        (
            buy(0.01),
            Exposure(
                10_000.0,
                {"ETH": 0.1, "SOL": 1.0, "DOGE": 10.0},
                {"BTC": 40_000.0, "ETH": 2_000.0, "SOL": 100.0, "DOGE": 0.1},
            ),
            "open_positions",
        ),
        (buy(0.01), Exposure(10_000.0, {}, {"BTC": 40_000.0}, day_pnl=-600.0), "daily_loss"),
        (buy(0.01), Exposure(0.0, {}, {"BTC": 40_000.0}), "no_equity"),
        (buy(0.01, reduce_only=True), flat(), "reduce_only"),
    ],
)
def test_each_limit_refuses_with_its_reason(intent, exposure, reason):
    rm = RiskManager(CFG)
    v = rm.check(intent, exposure)
    assert not v.ok and v.reason.startswith(reason)
    assert rm.refusals == {reason: 1}


def test_reducing_orders_pass_in_every_state():
    rm = RiskManager(CFG)
    long = Exposure(10_000.0, {"BTC": 0.1}, {"BTC": 40_000.0})
    rm.on_equity(10_000.0, 0)
    rm.on_equity(9_000.0, 1_000)  # 10 % drawdown → halted
    assert rm.state == HALTED
    assert rm.check(OrderIntent("BTC", False, 0.1, 40_000.0, reduce_only=True), long).ok
    assert not rm.check(buy(0.01), long).ok
    assert not rm.check(OrderIntent("BTC", False, 0.2, 40_000.0), long).ok  # flips: opens


def test_latency_breaker_cancels_all_and_reduces_once():
    rm = RiskManager(CFG)
    assert rm.on_tick_to_trade(20.0) == []
    trips = rm.on_tick_to_trade(200.0)
    assert [(t.breaker, t.action, t.state) for t in trips] == [(LATENCY, CANCEL_ALL, REDUCING)]
    assert rm.on_tick_to_trade(300.0) == []  # latched
    assert not rm.check(buy(0.01), flat()).ok


def test_drawdown_within_the_hour_flattens_and_halts_but_old_peaks_expire():
    rm = RiskManager(CFG)
    rm.on_equity(10_000.0, 0)
    assert rm.on_equity(9_800.0, 1_000) == []  # 2 %
    assert rm.on_equity(10_000.0, 3_700_000) == []  # first peak left the window
    assert rm.on_equity(9_750.0, 3_800_000) == []  # 2.5 % off the new peak
    trips = rm.on_equity(9_690.0, 3_900_000)  # 3.1 %
    assert [(t.breaker, t.action, t.state) for t in trips] == [(DRAWDOWN, FLATTEN, HALTED)]


def test_stale_data_opens_nothing_until_fresh_without_changing_state():
    rm = RiskManager(CFG)
    trips = rm.on_data_age(6_000)
    assert trips[0].breaker == STALE_DATA and rm.state == ACTIVE
    assert rm.check(buy(0.01), flat()).reason.startswith("stale_data")
    rm.on_data_age(100)
    assert rm.check(buy(0.01), flat()).ok


def test_repeated_order_errors_pause_trading():
    rm = RiskManager(CFG)
    for i in range(4):
        assert rm.on_order_error(i * 1_000) == []
    trips = rm.on_order_error(5_000)
    assert [(t.breaker, t.action) for t in trips] == [(ORDER_ERRORS, PAUSE)]
    assert rm.state == REDUCING


def test_order_errors_spread_beyond_the_window_do_not_trip():
    rm = RiskManager(CFG)
    for i in range(10):
        assert rm.on_order_error(i * 20_000) == []


def test_operator_resume_clears_latched_breakers_but_not_a_lost_feed():
    rm = RiskManager(CFG)
    rm.on_tick_to_trade(500.0)
    rm.on_disconnect()
    assert rm.resume("operator") == REDUCING  # still disconnected
    rm.on_reconnect()
    assert rm.state == ACTIVE and rm.tripped == {}


def test_pause_and_resume():
    rm = RiskManager(CFG)
    assert rm.pause("n8n") == REDUCING
    assert not rm.check(buy(0.01), flat()).ok
    assert rm.resume("operator") == ACTIVE


def test_bad_risk_file_names_file_key_and_reason(tmp_path):
    p = tmp_path / "risk.yaml"
    p.write_text("limits:\n  min_order_usd: 5\n  max_open_position: 3\n")
    with pytest.raises(RiskConfigError) as e:
        load_risk_config(p)
    msg = str(e.value)
    assert f"{p}: limits.min_order_usd: Input should be greater than or equal to 10" in msg
    assert f"{p}: limits.max_open_position: unknown setting" in msg


def test_a_lagging_feed_opens_nothing_until_it_caught_up_with_hysteresis():
    rm = RiskManager(CFG)
    b = CFG.breakers.ws_lag
    assert rm.on_ws_lag(b.max_ws_lag_ms) == []  # at the bound: not yet
    trips = rm.on_ws_lag(2_800.0)
    assert [(t.breaker, t.action, t.state) for t in trips] == [(WS_LAG, OPEN_NOTHING, ACTIVE)]
    assert rm.state == ACTIVE and "2800 ms" in trips[0].detail
    assert rm.check(buy(0.01), flat()).reason.startswith("ws_lag")
    assert rm.snapshot()["breakers"][WS_LAG]["action"] == OPEN_NOTHING
    assert rm.on_ws_lag(5_000.0) == []  # one trip while it lasts
    rm.on_ws_lag((b.max_ws_lag_ms + b.clear_below_ms) / 2)  # between the two: still held
    assert not rm.check(buy(0.01), flat()).ok
    rm.on_ws_lag(b.clear_below_ms - 1)
    assert rm.check(buy(0.01), flat()).ok and rm.snapshot()["breakers"] == {}


def test_a_lagging_feed_still_lets_positions_close_and_resume_does_not_lift_it():
    rm = RiskManager(CFG)
    rm.on_ws_lag(5_000.0)
    long = Exposure(equity=10_000.0, positions={"BTC": 0.05}, marks={"BTC": 40_000.0})
    assert rm.check(OrderIntent("BTC", False, 0.05, 40_000.0, reduce_only=True), long).ok
    rm.resume("operator")
    assert rm.check(buy(0.01), flat()).reason.startswith("ws_lag")


def test_a_lag_breaker_that_could_not_lift_is_refused_at_start(tmp_path):
    p = tmp_path / "risk.yaml"
    p.write_text("breakers:\n  ws_lag:\n    max_ws_lag_ms: 500\n    clear_below_ms: 800\n")
    with pytest.raises(RiskConfigError, match=r"breakers\.ws_lag: .*clear_below_ms .* must not exceed"):
        load_risk_config(p)
