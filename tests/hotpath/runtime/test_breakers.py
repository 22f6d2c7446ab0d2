"""Each circuit breaker trips on a scenario built for it, with the hot path running against the
simulator over real sockets, and takes its action on the exchange."""

import asyncio

from tests.hotpath.runtime.harness import fresh_market, probe_rules, rig, risk_file, warm_file
from tests.sim.exchange.conftest import book_msg
from tripwire.bus.commands import AsyncCommandClient
from tripwire.hotpath.execution.orders import parse_cloid

SPEED = 300


def sim_open_count(r) -> int:
    """Orders the simulator holds for the hot path's account (resting or waiting triggers)."""
    e = r.engine
    return r.sim_call(
        lambda: sum(1 for o in list(e.open.values()) + list(e.waiting_children.values()) if o.user == r.user)
    )


def breaker_events(r, name):
    return [e.data for e in r.topics(f"risk.breaker.{name}")]


def sim_orders(r) -> list:
    """(is_buy, sz, reduce_only, tpsl or None, cloid) of every order the simulator holds for us."""
    e = r.engine
    return r.sim_call(
        lambda: [
            (o.is_buy, float(o.sz), o.reduce_only, o.trigger and o.trigger.tpsl, o.cloid)
            for o in list(e.open.values()) + list(e.waiting_children.values())
            if o.user == r.user
        ]
    )


def test_latency_breaker_cancels_all_when_tick_to_trade_is_too_slow(tmp_path):
    async def go():
        async with rig(
            tmp_path,
            risk_file=str(risk_file(tmp_path, tick_to_trade_ms=0.001)),
            settings_overrides={"triggers_file": probe_rules(tmp_path)},
        ) as r:
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(lambda: breaker_events(r, "latency"), what="latency trip")
            await r.proc.layer.drain()
            assert r.proc.risk.state == "REDUCING"
            await r.wait_for(lambda: r.topics("order.canceled.BTC"), what="orders cancelled")
            assert breaker_events(r, "latency")[0]["action"] == "cancel_all"
            # Every order went; the open long got a stop and a take-profit back at once (a
            # cancel-all never leaves a position naked while the hot path runs): reduce-only,
            # one of each, sized to the position.
            szi = float(r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")))
            assert szi > 0

            def only_protection():
                orders = sim_orders(r)
                # the take-profit a trigger or resting post-only: its leg by its cloid
                kinds = sorted(tpsl or parse_cloid(c).leg for _, _, _, tpsl, c in orders)
                return kinds == ["sl", "tp"] and all(ro and not buy and sz == szi for buy, sz, ro, _, _ in orders)

            await r.wait_for(only_protection, what="protection back, nothing else")
            await r.proc.layer.drain()
            tracked = {o["cloid"] for o in r.proc.layer.status()["open_orders"]}
            assert {c for *_, c in sim_orders(r)} == tracked  # tracked as ours

    asyncio.run(go())


def test_drawdown_breaker_flattens_and_halts(tmp_path):
    async def go():
        async with rig(
            tmp_path,
            risk_file=str(risk_file(tmp_path, max_drawdown_pct=0.05)),
            settings_overrides={"triggers_file": probe_rules(tmp_path, size_frac=0.2)},
        ) as r:
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(
                lambda: (
                    r.proc.layer.account.positions.get("BTC") is not None
                    and r.proc.layer.account.positions["BTC"].szi > 0
                ),
                what="long open",
            )
            # The market drops 1 % (book and mark): a 0.2 × equity long loses ~0.2 % of equity.
            mid = r.proc.hp.mids()["BTC"]
            t = r.proc._exch_ms() + 1000
            lo = round(mid * 0.99)
            book = book_msg(
                "BTC", [(str(lo - 1), "5"), (str(lo - 2), "5")], [(str(lo + 1), "5"), (str(lo + 2), "5")], t
            )
            ctx = {**r.sim_call(lambda: r.engine.ctxs["BTC"]), "markPx": str(lo), "midPx": str(lo), "oraclePx": str(lo)}
            for msg in (book, {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": ctx}}):
                r.sim_call(lambda: r.sim.server.ingest(msg, t))
            await r.wait_for(lambda: breaker_events(r, "drawdown"), what="drawdown trip")
            await r.wait_for(
                lambda: r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")) == 0,
                what="position flattened on the exchange",
            )
            assert r.proc.risk.state == "HALTED"
            assert breaker_events(r, "drawdown")[0]["action"] == "flatten"

    asyncio.run(go())


def test_a_breaker_flatten_that_misses_the_book_is_tried_again_until_flat(tmp_path):
    # The gap that trips the breaker can leave the close unmatched: its price is the mid less a
    # slippage allowance, and a book whose bids fell further than that has nothing to sell into.
    async def go():
        async with rig(
            tmp_path,
            risk_file=str(risk_file(tmp_path, max_drawdown_pct=0.05)),
            settings_overrides={"triggers_file": probe_rules(tmp_path, size_frac=0.2)},
        ) as r:
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(
                lambda: (
                    r.proc.layer.account.positions.get("BTC") is not None
                    and r.proc.layer.account.positions["BTC"].szi > 0
                ),
                what="long open",
            )
            mid = r.proc.hp.mids()["BTC"]
            t = r.proc._exch_ms() + 1000

            def market(bid: float, ask: float, mark: float, at: int) -> None:
                book = book_msg(
                    "BTC", [(str(round(bid)), "5"), (str(round(bid) - 1), "5")], [(str(round(ask)), "5")], at
                )
                ctx = {
                    **r.sim_call(lambda: r.engine.ctxs["BTC"]),
                    "markPx": str(round(mark)),
                    "midPx": str(round(mark)),
                }
                for msg in (book, {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": ctx}}):
                    r.sim_call(lambda: r.sim.server.ingest(msg, at))

            # bids 2 % down, asks where they were: the mid (1 % down) is 1 % above the best bid
            market(mid * 0.98, mid, mid * 0.99, t)
            await r.wait_for(lambda: breaker_events(r, "drawdown"), what="drawdown trip")
            await r.wait_for(lambda: r.proc.layer._flattens >= 1, what="a first close sent")
            await asyncio.sleep(0.3)
            assert r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")) > 0  # it missed
            market(mid * 0.99 - 1, mid * 0.99 + 1, mid * 0.99, t + 500)  # the book closes up
            await r.wait_for(
                lambda: r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")) == 0,
                what="position flattened on the exchange",
            )
            assert r.proc.risk.state == "HALTED"

    asyncio.run(go())


def test_stale_data_breaker_opens_nothing_until_data_is_fresh(tmp_path):
    async def go():
        async with rig(
            tmp_path,
            risk_file=str(risk_file(tmp_path, max_age_ms=300)),
            settings_overrides={"triggers_file": probe_rules(tmp_path, cooldown_s=0, max_active=10)},
        ) as r:
            await r.replay(SPEED, files=(warm_file(tmp_path),))
            await r.wait_for(lambda: breaker_events(r, "stale_data"), what="stale trip")
            client = AsyncCommandClient(r.proc.addresses.commands, timeout_s=5)
            try:
                fired = await client.call("fire_rule", {"rule": "probe_long", "coin": "BTC"})
            finally:
                client.close()
            await r.proc.layer.drain()
            plan = r.proc.layer.plans[fired["trigger_id"]][0]
            assert plan["refused"].startswith("stale_data"), plan

    asyncio.run(go())


def test_order_error_breaker_pauses_after_repeated_rejections(tmp_path):
    # Limits opened wide so our own checks pass, and the account set to 1× leverage: after four
    # quarter-equity entries the exchange refuses every further one for want of margin.
    risk = risk_file(
        tmp_path, max_size_frac_per_trigger=1.0, max_position_usd_per_coin=1e9, max_total_position_usd=1e9, max_errors=3
    )

    async def go():
        async with rig(
            tmp_path,
            risk_file=str(risk),
            settings_overrides={"triggers_file": probe_rules(tmp_path, size_frac=0.25, cooldown_s=0, max_active=20)},
        ) as r:
            r.sim_call(lambda: r.engine.accounts[r.user].leverage.__setitem__("BTC", (True, 1)))
            # A replay 300× faster than real time would end with the simulator's clock falling
            # back 17 minutes to the wall clock; the hot path takes that as a new timeline and
            # starts its features (ATR, which the brackets need) cold. Hold the clock where it was.
            await r.replay(SPEED, files=(warm_file(tmp_path),), hold=True)
            async with fresh_market(r):
                client = AsyncCommandClient(r.proc.addresses.commands, timeout_s=5)
                try:
                    for _ in range(12):
                        if breaker_events(r, "order_errors"):
                            break
                        await client.call("fire_rule", {"rule": "probe_long", "coin": "BTC"})
                        await r.proc.layer.drain()
                    await r.wait_for(lambda: breaker_events(r, "order_errors"), what="order-error trip")
                    assert r.proc.risk.state == "REDUCING"
                    # paused: the next trigger opens nothing, and says why
                    fired = await client.call("fire_rule", {"rule": "probe_long", "coin": "BTC"})
                    await r.proc.layer.drain()
                    plan = r.proc.layer.plans[fired["trigger_id"]][0]
                    assert plan["refused"].startswith("trading_state"), plan
                finally:
                    client.close()

    asyncio.run(go())
