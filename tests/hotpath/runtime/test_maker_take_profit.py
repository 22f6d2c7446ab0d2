"""The take-profit as a maker exit, against the simulator over real sockets: once the bracket's
entry has filled, the take-profit rests as a reduce-only post-only (Alo) limit at its price and
a hit is charged the maker fee; the stop stays an exchange trigger order; either filling
cancels the other; a post-only take-profit the exchange refuses (it would cross) falls back to
a trigger take-profit, with the reason on the leg."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from tests.hotpath.runtime.harness import invariant_violation, probe_rules, rig, warm_file
from tests.sim.exchange.conftest import book_msg
from tripwire.hotpath.execution.orders import parse_cloid
from tripwire.hotpath.execution.protection import protected_px
from tripwire.sim.exchange.engine import Fees

SPEED = 300


def our_orders(r) -> dict[str, object]:
    """The simulator's open orders of our account by leg (tp, sl): its own Order objects."""

    def read():
        out = {}
        for o in r.engine.user_open_orders(r.user):
            info = parse_cloid(o.cloid)
            if info is not None and info.leg in ("tp", "sl"):
                assert info.leg not in out, f"two {info.leg} orders"
                out[info.leg] = o
        return out

    return r.sim_call(read)


def position(r) -> float:
    return float(r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")))


async def opened_with_a_resting_take_profit(r, tmp_path) -> tuple[object, object]:
    """The probe rule's long (TP and SL 20 ATR away), its take-profit resting: (tp, sl)."""
    await r.replay(SPEED, files=(warm_file(tmp_path),), hold=True)
    await r.wait_for(
        lambda: position(r) > 0 and {"tp", "sl"} <= set(our_orders(r)) and our_orders(r)["tp"].trigger is None,
        what="the long, its take-profit resting as a limit",
    )
    await r.proc.layer.drain()
    orders = our_orders(r)
    return orders["tp"], orders["sl"]


def ingest(r, msg: dict, at: int) -> None:
    r.sim_call(lambda: r.sim.server.ingest(msg, at))


def test_the_take_profit_rests_post_only_reduce_only_and_a_hit_pays_the_maker_fee(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}) as r:
            tp, sl = await opened_with_a_resting_take_profit(r, tmp_path)
            szi = position(r)
            target = r.proc.layer.keeper.targets["BTC"]
            # the take-profit: a post-only reduce-only sell of the whole position at the target
            assert (tp.tif, tp.reduce_only, tp.is_buy, tp.trigger) == ("Alo", True, False, None)
            assert float(tp.limit_px) == target.tp_px and float(tp.sz) == szi
            # the stop: still an exchange trigger order
            assert sl.trigger is not None and sl.trigger.tpsl == "sl" and sl.reduce_only
            assert float(sl.trigger.trigger_px) == target.sl_px and float(sl.sz) == szi
            leg = r.proc.layer.tracker.leg_by_cloid(tp.cloid)
            assert leg.state == "resting" and leg.note is None
            assert r.proc.layer.protected("BTC", szi)

            # a book whose bid crosses the take-profit: it fills, as maker, at its own price
            px = Decimal(str(target.tp_px))
            at = r.proc._exch_ms() + 1000
            ingest(r, book_msg("BTC", [(str(px + 1), "100")], [(str(px + 2), "100")], at), at)
            await r.wait_for(lambda: position(r) == 0, what="the take-profit filled")
            fills = r.sim_call(lambda: [f for f in r.engine.accounts[r.user].fills if f.get("cloid") == tp.cloid])
            assert fills and all(not f["crossed"] and Decimal(f["px"]) == px for f in fills)
            for f in fills:  # the maker rate, not the taker's (the fill record shows 6 decimals)
                assert abs(Decimal(f["fee"]) - Decimal(f["px"]) * Decimal(f["sz"]) * Fees().maker) <= Decimal("1e-6")
            # one cancels the other: the stop goes once the position is flat
            await r.wait_for(lambda: our_orders(r) == {}, what="the stop cancelled")
            assert r.proc.layer.tracker.leg_by_cloid(sl.cloid).state == "canceled"
            assert invariant_violation(r) is None

    asyncio.run(go())


def test_a_stop_fill_cancels_the_resting_take_profit(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}) as r:
            tp, sl = await opened_with_a_resting_take_profit(r, tmp_path)
            stop_px = Decimal(str(r.proc.layer.keeper.targets["BTC"].sl_px))
            # the market falls through the stop: a book there, and the mark with it
            at = r.proc._exch_ms() + 1000
            ingest(r, book_msg("BTC", [(str(stop_px - 20), "100")], [(str(stop_px - 19), "100")], at), at)
            ctx = r.sim_call(lambda: dict(r.engine.ctxs.get("BTC") or {}))
            if ctx:  # the mark is the asset context's when the replay had one
                mark = str(stop_px - Decimal("19.5"))
                ctx.update(markPx=mark, midPx=mark, oraclePx=mark)
                ingest(r, {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": ctx}}, at + 1)
            await r.wait_for(lambda: position(r) == 0, what="the stop filled")
            stop_fills = r.sim_call(lambda: [f for f in r.engine.accounts[r.user].fills if f.get("cloid") == sl.cloid])
            assert stop_fills and all(f["crossed"] for f in stop_fills)  # a stop exits as a taker
            await r.wait_for(lambda: our_orders(r) == {}, what="the resting take-profit cancelled")
            assert r.proc.layer.tracker.leg_by_cloid(tp.cloid).state == "canceled"
            assert not any(f.get("cloid") == tp.cloid for f in r.sim_call(lambda: r.engine.accounts[r.user].fills))

    asyncio.run(go())


def test_a_post_only_take_profit_the_exchange_refuses_falls_back_to_a_trigger(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}) as r:
            await opened_with_a_resting_take_profit(r, tmp_path)
            layer = r.proc.layer
            bid, _ask = r.proc.hp.pipeline.coins["BTC"].book.best_bid, r.proc.hp.pipeline.coins["BTC"].book.best_ask
            # The exchange's book moves up before the hot path hears of it (straight into the
            # simulator's matching, nothing published): a take-profit just above the bid the hot
            # path knows is passive to it, and crosses on the exchange.
            new_tp = round(bid + 5)
            at = r.proc._exch_ms() + 1000
            data = book_msg("BTC", [(str(new_tp + 10), "100")], [(str(new_tp + 11), "100")], at)["data"]
            r.sim_call(lambda: r.engine.on_l2book(data))
            target = replace(layer.keeper.targets["BTC"], tp_px=float(new_tp))
            layer.keeper.set_target(target)
            layer.keeper.request("BTC")
            await layer.drain()

            tps = [leg for leg in layer.tracker.legs() if leg.name == "tp" and protected_px(leg) == new_tp]
            refused = [leg for leg in tps if leg.trigger_px is None]
            assert refused and all(leg.state == "rejected" for leg in refused)
            assert "Post only order would have immediately matched" in refused[0].error
            fallback = [leg for leg in tps if leg.trigger_px == new_tp]
            assert len(fallback) == 1
            assert fallback[0].note.startswith(
                "refused by the exchange: Post only order would have immediately matched"
            )
            # the trigger take-profit reached the exchange (it may have fired at once: the mark
            # is above it)
            order = r.sim_call(lambda: r.engine.find(r.user, fallback[0].cloid))
            assert order is not None and order.is_position_tpsl and order.reduce_only

    asyncio.run(go())
