"""Queue position: a resting order fills only after the size ahead of it has traded.

The model alone on numbers worked by hand, then whole scenarios through the SDK against a
simulator running a queue model (the backtest's default).
"""

from __future__ import annotations

from decimal import Decimal

import eth_account
import pytest

from tests.sim.exchange.conftest import KEY_A, address, book_msg, eth_book, exchange_for, info_for, later
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.queue import QueueModel
from tripwire.sim.exchange.server import SimServer, start_in_thread

D = Decimal
LOT = D("0.0001")


# -- the model ------------------------------------------------------------------------------


def test_trades_work_through_the_size_ahead_before_anything_fills():
    m = QueueModel("risk_averse")
    q = m.new_order(D("3"))
    assert m.trade(q, D("1"), LOT) == 0 and q.ahead == D("2")
    assert m.trade(q, D("1.5"), LOT) == 0 and q.ahead == D("0.5")
    # 0.8 trades: 0.5 was still ahead, the other 0.3 is ours
    assert m.trade(q, D("0.8"), LOT) == D("0.3") and q.ahead == 0
    assert m.trade(q, D("0.25"), LOT) == D("0.25")


def test_a_fill_is_rounded_down_to_the_lot():
    m = QueueModel()
    q = m.new_order(D("1"))
    assert m.trade(q, D("1.00005"), LOT) == 0  # half a lot past the front: not a fill


def test_an_order_that_improves_the_price_is_first_in_line():
    m = QueueModel()
    q = m.new_order(D(0))
    assert m.trade(q, D("0.2"), LOT) == D("0.2")


def test_risk_averse_moves_forward_on_cancellations_only_when_the_level_shrinks_below_it():
    m = QueueModel("risk_averse")
    q = m.new_order(D("5"))
    m.depth(q, D("8"))  # others joined behind
    assert q.ahead == D("5")
    m.depth(q, D("6"))  # 2 cancelled: assumed from behind
    assert q.ahead == D("5")
    m.depth(q, D("4"))  # the level is smaller than what we thought was ahead
    assert q.ahead == D("4")
    m.depth(q, D(0))  # the level emptied without trading through us
    assert q.ahead == 0


def test_probabilistic_splits_a_cancellation_by_the_power_law_of_front_and_back():
    m = QueueModel("probabilistic", n=2.0)
    q = m.new_order(D("2"))  # front 2
    m.depth(q, D("8"))  # 6 joined behind: level 8, front 2, back 6
    assert q.ahead == D("2")
    # 4 cancelled, no trade: p(behind) = 6²/(6²+2²) = 0.9, so front loses (1-0.9)·4 = 0.4
    m.depth(q, D("4"))
    assert float(q.ahead) == pytest.approx(1.6)


def test_probabilistic_does_not_count_a_traded_decrease_twice():
    m = QueueModel("probabilistic")
    q = m.new_order(D("4"))
    assert m.trade(q, D("1"), LOT) == 0 and q.ahead == D("3")
    # the next snapshot shows the level 1 smaller: that was the trade, not a cancellation
    m.depth(q, D("3"))
    assert q.ahead == D("3")


def test_a_level_deeper_than_the_snapshot_shows_is_joined_when_it_comes_into_view():
    m = QueueModel()
    q = m.new_order(None)
    assert m.trade(q, D("10"), LOT) == 0  # nothing known: a trade at the price does not fill it
    m.depth(q, D("1.5"))
    assert q.ahead == D("1.5")
    assert m.trade(q, D("2"), LOT) == D("0.5")


def test_an_unknown_model_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="risk_averse, probabilistic"):
        QueueModel("fifo")


# -- through the SDK --------------------------------------------------------------------------


@pytest.fixture
def queued_sim():
    """A simulator with the risk-averse queue model, the ETH book (1 ETH bid at 1999), A funded."""
    engine = SimEngine(queue_model=QueueModel("risk_averse"))
    server = SimServer(engine, ExchangeApi(engine))
    running = start_in_thread(server)
    now = running.call(server.clock.now_ms)
    running.call(lambda: server.ingest(eth_book(now), now))
    running.call(lambda: engine.fund(eth_account.Account.from_key(KEY_A).address, D(10_000)))
    yield running
    running.stop()


def trade(running, px: str, sz: str, side: str = "A") -> None:
    t = later(running, 100)
    msg = {
        "channel": "trades",
        "data": [{"coin": "ETH", "side": side, "px": px, "sz": sz, "hash": "0x0", "time": t, "tid": 1, "users": []}],
    }
    running.call(lambda: running.server.ingest(msg, t))


def test_a_bid_joining_the_best_bid_fills_only_after_the_displayed_size_ahead_traded(queued_sim):
    ex = exchange_for(queued_sim)
    info = info_for(queued_sim)
    # 1.0 ETH is displayed at 1999 before us
    ex.order("ETH", True, 0.5, 1999.0, {"limit": {"tif": "Alo"}})
    trade(queued_sim, "1999.0", "0.6")
    assert info.user_fills(address()) == []  # touched, but 0.4 still ahead
    trade(queued_sim, "1999.0", "0.6")
    [fill] = info.user_fills(address())
    assert (fill["px"], fill["sz"], fill["crossed"]) == ("1999.0", "0.2", False)
    trade(queued_sim, "1999.0", "1.0")
    fills = info.user_fills(address())
    assert sum(D(f["sz"]) for f in fills) == D("0.5")
    assert info.open_orders(address()) == []


def test_a_trade_through_the_price_fills_the_whole_order_whatever_the_queue(queued_sim):
    ex = exchange_for(queued_sim)
    ex.order("ETH", True, 0.5, 1998.0, {"limit": {"tif": "Alo"}})  # 2.0 ahead at 1998
    trade(queued_sim, "1997.0", "0.1")
    [fill] = info_for(queued_sim).user_fills(address())
    assert (fill["px"], fill["sz"]) == ("1998.0", "0.5")


def test_a_snapshot_that_shrinks_the_level_moves_the_order_forward(queued_sim):
    ex = exchange_for(queued_sim)
    info = info_for(queued_sim)
    ex.order("ETH", True, 0.5, 1999.0, {"limit": {"tif": "Alo"}})  # 1.0 ahead
    t = later(queued_sim, 500)
    book = book_msg("ETH", [("1999.0", "0.3"), ("1998.0", "2.0")], [("2000.0", "1.0")], t)
    queued_sim.call(lambda: queued_sim.server.ingest(book, t))
    trade(queued_sim, "1999.0", "0.4")  # 0.3 ahead, then 0.1 of ours
    [fill] = info.user_fills(address())
    assert fill["sz"] == "0.1"


def test_an_order_inside_the_spread_is_first_in_line(queued_sim):
    ex = exchange_for(queued_sim)
    ex.order("ETH", False, 0.3, 1999.5, {"limit": {"tif": "Alo"}})  # between 1999 and 2000
    trade(queued_sim, "1999.5", "0.2", side="B")
    [fill] = info_for(queued_sim).user_fills(address())
    assert (fill["px"], fill["sz"]) == ("1999.5", "0.2")
