"""poll_trader_positions: tracked traders' positions from the simulator, stored on change only,
within the weight budget; a 429 or a failing API stores nothing, one bad answer skips only that
trader."""

from __future__ import annotations

from decimal import Decimal

import eth_account
import pytest

from tests.flows.scheduled.fakes import RATE_LIMITED, SERVER_ERROR, FakeExchange, run, truncated_json
from tests.flows.scheduled.samples import clearinghouse_state
from tests.sim.exchange.conftest import exchange_for, start_funded_sim, unique_sdk_nonces
from tripwire.flows.scheduled.budget import WeightBudget
from tripwire.flows.scheduled.config import PollTraderPositionsConfig
from tripwire.flows.scheduled.poll_trader_positions import run_poll_trader_positions
from tripwire.flows.scheduled.positions import parse_clearinghouse_state, position_changes
from tripwire.flows.scheduled.upstream import BadUpstreamData, InfoClient, RateLimited, UpstreamError

# The SDK's nonce is the wall-clock ms; back-to-back orders need the sim tests' fix.
pytestmark = pytest.mark.usefixtures(unique_sdk_nonces.__name__)

NOW = 1_700_000_000_000
KEYS = ["0x" + k * 32 for k in ("c1", "d2", "e3")]


def _address(key: str) -> str:
    return eth_account.Account.from_key(key).address.lower()


def _track(store, addresses: list[str]) -> None:
    for rank, a in enumerate(addresses, 1):
        store.upsert("tracked_traders", {"address": a}, {"address": a, "rank": rank, "score": 1.0 - rank / 10})


class CountingClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += s


def test_clearinghouse_state_is_read_into_positions():
    st = parse_clearinghouse_state(
        clearinghouse_state(12_000.0, [("BTC", 0.5, 100_000.0, 101_000.0), ("ETH", -2.0, 2500.0, 2450.0)]), "0xabc"
    )
    assert st.account_value == 12_000.0
    btc, eth = st.positions
    assert (btc.coin, btc.szi, btc.side, btc.position_value) == ("BTC", 0.5, "long", 50_500.0)
    assert (eth.side, eth.unrealized_pnl, eth.leverage) == ("short", 100.0, 10.0)


def test_each_kind_of_change_is_one_row_and_marks_alone_are_not_a_change():
    def state(*positions):
        return parse_clearinghouse_state(clearinghouse_state(1000.0, list(positions)), "0xa")

    def as_doc(st):
        return {"positions": [{"coin": p.coin, "szi": p.szi, "entry_px": p.entry_px} for p in st.positions]}

    before = state(("BTC", 1.0, 100.0, 100.0), ("ETH", 2.0, 10.0, 10.0), ("SOL", 5.0, 1.0, 1.0))
    after = state(
        ("BTC", 1.0, 100.0, 120.0),  # mark moved only
        ("ETH", -1.0, 11.0, 11.0),  # flipped
        ("SOL", 7.0, 1.2, 1.3),  # increased
        ("DOGE", 100.0, 0.1, 0.1),
    )  # opened
    rows = position_changes("0xa", as_doc(before), after, NOW)
    assert [(r["coin"], r["kind"]) for r in rows] == [("DOGE", "open"), ("ETH", "flip"), ("SOL", "increase")]
    closed = position_changes("0xa", as_doc(after), state(("BTC", 1.0, 100.0, 99.0)), NOW)
    assert {(r["coin"], r["kind"], r["szi"]) for r in closed} == {
        ("ETH", "close", 0.0),
        ("SOL", "close", 0.0),
        ("DOGE", "close", 0.0),
    }


def test_positions_opened_on_the_simulator_are_stored_once_and_then_only_changes(store):
    addresses = [_address(k) for k in KEYS]
    sim = start_funded_sim(addresses[0])
    try:
        for a in addresses[1:]:
            sim.call(lambda a=a: sim.server.engine.fund(a, Decimal(10_000)))
        exchange_for(sim, KEYS[0]).market_open("ETH", True, 0.5)
        exchange_for(sim, KEYS[1]).market_open("ETH", False, 0.3)
        _track(store, addresses)  # the third trader holds nothing
        cfg = PollTraderPositionsConfig(weight_per_minute=600, burst_weight=40)
        clock = CountingClock()

        async def poll(now):
            async with InfoClient(sim.url) as info:
                budget = WeightBudget(cfg.weight_per_minute, cfg.burst_weight, clock=clock, sleep=clock.sleep)
                return await run_poll_trader_positions(store, info, cfg, now, budget)

        first = run(lambda: poll(NOW))
        second = run(lambda: poll(NOW + 300_000))
        exchange_for(sim, KEYS[0]).market_open("ETH", True, 0.25)
        third = run(lambda: poll(NOW + 600_000))
    finally:
        sim.stop()

    assert (first.asked, first.stored, first.failed) == (3, 3, {})
    assert first.weight == 3 * 2 + 3 * 20  # each trader's state and open orders
    assert first.orders_polled == 3 and first.orders_failed == {}
    rows = store.find("trader_positions", sort=[("ts", 1), ("address", 1)])
    assert [(r["address"], r["kind"]) for r in rows[:2]] == sorted([(addresses[0], "open"), (addresses[1], "open")])
    assert len(second.changes) == 0  # nothing moved: no rows
    assert [(c["address"], c["kind"], c["prev_szi"], c["szi"]) for c in third.changes] == [
        (addresses[0], "increase", 0.5, 0.75)
    ]
    assert store.count("trader_positions") == 3
    state = store.find_one("trader_current_state", {"address": addresses[1]})
    assert state["ts"] == NOW + 600_000 and state["changed_ts"] == NOW
    assert [(p["coin"], p["szi"]) for p in state["positions"]] == [("ETH", -0.3)]


def test_polling_stays_within_the_weight_budget(store):
    addresses = [f"0x{i:040x}" for i in range(1, 401)]
    _track(store, addresses)
    clock = CountingClock()
    cfg = PollTraderPositionsConfig(weight_per_minute=600, burst_weight=40, max_traders=400, orders_max_traders=0)

    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            ex.info["clearinghouseState"] = clearinghouse_state(100.0, [])
            budget = WeightBudget(600, 40, clock=clock, sleep=clock.sleep)
            return await run_poll_trader_positions(store, info, cfg, NOW, budget), ex

    result, ex = run(go)
    assert result.stored == 400 and ex.count("clearinghouseState") == 400
    # 800 weight at 600/min after a 40 burst: at least 76 s of (simulated) pacing
    assert clock.now == pytest.approx((800 - 40) / 10, abs=0.5)
    # best-ranked first
    assert [r["user"] for r in ex.requests[:3]] == addresses[:3]


@pytest.mark.parametrize(
    "answer, error, words",
    [
        (RATE_LIMITED, RateLimited, "polling stopped, nothing stored"),
        (SERVER_ERROR, UpstreamError, "all 3 clearinghouseState requests failed"),
    ],
)
def test_rate_limits_and_a_failing_api_store_nothing(store, answer, error, words):
    addresses = [f"0x{i:040x}" for i in range(1, 4)]
    _track(store, addresses)
    store.upsert("trader_current_state", {"address": addresses[0]}, {"address": addresses[0], "ts": 1, "positions": []})

    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            ex.info["clearinghouseState"] = answer
            await run_poll_trader_positions(store, info, PollTraderPositionsConfig(), NOW)

    with pytest.raises(error, match=words):
        run(go)
    assert [d["ts"] for d in store.find("trader_current_state")] == [1]
    assert store.count("trader_positions") == 0


def test_one_unreadable_answer_skips_only_that_trader(store):
    good, bad = f"0x{1:040x}", f"0x{2:040x}"
    _track(store, [good, bad])
    store.upsert(
        "trader_current_state",
        {"address": bad},
        {"address": bad, "ts": 1, "positions": [{"coin": "BTC", "szi": 1.0, "entry_px": 1.0}]},
    )
    state = clearinghouse_state(500.0, [("BTC", 0.1, 100.0, 100.0)])

    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            ex.info["clearinghouseState"] = lambda body: state if body["user"] == good else truncated_json(state)
            return await run_poll_trader_positions(store, info, PollTraderPositionsConfig(), NOW)

    result = run(go)
    assert list(result.failed) == [bad] and "not valid JSON" in result.failed[bad]
    assert store.find_one("trader_current_state", {"address": bad})["ts"] == 1  # unchanged
    assert store.find_one("trader_current_state", {"address": good})["ts"] == NOW
    assert [r["address"] for r in store.find("trader_positions")] == [good]


def test_an_answer_of_the_wrong_shape_is_bad_data():
    with pytest.raises(BadUpstreamData, match="expected marginSummary"):
        parse_clearinghouse_state({"error": "x"}, "0xa")


# -- who is polled first, and open orders ------------------------------------------------------


def _tracked(n: int, active: set[int]) -> list[dict]:
    return [{"address": f"0x{i:040x}", "rank": i, "likely_active": i in active} for i in range(1, n + 1)]


def test_likely_active_traders_are_polled_first_and_get_their_orders_polled():
    from tripwire.flows.scheduled.poll_trader_positions import plan_poll

    cfg = PollTraderPositionsConfig(orders_max_traders=2, max_weight_per_run=1000)
    plan = plan_poll(_tracked(6, active={4, 6}), cfg)
    assert [int(t.address, 16) for t in plan.targets] == [4, 6, 1, 2, 3, 5]
    assert [t.orders for t in plan.targets] == [True, True, False, False, False, False]
    assert plan.weight == 6 * 2 + 2 * 20 and plan.deferred == []


def test_a_run_spends_at_most_its_weight_states_before_orders_the_rest_deferred():
    from tripwire.flows.scheduled.poll_trader_positions import plan_poll

    # 30 weight: 10 states (20), then no room for a 20-weight orders request
    plan = plan_poll(_tracked(12, active={12}), PollTraderPositionsConfig(max_weight_per_run=30))
    assert len(plan.targets) == 12 and plan.weight == 24 and not any(t.orders for t in plan.targets)
    plan = plan_poll(_tracked(12, active={12}), PollTraderPositionsConfig(max_weight_per_run=20))
    assert [int(t.address, 16) for t in plan.targets] == [12, *range(1, 10)]
    assert [int(a, 16) for a in plan.deferred] == [10, 11] and plan.weight == 20
    # the default share: four minutes of weight_per_minute
    assert PollTraderPositionsConfig(weight_per_minute=300).run_weight == 1200


def test_polling_with_orders_never_outruns_the_budget(store):
    from tripwire.flows.scheduled.budget import info_weight

    addresses = [f"0x{i:040x}" for i in range(1, 61)]
    _track(store, addresses)
    clock = CountingClock()
    cfg = PollTraderPositionsConfig(weight_per_minute=600, burst_weight=40, orders_max_traders=10)
    spent: list[tuple[float, float]] = []  # (time, weight spent by then), at each request

    def record(answer):
        def answer_and_record(body):
            total = (spent[-1][1] if spent else 0.0) + info_weight(body["type"])
            spent.append((clock.now, total))
            return answer

        return answer_and_record

    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            ex.info["clearinghouseState"] = record(clearinghouse_state(100.0, []))
            ex.info["frontendOpenOrders"] = record([])
            budget = WeightBudget(600, 40, clock=clock, sleep=clock.sleep)
            return await run_poll_trader_positions(store, info, cfg, NOW, budget), ex

    result, ex = run(go)
    assert result.weight == 60 * 2 + 10 * 20 == spent[-1][1]
    assert ex.count("frontendOpenOrders") == 10 and result.orders_polled == 10
    for t, total in spent:  # the bucket: a 40 burst, then 10 weight a second
        assert total <= 40 + 10 * t + 1e-6, (t, total)


def test_a_traders_orders_are_tracked_placed_and_gone(store):
    from tests.sim.exchange.conftest import ETH

    sim = start_funded_sim(_address(KEYS[0]))
    try:
        address = _address(KEYS[0])
        _track(store, [address])
        cfg = PollTraderPositionsConfig()

        async def poll(now):
            async with InfoClient(sim.url) as info:
                return await run_poll_trader_positions(store, info, cfg, now)

        ex = exchange_for(sim, KEYS[0])
        placed = ex.order("ETH", True, 0.5, 1900.0, {"limit": {"tif": "Gtc"}})
        oid = placed["response"]["data"]["statuses"][0]["resting"]["oid"]
        first = run(lambda: poll(NOW))
        ex.cancel("ETH", oid)
        second = run(lambda: poll(NOW + 300_000))
    finally:
        sim.stop()
    assert ETH == 1
    assert [(c["kind"], c["oid"], c["side"], c["limit_px"], c["sz"]) for c in first.order_changes] == [
        ("placed", oid, "buy", 1900.0, 0.5)
    ]
    assert [(c["kind"], c["oid"]) for c in second.order_changes] == [("gone", oid)]
    assert [r["kind"] for r in store.find("trader_orders", sort=[("ts", 1)])] == ["placed", "gone"]
    state = store.find_one("trader_current_state", {"address": address})
    assert state["open_orders"] == [] and state["orders_ts"] == NOW + 300_000


def test_a_failed_orders_request_keeps_the_state_and_the_stored_orders(store):
    address = f"0x{1:040x}"
    _track(store, [address])
    kept = [{"oid": 7, "coin": "BTC", "side": "buy", "limit_px": 1.0, "sz": 1.0}]
    store.upsert(
        "trader_current_state",
        {"address": address},
        {"address": address, "ts": 1, "positions": [], "open_orders": kept, "orders_ts": 1},
    )

    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            ex.info["clearinghouseState"] = clearinghouse_state(500.0, [])
            ex.info["frontendOpenOrders"] = SERVER_ERROR
            return await run_poll_trader_positions(store, info, PollTraderPositionsConfig(), NOW)

    result = run(go)
    assert result.stored == 1 and list(result.orders_failed) == [address]
    state = store.find_one("trader_current_state", {"address": address})
    assert state["ts"] == NOW and state["open_orders"] == kept and state["orders_ts"] == 1
    assert store.count("trader_orders") == 0
