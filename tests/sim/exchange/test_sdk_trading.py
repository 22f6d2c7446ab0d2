"""The unmodified SDK trading against the simulator: orders, fills, PnL, fees, TP/SL, leverage."""

from __future__ import annotations

from decimal import Decimal

from hyperliquid.utils.types import Cloid

from tests.sim.exchange.conftest import address, book_msg, exchange_for, info_for, later


def statuses(resp: dict) -> list:
    assert resp["status"] == "ok", resp
    return resp["response"]["data"]["statuses"]


def test_sdk_constructs_against_the_simulator_and_sees_the_default_universe(sim):
    info = info_for(sim)
    assert info.meta()["universe"] == [
        {"name": "BTC", "szDecimals": 5, "maxLeverage": 50},
        {"name": "ETH", "szDecimals": 4, "maxLeverage": 50},
        {"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
    ]
    assert info.coin_to_asset["ETH"] == 1
    # the exchange lists spot pairs' mids as @index too (UETH/USDC is @1: docs/SIMULATOR.md "Spot")
    assert info.all_mids() == {"ETH": "1999.5", "@1": "1999.3"}


def test_gtc_below_the_ask_rests_and_is_listed_then_cancel_removes_it(sim):
    ex = exchange_for(sim)
    [status] = statuses(ex.order("ETH", True, 0.01, 1990.0, {"limit": {"tif": "Gtc"}}))
    oid = status["resting"]["oid"]
    info = info_for(sim)
    [o] = info.open_orders(address())
    assert o == {"coin": "ETH", "limitPx": "1990.0", "oid": oid, "side": "B", "sz": "0.01", "timestamp": o["timestamp"]}
    [fo] = info.frontend_open_orders(address())
    assert fo["orderType"] == "Limit" and fo["tif"] == "Gtc" and fo["triggerCondition"] == "N/A"
    assert statuses(ex.cancel("ETH", oid)) == ["success"]
    assert info.open_orders(address()) == []
    assert info.query_order_by_oid(address(), oid)["order"]["status"] == "canceled"
    assert statuses(ex.cancel("ETH", oid)) == [{"error": "Order was never placed, already canceled, or filled."}]


def test_cloid_orders_can_be_queried_and_canceled_by_cloid(sim):
    ex = exchange_for(sim)
    cloid = Cloid.from_str("0x" + "12" * 16)
    [status] = statuses(ex.order("ETH", False, 0.02, 2010.0, {"limit": {"tif": "Gtc"}}, cloid=cloid))
    assert status["resting"]["cloid"] == cloid.to_raw()
    found = info_for(sim).query_order_by_cloid(address(), cloid)
    assert found["status"] == "order" and found["order"]["order"]["cloid"] == cloid.to_raw()
    assert statuses(ex.cancel_by_cloid("ETH", cloid)) == ["success"]
    assert info_for(sim).query_order_by_oid(address(), 999_999) == {"status": "unknownOid"}


def test_modify_replaces_a_resting_order_with_the_new_price_and_size(sim):
    ex = exchange_for(sim)
    [status] = statuses(ex.order("ETH", True, 0.01, 1990.0, {"limit": {"tif": "Gtc"}}))
    old = status["resting"]["oid"]
    [new_status] = statuses(ex.modify_order(old, "ETH", True, 0.02, 1991.0, {"limit": {"tif": "Gtc"}}))
    [o] = info_for(sim).open_orders(address())
    assert (o["limitPx"], o["sz"], o["oid"]) == ("1991.0", "0.02", new_status["resting"]["oid"])
    assert statuses(ex.modify_order(old, "ETH", True, 0.02, 1992.0, {"limit": {"tif": "Gtc"}})) == [
        {"error": "Cannot modify canceled or filled order"}
    ]


def test_market_open_walks_the_book_and_market_close_realizes_pnl_minus_fees(sim):
    ex = exchange_for(sim)
    [filled] = statuses(ex.market_open("ETH", True, 1.5))
    assert filled["filled"]["totalSz"] == "1.5"
    # 1.0 @ 2000 + 0.5 @ 2001 from the book
    assert Decimal(filled["filled"]["avgPx"]) == Decimal("3000.5") / Decimal("1.5")
    state = info_for(sim).user_state(address())
    [pos] = state["assetPositions"]
    assert pos["position"]["szi"] == "1.5" and pos["position"]["leverage"] == {"type": "cross", "value": 20}
    # the consumed levels stay consumed: the best ask is now what is left at 2001
    assert info_for(sim).l2_snapshot("ETH")["levels"][1][0] == {"px": "2001.0", "sz": "1.5", "n": 1}

    [closed] = statuses(ex.market_close("ETH"))
    assert closed["filled"]["totalSz"] == "1.5"
    fills = info_for(sim).user_fills(address())  # newest first
    close_fills, open_fills = fills[:2], fills[2:]
    assert [f["dir"] for f in fills] == ["Close Long", "Close Long", "Open Long", "Open Long"]
    assert sum(Decimal(f["closedPnl"]) for f in close_fills) == Decimal("2998") - Decimal("3000.5")
    assert sum(Decimal(f["fee"]) for f in open_fills) == Decimal("3000.5") * Decimal("0.00045")
    assert all(f["crossed"] for f in fills)
    state = info_for(sim).user_state(address())
    assert state["assetPositions"] == []
    expected = Decimal(10_000) - Decimal("2.5") - (Decimal("3000.5") + Decimal("2998")) * Decimal("0.00045")
    assert Decimal(state["marginSummary"]["accountValue"]) == expected.quantize(Decimal("0.000001"))


def test_ioc_that_cannot_match_and_alo_that_would_cross_get_the_exchange_errors(sim):
    ex = exchange_for(sim)
    assert statuses(ex.order("ETH", True, 0.01, 1990.0, {"limit": {"tif": "Ioc"}})) == [
        {"error": "Order could not immediately match against any resting orders."}
    ]
    assert statuses(ex.order("ETH", True, 0.01, 2000.0, {"limit": {"tif": "Alo"}})) == [
        {"error": "Post only order would have immediately matched, bbo was 1999.0@2000.0."}
    ]
    assert statuses(ex.order("ETH", False, 0.01, 2100.0, {"limit": {"tif": "Ioc"}}, reduce_only=True)) == [
        {"error": "Reduce only order would increase position."}
    ]
    assert statuses(ex.order("ETH", True, 0.001, 2000.0, {"limit": {"tif": "Gtc"}})) == [
        {"error": "Order must have minimum value of $10."}
    ]
    assert statuses(ex.order("ETH", True, 200.0, 1990.0, {"limit": {"tif": "Gtc"}})) == [
        {"error": "Insufficient margin to place order."}
    ]


def test_resting_order_fills_as_maker_when_the_next_book_crosses_it(sim):
    ex = exchange_for(sim)
    [status] = statuses(ex.order("ETH", True, 0.5, 1995.0, {"limit": {"tif": "Gtc"}}))
    oid = status["resting"]["oid"]
    t = later(sim, 1000)
    sim.call(lambda: sim.server.ingest(book_msg("ETH", [("1993.0", "1.0")], [("1994.0", "3.0")], t), t))
    [fill] = info_for(sim).user_fills(address())
    assert (fill["oid"], fill["px"], fill["sz"], fill["crossed"]) == (oid, "1995.0", "0.5", False)
    assert Decimal(fill["fee"]) == Decimal("997.5") * Decimal("0.00015")
    assert info_for(sim).query_order_by_oid(address(), oid)["order"]["status"] == "filled"


def test_resting_order_fills_when_a_replayed_trade_prints_through_it(sim):
    ex = exchange_for(sim)
    statuses(ex.order("ETH", False, 0.5, 2005.0, {"limit": {"tif": "Gtc"}}))
    trade = {
        "channel": "trades",
        "data": [
            {
                "coin": "ETH",
                "side": "B",
                "px": "2006.0",
                "sz": "0.1",
                "hash": "0x0",
                "time": later(sim, 1000),
                "tid": 1,
                "users": [],
            }
        ],
    }
    sim.call(lambda: sim.server.ingest(trade, trade["data"][0]["time"]))
    [fill] = info_for(sim).user_fills(address())
    assert (fill["side"], fill["px"], fill["sz"], fill["dir"]) == ("A", "2005.0", "0.5", "Open Short")


def test_normal_tpsl_children_wait_for_the_parent_then_take_profit_cancels_the_stop(sim):
    ex = exchange_for(sim)
    parent = {
        "coin": "ETH",
        "is_buy": True,
        "sz": 1.0,
        "limit_px": 1995.0,
        "order_type": {"limit": {"tif": "Gtc"}},
        "reduce_only": False,
    }
    tp = {
        "coin": "ETH",
        "is_buy": False,
        "sz": 1.0,
        "limit_px": 2100.0,
        "reduce_only": True,
        "order_type": {"trigger": {"isMarket": True, "triggerPx": 2100.0, "tpsl": "tp"}},
    }
    sl = {
        "coin": "ETH",
        "is_buy": False,
        "sz": 1.0,
        "limit_px": 1900.0,
        "reduce_only": True,
        "order_type": {"trigger": {"isMarket": True, "triggerPx": 1900.0, "tpsl": "sl"}},
    }
    resp = statuses(ex.bulk_orders([parent, tp, sl], grouping="normalTpsl"))
    assert resp[1:] == ["waitingForFill", "waitingForFill"]
    [front] = info_for(sim).frontend_open_orders(address())
    assert [c["orderType"] for c in front["children"]] == ["Take Profit Market", "Stop Market"]

    t1 = later(sim, 1000)
    sim.call(lambda: sim.server.ingest(book_msg("ETH", [("1993.0", "5.0")], [("1994.0", "5.0")], t1), t1))
    orders = info_for(sim).frontend_open_orders(address())
    assert sorted(o["triggerCondition"] for o in orders) == ["Price above 2100.0", "Price below 1900.0"]

    t2 = t1 + 1000
    sim.call(lambda: sim.server.ingest(book_msg("ETH", [("2100.0", "5.0")], [("2101.0", "5.0")], t2), t2))
    info = info_for(sim)
    assert info.frontend_open_orders(address()) == []
    assert info.user_state(address())["assetPositions"] == []
    close = info.user_fills(address())[0]
    assert (close["dir"], close["px"], close["closedPnl"]) == ("Close Long", "2100.0", "105.0")
    sl_oid = resp[0]["resting"]["oid"] + 2
    assert info.query_order_by_oid(address(), sl_oid)["order"]["status"] == "siblingFilledCanceled"


def test_update_leverage_changes_margin_and_is_reported(sim):
    ex = exchange_for(sim)
    assert ex.update_leverage(5, "ETH", is_cross=True) == {"status": "ok", "response": {"type": "default"}}
    statuses(ex.market_open("ETH", True, 1.0))
    [pos] = info_for(sim).user_state(address())["assetPositions"]
    assert pos["position"]["leverage"] == {"type": "cross", "value": 5}
    assert Decimal(pos["position"]["marginUsed"]) == Decimal(pos["position"]["positionValue"]) / 5
    assert ex.update_leverage(51, "ETH")["status"] == "err"


def test_schedule_cancel_cancels_every_open_order_at_the_deadline(sim):
    ex = exchange_for(sim)
    statuses(ex.order("ETH", True, 0.01, 1990.0, {"limit": {"tif": "Gtc"}}))
    now = sim.call(sim.server.clock.now_ms)
    assert ex.schedule_cancel(now + 60_000) == {"status": "ok", "response": {"type": "default"}}
    assert ex.schedule_cancel(now + 1_000)["status"] == "err"  # less than 5 s ahead
    assert len(info_for(sim).open_orders(address())) == 1
    sim.call(lambda: (sim.server.engine.advance(now + 60_001), sim.server.flush()))
    assert info_for(sim).open_orders(address()) == []


def test_hourly_funding_is_charged_to_longs_at_the_replayed_rate(sim):
    ex = exchange_for(sim)
    statuses(ex.market_open("ETH", True, 1.0))
    ctx = {
        "channel": "activeAssetCtx",
        "data": {
            "coin": "ETH",
            "ctx": {
                "funding": "0.0001",
                "openInterest": "1.0",
                "prevDayPx": "2000.0",
                "dayNtlVlm": "0.0",
                "premium": "0.0002",
                "oraclePx": "2000.0",
                "markPx": "2000.0",
                "midPx": "2000.0",
                "impactPxs": ["1999.0", "2001.0"],
                "dayBaseVlm": "0.0",
            },
        },
    }
    engine = sim.server.engine
    before = sim.call(lambda: engine.accounts[address()].balance)
    now = sim.call(sim.server.clock.now_ms)
    sim.call(lambda: sim.server.ingest(ctx, now))
    next_hour = (now // 3_600_000 + 1) * 3_600_000
    sim.call(lambda: (engine.advance(next_hour), sim.server.flush()))
    after = sim.call(lambda: engine.accounts[address()].balance)
    assert after - before == Decimal("-0.2")  # 1 ETH x 2000 x 0.0001
    [row] = info_for(sim).funding_history("ETH", 0, next_hour)
    assert row == {"coin": "ETH", "fundingRate": "0.0001", "premium": "0.0002", "time": next_hour}
    [pos] = info_for(sim).user_state(address())["assetPositions"]
    assert pos["position"]["cumFunding"]["allTime"] == "0.2"
