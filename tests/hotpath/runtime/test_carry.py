"""The funding carry on a running hot path against the simulator, over real sockets.

The market is a BTC book fed by the test (mid 42 800.5, 1 USD ticks) with an ``activeAssetCtx``
whose funding rate the test sets; the simulator streams the UBTC/USDC pair's book (the perp's at
its −1 bp basis) on /ws. Funding goes extreme → the hot path's carry buys UBTC and shorts BTC
of the same size, through the Protector path, with no stop or take-profit on the short; the
simulator's hour boundary pays the short its funding; funding normalises → both legs close and
the USDC goes back to perp. A breaker (drawdown: the rate flips and the hour's payment costs
the account) closes the carry and keeps it out. Every amount is read back from the simulator's
own API (the SDK's ``Info``), and compared with what the hot path publishes (``carry.BTC``).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from hyperliquid.info import Info

from tests.hotpath.runtime.harness import market_pulse, rig, risk_file
from tests.sim.exchange.conftest import book_msg
from tripwire.contracts.events import TriggerFired, check_payload
from tripwire.sim.exchange.engine import HOUR_MS

MID = 42_800.5
NOTIONAL = 1000.0
BASELINE = 0.0000125  # Hyperliquid's 0.125 bps/h
EXTREME = 0.001  # 10 bps/h: net of the ≈0.96 bps/h hurdle far above entry (2)


def carry_file(tmp_path) -> str:
    p = tmp_path / "carry.yaml"
    p.write_text(
        "coins:\n  BTC:\n    enabled: true\n    spot: UBTC/USDC\n"
        f"    notional_usd: {NOTIONAL}\n    entry_bps_per_hour: 2.0\n    exit_bps_per_hour: 0.0\n"
    )
    return str(p)


def no_rules(tmp_path) -> str:
    p = tmp_path / "no-rules.yaml"
    p.write_text("allow_empty: true\nrules: {}\n")
    return str(p)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ctx_msg(rate: float) -> dict:
    px = f"{MID:.1f}"
    ctx = {
        "funding": f"{rate:.8f}",
        "openInterest": "1000.0",
        "prevDayPx": px,
        "dayNtlVlm": "0.0",
        "premium": "0.0",
        "oraclePx": px,
        "markPx": px,
        "midPx": px,
        "impactPxs": [px, px],
    }
    return {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": ctx}}


def market(r, rate: dict, every_s: float = 0.2):
    """A fresh BTC book and a context at ``rate["now"]`` every ``every_s``."""
    lo, hi = MID - 0.5, MID + 0.5
    bids = [(f"{lo - i:.0f}", "2") for i in range(5)]
    asks = [(f"{hi + i:.0f}", "2") for i in range(5)]

    def pulse(k: int) -> tuple[dict, int]:
        t = now_ms()
        if k % 2:
            return book_msg("BTC", bids, asks, t), t
        return ctx_msg(rate["now"]), t

    return market_pulse(r, pulse, every_s / 2)


def sdk_state(r) -> tuple[float, float, float]:
    """(perp szi of BTC, UBTC held, spot USDC) as the SDK reads them from the simulator."""
    info = Info(r.sim.url, skip_ws=True)
    perp = info.user_state(r.user)
    spot = {b["coin"]: float(b["total"]) for b in info.spot_user_state(r.user)["balances"]}
    szi = next((float(p["position"]["szi"]) for p in perp["assetPositions"] if p["position"]["coin"] == "BTC"), 0.0)
    return szi, spot.get("UBTC", 0.0), spot.get("USDC", 0.0)


def open_orders(r) -> list:
    e = r.engine
    return r.sim_call(
        lambda: [o for o in list(e.open.values()) + list(e.waiting_children.values()) if o.user == r.user]
    )


def carry_events(r, action: str) -> list[dict]:
    return [e.data for e in r.topics("carry.BTC") if e.data["action"] == action]


def settings(tmp_path) -> dict:
    return {"carry_file": carry_file(tmp_path), "triggers_file": no_rules(tmp_path)}


async def held(r) -> tuple[float, float, float]:
    return await asyncio.to_thread(sdk_state, r)


def test_extreme_funding_opens_a_hedged_carry_unbracketed_it_is_paid_and_closes_when_funding_normalises(tmp_path):
    async def go():
        rate = {"now": BASELINE}
        async with rig(tmp_path, settings_overrides=settings(tmp_path)) as r, market(r, rate):
            carry = r.proc.carry
            assert carry is not None
            await r.wait_for(lambda: carry.coins["BTC"].waits.get("below_entry", 0) >= 3, what="baseline decisions")
            assert await held(r) == (0.0, 0.0, 0.0)  # ordinary funding: flat

            rate["now"] = EXTREME
            await r.wait_for(lambda: carry_events(r, "open"), what="the carry opened")
            opened = carry_events(r, "open")[0]
            check_payload("carry.BTC", opened)
            szi, ubtc, usdc = await held(r)
            # spot long + perp short of the same size, what the hot path publishes
            assert ubtc == opened["spot_held"] and szi == -opened["perp_short"]
            assert ubtc == round(NOTIONAL / (MID + 0.5), 5) or abs(ubtc * MID - NOTIONAL) < MID * 1e-5 + 1
            assert szi == -ubtc and opened["holding"] and opened["funding_bps_per_hour"] == EXTREME * 1e4
            assert usdc < 0.02 * NOTIONAL  # the transfer's room for fee and slippage, no more

            # no stop or take-profit on the carry's short: the keeper protects only the rest (none)
            await asyncio.sleep(1.5)  # several account refreshes, each looking at the protection
            assert open_orders(r) == []
            assert r.proc.layer.protected("BTC", szi)
            assert r.proc.layer.keeper.errors == {}
            # the short is the carry's in the PnL attribution, not an unexplained position
            lots = r.proc.layer.attribution.holdings["carry.BTC"].lots
            assert abs(lots["BTC"] - szi) < 1e-12

            # the hour boundary: the exchange pays the short the hour's rate
            hour = (now_ms() // HOUR_MS + 1) * HOUR_MS
            r.sim_call(lambda: r.engine.advance(hour))
            paid = await asyncio.to_thread(
                lambda: Info(r.sim.url, skip_ws=True).post(
                    "/info", {"type": "userFunding", "user": r.user, "startTime": 0, "endTime": hour}
                )
            )
            assert len(paid) == 1
            delta = paid[0]["delta"]
            assert delta["coin"] == "BTC" and float(delta["szi"]) == szi
            assert Decimal(delta["usdc"]) > 0  # a short receives positive funding
            assert abs(float(delta["usdc"]) - (-szi) * MID * EXTREME) < 0.01

            rate["now"] = BASELINE
            await r.wait_for(lambda: carry_events(r, "close"), what="the carry closed")
            closed = carry_events(r, "close")[0]
            assert closed["reason"].startswith("funding_normalised") and not closed["holding"]
            szi, ubtc, usdc = await held(r)
            # both legs closed, the USDC back on perp (dust below the transfer's 6 decimals stays)
            assert (szi, ubtc) == (0.0, 0.0) and usdc < 1e-6
            assert open_orders(r) == []
            assert carry.coins["BTC"].opens == 1 and carry.coins["BTC"].closes == 1
            assert r.proc.risk.state == "ACTIVE"

    asyncio.run(go())


def test_a_breaker_closes_the_carry_and_keeps_it_out(tmp_path):
    """The rate flips for one hour boundary (the short pays 1 % of its notional), the drawdown
    breaker trips on the equity drop and HALTs: the carry closes both legs although the rate the
    feed shows is extreme again, and opens nothing while the state holds."""

    async def go():
        rate = {"now": EXTREME}
        async with (
            rig(
                tmp_path,
                risk_file=str(risk_file(tmp_path, max_drawdown_pct=0.05)),
                settings_overrides=settings(tmp_path),
            ) as r,
            market(r, rate),
        ):
            carry = r.proc.carry
            await r.wait_for(lambda: carry_events(r, "open"), what="the carry opened")
            szi, ubtc, _ = await held(r)
            assert szi < 0 and ubtc == -szi

            def pay_at_a_flipped_rate() -> None:
                ctx = r.engine.ctxs["BTC"]
                ctx["funding"] = "-0.01"
                r.engine.advance((now_ms() // HOUR_MS + 1) * HOUR_MS)
                ctx["funding"] = f"{EXTREME:.8f}"

            r.sim_call(pay_at_a_flipped_rate)
            await r.wait_for(lambda: r.proc.risk.state == "HALTED", what="the drawdown breaker")
            await r.wait_for(lambda: carry_events(r, "close"), what="the carry closed")
            assert carry_events(r, "close")[0]["reason"].startswith("breaker: trading_state: HALTED")
            await r.wait_for(lambda: r.proc.layer.tasks == set(), what="the flatten and the close done")
            szi, ubtc, usdc = await held(r)
            assert (szi, ubtc) == (0.0, 0.0) and usdc < 1e-6
            # kept out: the feed still shows extreme funding, the carry decides to wait
            waits = carry.coins["BTC"].waits.get("trading_state", 0)
            await r.wait_for(lambda: carry.coins["BTC"].waits.get("trading_state", 0) >= waits + 3, what="decisions")
            assert len(carry_events(r, "open")) == 1 and (await held(r))[1] == 0.0

    asyncio.run(go())


def fire(r, side: str, n: int) -> TriggerFired:
    """A trigger as the engine would fire it, straight to the order layer: a bracket of 5 % of
    equity whose stop and target are 20 ATR (of 40 USD) away, so they stay open."""
    exch_ms = r.proc.hp.exchange_time_ms()
    now = time.monotonic_ns()
    ev = TriggerFired(
        f"probe_{side}.BTC.{exch_ms}.{100 + n}",
        f"probe_{side}",
        "BTC",
        side,
        {"atr_1m": 40.0},
        [("place_bracket", {"size_frac": 0.05, "tp_atr": 20, "sl_atr": 20})],
        exch_ms * 1_000_000,
        now,
        now,
    )
    r.proc.layer.on_trigger(ev)
    return ev


def test_the_carrys_short_wins_the_one_way_rule_and_only_a_triggers_own_part_is_bracketed(tmp_path):
    """One-way netting with the carry: its short is the coin's position, so a long trigger is
    refused (netting it would unhedge the spot leg) and a short trigger adds — and the keeper
    brackets that trigger's part alone, before and after the carry closes. While the trigger
    holds the coin the carry opens nothing."""

    async def go():
        rate = {"now": EXTREME}
        async with rig(tmp_path, settings_overrides=settings(tmp_path)) as r, market(r, rate):
            carry = r.proc.carry
            await r.wait_for(lambda: carry_events(r, "open"), what="the carry opened")
            carried, _, _ = await held(r)

            fire(r, "long", 1)
            await r.wait_for(lambda: r.topics("order.refused."), what="the long trigger refused")
            refusal = r.topics("order.refused.")[0].data["error"]
            assert refusal.startswith("opposite_position") and "funding carry's hedged short" in refusal
            assert (await held(r))[0] == carried  # nothing netted against the hedge

            fire(r, "short", 2)
            await r.wait_for(
                lambda: r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")) < carried,
                what="the short trigger filled",
            )
            await r.proc.layer.drain()

            def brackets() -> list[tuple[str, float]]:
                # the stop is a trigger; the take-profit a trigger or, once the position is open
                # and its price passive, a resting reduce-only Alo limit (docs/EXECUTION.md)
                return sorted(
                    (o.trigger.tpsl if o.trigger else "tp", float(o.sz))
                    for o in open_orders(r)
                    if o.trigger or (o.reduce_only and o.tif == "Alo")
                )

            szi, _, _ = await held(r)
            own = round(carried - szi, 5)  # the trigger's part of the short
            assert own > 0
            await r.wait_for(lambda: brackets() == [("sl", own), ("tp", own)], what="the trigger's part bracketed")

            rate["now"] = BASELINE
            await r.wait_for(lambda: carry_events(r, "close"), what="the carry closed")
            szi, ubtc, _ = await held(r)
            assert ubtc == 0.0 and round(-szi, 5) == own  # the carry bought back its own short only
            await r.proc.layer.drain()
            assert brackets() == [("sl", own), ("tp", own)]

            rate["now"] = EXTREME  # extreme again, but a rule holds the coin
            await r.wait_for(lambda: carry.coins["BTC"].waits.get("trigger", 0) >= 3, what="the carry waiting")
            assert len(carry_events(r, "open")) == 1

    asyncio.run(go())


def test_a_hedge_the_exchange_does_not_list_stops_start_up_naming_file_and_key(tmp_path):
    from tripwire.bus.addresses import default_addresses
    from tripwire.config.endpoints import endpoints
    from tripwire.config.settings import load_settings
    from tripwire.hotpath.execution.gateway import Gateway
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.runtime.process import HotPathProcess
    from tripwire.hyperliquid.signing import Signer
    from tripwire.sim.exchange.engine import SimEngine
    from tripwire.sim.exchange.exchange import ExchangeApi
    from tripwire.sim.exchange.server import SimServer, start_in_thread

    p = tmp_path / "carry-bad.yaml"
    p.write_text(
        "coins:\n  BTC:\n    enabled: true\n    spot: UDOGE/USDC\n"
        "    notional_usd: 100\n    entry_bps_per_hour: 2\n    exit_bps_per_hour: 0\n"
    )
    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))
    base = load_settings("config/settings.yaml")
    s = load_settings(
        "config/settings.yaml",
        exchange=base.exchange.model_copy(update={"api_url": sim.url}),
        carry_file=str(p),
    )
    signer = Signer("0x" + "5a" * 32, False)
    proc = HotPathProcess(
        s, RiskManager(load_risk_config("config/risk.yaml")), endpoints(s), signer, default_addresses(tmp_path / "bus")
    )

    async def go() -> str:
        gw = Gateway(signer, sim.url)
        await gw.start()
        try:
            await proc._make_carry(gw, None, None, {})  # type: ignore[arg-type]  # refused before they are used
        except SystemExit as e:
            return str(e)
        finally:
            await gw.close()
        return "accepted"

    try:
        said = asyncio.run(go())
    finally:
        sim.stop()
    assert f"{p}: coins.BTC.spot: no spot pair 'UDOGE/USDC' (the exchange lists UBTC/USDC" in said


def test_a_restarted_hot_path_adopts_the_carry_before_protecting_and_brackets_nothing(tmp_path):
    """The same account comes back with a carry open (as after a crash): the carry's short is
    adopted before the reconcile protects positions — even with ``unprotected: flatten``, which
    would close a naked position — and it still closes on its exit rule."""
    from tripwire.sim.exchange.engine import SimEngine
    from tripwire.sim.exchange.exchange import ExchangeApi
    from tripwire.sim.exchange.server import SimServer, start_in_thread

    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))
    key = "0x" + "7c" * 32

    async def go():
        rate = {"now": EXTREME}
        async with rig(tmp_path, sim=sim, key=key, settings_overrides=settings(tmp_path)) as r, market(r, rate):
            await r.wait_for(lambda: carry_events(r, "open"), what="the carry opened")
            before = await held(r)
        # stopping: the feeds' end reads as a disconnect (a breaker), yet nothing was unwound
        assert await held(r) == before and r.proc.carry.coins["BTC"].closes == 0
        async with (
            rig(
                tmp_path,
                sim=sim,
                key=key,
                fund_usdc=None,
                execution={"unprotected_positions": "flatten"},
                settings_overrides=settings(tmp_path),
            ) as r,
            market(r, rate),
        ):
            assert r.proc.restart["flattened"] == [] and r.proc.restart["unprotected"] == []
            assert r.proc.carry.share("BTC") == before[0]
            await asyncio.sleep(1.0)
            assert await held(r) == before and open_orders(r) == []
            rate["now"] = BASELINE
            await r.wait_for(lambda: carry_events(r, "close"), what="the adopted carry closed")
            szi, ubtc, _ = await held(r)
            assert (szi, ubtc) == (0.0, 0.0)

    try:
        asyncio.run(go())
    finally:
        sim.stop()
