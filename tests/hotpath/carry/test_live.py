"""The live carry's gating, on a real order layer and risk manager, with no exchange: which
update decides, what stale data and breakers let it do. (Its orders on the simulator:
tests/hotpath/runtime/test_carry.py.)"""

from __future__ import annotations

import asyncio

from tests.fixtures import REPO
from tripwire.hotpath.carry.config import load_carry_config
from tripwire.hotpath.carry.live import LiveCarry
from tripwire.hotpath.carry.spot import SpotPairInfo
from tripwire.hotpath.execution.layer import OrderLayer
from tripwire.hotpath.execution.orders import Market
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager

MARKETS = {"BTC": Market("BTC", 0, 5)}
PAIRS = {"BTC": SpotPairInfo("UBTC/USDC", "@0", 10_000, "UBTC", 5)}
EXTREME, BASELINE = 0.001, 0.0000125
S = 1_000_000_000  # ns


def scenario(check) -> None:
    async def go():
        risk = RiskManager(load_risk_config(REPO / "config" / "risk.yaml"))
        layer = OrderLayer(None, risk, MARKETS, mids=lambda: {"BTC": 42_800.5}, active_triggers=lambda: 0)
        now = [100 * S]
        book = {"BTC": (42_800.0, 42_801.0, "")}
        carry = LiveCarry(
            load_carry_config(REPO / "config" / "carry.yaml", ("BTC",)),
            layer,
            risk,
            MARKETS,
            PAIRS,
            perp_book=lambda coin: book[coin],
            stale_after_ms=5_000,
            now_ns=lambda: now[0],
        )
        try:
            check(carry, risk, now, book)
        finally:
            for t in list(layer.tasks):  # an open or close decided: not run (no exchange here)
                t.cancel()

    asyncio.run(go())


def decided(carry) -> list[str]:
    return [d["action"] for d in carry.coins["BTC"].decisions]


def test_only_a_funding_update_decides_and_a_stale_spot_book_opens_nothing():
    def check(carry, risk, now, book):
        for _ in range(100):
            carry.on_spot_book("@0", 42_796.0, 42_797.0, now[0])
        assert decided(carry) == [] and carry.coins["BTC"].waits == {}  # books alone decide nothing
        now[0] += 6 * S  # the spot book is 6 s old
        carry.on_ctx("BTC", EXTREME)
        assert decided(carry) == [] and carry.coins["BTC"].waits == {"spot_book": 1}
        carry.on_spot_book("@0", 42_796.0, 42_797.0, now[0])
        carry.on_ctx("BTC", BASELINE)
        assert carry.coins["BTC"].waits == {"spot_book": 1, "below_entry": 1}
        carry.on_ctx("BTC", EXTREME)
        assert decided(carry) == ["open"] and carry.coins["BTC"].busy
        carry.on_ctx("BTC", EXTREME)  # one open or close at a time
        assert decided(carry) == ["open"]

    scenario(check)


def test_a_held_carry_is_held_through_stale_data_and_closed_by_a_breaker():
    def check(carry, risk, now, book):
        cc = carry.coins["BTC"]
        cc.short = cc.spot_held = 0.02
        carry.on_spot_book("@0", 42_796.0, 42_797.0, now[0])
        book["BTC"] = (42_800.0, 42_801.0, "stale")
        carry.on_ctx("BTC", BASELINE)  # would close on funding, but the perp book is stale
        assert decided(carry) == []
        risk.stale = True
        carry.on_ctx("BTC", BASELINE)
        assert decided(carry) == []
        carry.tick()  # ACTIVE: housekeeping does nothing
        assert decided(carry) == []
        risk.pause("test")
        carry.tick()
        assert decided(carry) == ["close"]
        assert cc.decisions[0]["reason"] == "breaker: trading_state: REDUCING"
        assert carry.share("BTC") == -0.02 and carry.share("ETH") == 0.0

    scenario(check)


def test_a_breaker_keeps_a_flat_carry_out():
    def check(carry, risk, now, book):
        carry.on_spot_book("@0", 42_796.0, 42_797.0, now[0])
        risk.pause("test")
        carry.pull("breaker: test")  # nothing held: nothing to close
        carry.on_ctx("BTC", EXTREME)
        assert decided(carry) == [] and carry.coins["BTC"].waits == {"trading_state": 1}

    scenario(check)


def test_a_short_the_exchange_no_longer_has_is_not_the_carrys_and_its_spot_leg_closes():
    def check(carry, risk, now, book):
        cc = carry.coins["BTC"]
        cc.short = cc.spot_held = 0.02
        carry.on_spot_book("@0", 42_796.0, 42_797.0, now[0])
        carry.reconcile({"BTC": -0.02})  # as held: nothing to do
        assert decided(carry) == [] and carry.share("BTC") == -0.02
        carry.reconcile({})  # flattened by hand
        assert carry.share("BTC") == 0.0
        assert decided(carry) == ["close"] and cc.decisions[0]["reason"].startswith("hedge_lost")

    scenario(check)


def test_the_keeper_protects_the_position_less_the_carrys_share_as_far_as_the_position_has_it():
    from tripwire.hotpath.execution.keeper import ProtectionKeeper
    from tripwire.hotpath.execution.orders import OrderTracker

    risk = RiskManager(load_risk_config(REPO / "config" / "risk.yaml"))
    keeper = ProtectionKeeper(None, risk, MARKETS, OrderTracker())
    keeper.carry_share = lambda coin: -0.02 if coin == "BTC" else 0.0
    assert keeper.net_of_carry("BTC", -0.02) == 0.0  # the carry's alone: no bracket
    assert abs(keeper.net_of_carry("BTC", -0.03) - -0.01) < 1e-12  # a short trigger's part
    assert keeper.net_of_carry("BTC", 0.0) == 0.0  # the short went: nothing to protect
    assert keeper.net_of_carry("BTC", 0.01) == 0.01  # a long that is not the carry's
    assert keeper.net_of_carry("ETH", -0.5) == -0.5
