"""The fewest actions to make the resting quotes the desired ones, and the quote budget."""

from __future__ import annotations

from tripwire.hotpath.execution.orders import Market, parse_cloid
from tripwire.hotpath.quoting.model import Quote, QuoteParams, Volatility
from tripwire.hotpath.quoting.planner import ASK, BID, CANCEL, MODIFY, PLACE, CoinQuoting, Op, Resting, plan
from tripwire.hotpath.quoting.steps import build_quote_steps
from tripwire.hyperliquid.ratelimit import RateLimiter

WANT = Quote(bid_px=999.0, ask_px=1001.0, bid_sz=0.001, ask_sz=0.001, reservation_bps=0.0, spread_bps=20.0)


def resting(bid=999.0, ask=1001.0, sz=0.001):
    return {BID: Resting(BID, bid, sz, "0xb"), ASK: Resting(ASK, ask, sz, "0xa")}


def test_nothing_resting_places_both_sides():
    assert plan(WANT, {}, 0.5) == [Op(PLACE, BID, 999.0, 0.001), Op(PLACE, ASK, 1001.0, 0.001)]


def test_a_move_within_the_refresh_threshold_sends_nothing():
    # 0.04 on 999 is 0.4 bps: under 0.5
    assert plan(WANT, resting(bid=999.04, ask=1000.96), 0.5) == []


def test_a_move_beyond_the_threshold_modifies_only_that_side():
    assert plan(WANT, resting(bid=998.9), 0.5) == [Op(MODIFY, BID, 999.0, 0.001)]


def test_a_partly_filled_quote_is_topped_up_to_its_size():
    assert plan(WANT, resting(sz=0.0004), 0.5) == [Op(MODIFY, BID, 999.0, 0.001), Op(MODIFY, ASK, 1001.0, 0.001)]


def test_pulling_cancels_what_rests_and_a_side_at_max_inventory_is_cancelled():
    assert plan(None, resting(), 0.5) == [Op(CANCEL, BID), Op(CANCEL, ASK)]
    no_bid = Quote(None, 1001.0, 0.0, 0.001, -6.0, 20.0)
    assert plan(no_bid, resting(), 0.5) == [Op(CANCEL, BID)]


def coin(capacity: float = 2.0) -> CoinQuoting:
    p = QuoteParams(0.001, 0.003, 1.0, 0.1, 0.5, 60, 0.5)
    return CoinQuoting("ETH", p, 4, Volatility(0.5), RateLimiter(capacity, per_s=60.0))


def test_the_budget_holds_back_refreshes_but_never_a_pull():
    cq = coin(capacity=1.0)
    assert cq.decide(1000.05, 1000.0, 1000.1, 0.0, "", now_s=0.0)  # one action: the budget's all
    cq.resting = {BID: Resting(BID, 990.0, 0.001, "0xb"), ASK: Resting(ASK, 1010.0, 0.001, "0xa")}
    assert cq.decide(1000.05, 1000.0, 1000.1, 0.0, "", now_s=0.0) == []  # refresh: no weight left
    assert cq.counts["budget_skipped"] == 1
    assert cq.decide(1000.05, 1000.0, 1000.1, 0.0, "breaker", now_s=0.0) == [Op(CANCEL, BID), Op(CANCEL, ASK)]


def test_an_action_in_flight_holds_every_decision():
    cq = coin()
    cq.in_flight = True
    assert cq.decide(1000.05, 1000.0, 1000.1, 0.0, "", now_s=0.0) == []


def test_steps_are_alo_orders_modifies_by_oid_and_cancels_by_cloid_with_a_new_cloid_per_revision():
    from tripwire.hotpath.execution.orders import Leg

    cq = coin()
    market = Market("ETH", 1, 4)
    old_bid = Leg(BID, "0x" + "11" * 16, "ETH", True, 0.001, 990.0, oid=7)
    old_ask = Leg(ASK, "0x" + "22" * 16, "ETH", False, 0.001, 1010.0)
    ops = [Op(MODIFY, BID, 999.0, 0.001), Op(CANCEL, ASK)]
    cancel, modify = build_quote_steps(ops, cq, market, {BID: old_bid, ASK: old_ask})
    assert cancel.action == {"type": "cancelByCloid", "cancels": [{"asset": 1, "cloid": old_ask.cloid}]}
    [m] = modify.action["modifies"]
    assert m["oid"] == 7 and m["order"]["t"] == {"limit": {"tif": "Alo"}} and m["order"]["p"] == "999"
    assert modify.replaces == [old_bid]
    [new] = modify.legs
    assert new.cloid != old_bid.cloid and parse_cloid(new.cloid).leg == "bid"
    [place] = build_quote_steps([Op(PLACE, BID, 999.0, 0.001)], cq, market, {})
    assert place.action["type"] == "order" and place.legs[0].cloid != new.cloid  # every revision its own
