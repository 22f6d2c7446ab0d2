"""A malformed replayed message is counted and skipped whole: it never half-updates the book,
fills an order, or poisons a later funding payment."""

from __future__ import annotations

import pytest

from tests.sim.exchange.conftest import book_msg, exchange_for, later, state_fingerprint


def ingest(sim, msg: dict, t: int) -> None:
    sim.call(lambda: sim.server.ingest(msg, t))


@pytest.mark.parametrize(
    "bids, asks",
    [
        ([("1999.0", "1.0")], [("2000.0", "NaN")]),  # bids fine, asks bad: neither applied
        ([("1999.0", "1.0")], [("1E+999999999", "1.0")]),
        ([("1999.0", "0")], [("2000.0", "1.0")]),
        ([("-1999.0", "1.0")], [("2000.0", "1.0")]),
        ([("sNaN", "1.0")], [("2000.0", "1.0")]),
    ],
)
def test_a_book_with_a_bad_level_is_skipped_and_the_book_is_unchanged(sim, bids, asks):
    before = state_fingerprint(sim)
    counted = sim.server.bad_market_messages
    ingest(sim, book_msg("ETH", bids, asks, later(sim, 1000)), later(sim, 1000))
    assert sim.server.bad_market_messages == counted + 1
    assert state_fingerprint(sim) == before


def test_a_trades_message_with_one_bad_trade_fills_nothing(sim):
    ex = exchange_for(sim)
    assert (
        "resting" in ex.order("ETH", True, 0.01, 1990.0, {"limit": {"tif": "Gtc"}})["response"]["data"]["statuses"][0]
    )
    t = later(sim, 1000)
    trade = {"coin": "ETH", "side": "A", "px": "1980.0", "sz": "1.0", "time": t, "hash": "0x0", "tid": 1}
    before = state_fingerprint(sim)
    ingest(sim, {"channel": "trades", "data": [trade, {**trade, "px": "Infinity"}]}, t)
    assert sim.server.bad_market_messages == 1
    assert state_fingerprint(sim) == before  # the first trade printed through the bid, yet nothing filled


@pytest.mark.parametrize(
    "ctx",
    [
        {"markPx": "NaN"},
        {"markPx": "2000.0", "funding": "NaN"},
        {"markPx": "2000.0", "premium": "1e-999999999"},
        "not an object",
    ],
)
def test_an_asset_context_with_a_bad_number_is_skipped(sim, ctx):
    before = state_fingerprint(sim)
    ingest(sim, {"channel": "activeAssetCtx", "data": {"coin": "ETH", "ctx": ctx}}, later(sim, 1000))
    assert sim.server.bad_market_messages == 1
    assert state_fingerprint(sim) == before
    assert sim.call(lambda: "ETH" not in sim.server.engine.ctxs)


def test_a_null_premium_is_accepted_as_the_exchange_sends_it_and_funding_still_pays(sim):
    ctx = {"markPx": "2000.0", "funding": "0.0000125", "premium": None}
    t = later(sim, 1000)
    ingest(sim, {"channel": "activeAssetCtx", "data": {"coin": "ETH", "ctx": ctx}}, t)
    assert sim.server.bad_market_messages == 0
    sim.call(lambda: sim.server.engine.advance(t + 3_600_000))
    assert sim.call(lambda: sim.server.engine.funding_history["ETH"][-1]["premium"]) == "0.0"
