"""The quoting strategy on a running hot path against the simulator, over real sockets.

The market is a BTC book fed by the test (mid 42 800.5, 1 USD ticks), so every answer is known:
quotes rest post-only on both sides, a filled bid skews the next quotes down, the position
never passes max inventory, and a breaker pulls every quote at once.
"""

from __future__ import annotations

import asyncio
import time

from tests.hotpath.runtime.harness import fresh_market, market_pulse, probe_rules, rig, risk_file, warm_file
from tests.sim.exchange.conftest import book_msg
from tripwire.hotpath.execution.orders import parse_cloid

MID = 42_800.5
SIZE = 0.0005
MAX_INV = 0.001


def quoting_file(tmp_path, **over) -> str:
    cfg = {
        "enabled": "true",
        "size": SIZE,
        "max_inventory": MAX_INV,
        "spread_floor_bps": 2.0,
        "gamma": 0.1,
        "kappa": 0.58,
        "horizon_s": 60,
        "refresh_bps": 0.5,
        **over,
    }
    p = tmp_path / "quoting.yaml"
    p.write_text("coins:\n  BTC:\n" + "".join(f"    {k}: {v}\n" for k, v in cfg.items()))
    return str(p)


def no_rules(tmp_path) -> str:
    p = tmp_path / "no-rules.yaml"
    p.write_text("allow_empty: true\nrules: {}\n")
    return str(p)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def btc_book(t: int, mid: float = MID) -> dict:
    lo, hi = mid - 0.5, mid + 0.5
    return book_msg("BTC", [(f"{lo - i:.0f}", "2") for i in range(5)], [(f"{hi + i:.0f}", "2") for i in range(5)], t)


def market(r, every_s: float = 0.2):
    """A fresh BTC book every ``every_s`` (the hot path's stale-data bound is 5 s)."""

    def book(_k: int) -> tuple[dict, int]:
        t = now_ms()
        return btc_book(t), t

    return market_pulse(r, book, every_s)


def quotes(r) -> list[tuple[bool, float, float, str, str]]:
    """(is_buy, px, sz, tif, leg) of every order the simulator holds for the hot path's account
    (leg: bid, ask, tp, sl, … by its cloid)."""
    e = r.engine

    def leg(cloid: str | None) -> str:
        info = parse_cloid(cloid)
        return info.leg if info is not None else "?"

    return r.sim_call(
        lambda: sorted(
            (o.is_buy, float(o.limit_px), float(o.sz), o.tif, leg(o.cloid)) for o in e.open.values() if o.user == r.user
        )
    )


def position(r) -> float:
    return float(r.sim_call(lambda: r.engine.accounts[r.user].position("BTC")))


async def hit_bid(r, px: float) -> None:
    """A market sell printing below ``px``: the simulator fills a resting bid at ``px`` whole."""
    t = now_ms()
    msg = {
        "channel": "trades",
        "data": [
            {
                "coin": "BTC",
                "side": "A",
                "px": f"{px - 1:.0f}",
                "sz": "0.5",
                "hash": "0x0",
                "time": t,
                "tid": t,
                "users": [],
            }
        ],
    }
    await asyncio.to_thread(r.sim_call, lambda: r.sim.server.ingest(msg, t))


def limit_quotes(r) -> tuple[list, list]:
    qs = [q for q in quotes(r) if q[3] == "Alo" and q[4] in ("bid", "ask")]  # a resting take-profit is no quote
    return [q for q in qs if q[0]], [q for q in qs if not q[0]]


def settings_for(tmp_path, **quoting) -> dict:
    return {"quoting_file": quoting_file(tmp_path, **quoting), "triggers_file": no_rules(tmp_path)}


def test_quotes_rest_post_only_on_both_sides_and_skew_down_after_the_bid_fills(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides=settings_for(tmp_path)) as r, market(r):
            await r.wait_for(lambda: all(limit_quotes(r)), what="a bid and an ask resting")
            [(_, bid, bid_sz, *_)], [(_, ask, ask_sz, *_)] = limit_quotes(r)
            # post-only and around the mid: below the best ask, above the best bid
            assert bid < MID + 0.5 and ask > MID - 0.5
            assert bid < MID < ask and bid_sz == ask_sz == SIZE
            assert all(q[3] == "Alo" for q in quotes(r))
            flat_mid_offset = ((bid + ask) / 2 - MID) / MID * 1e4
            assert abs(flat_mid_offset) < 0.5  # flat: centred on the mid (to the tick)

            await hit_bid(r, bid)
            await r.wait_for(lambda: position(r) == SIZE, what="the bid filled")

            def skewed() -> bool:
                bids, asks = limit_quotes(r)
                return bool(bids and asks) and bids[0][1] < bid and asks[0][1] < ask

            await r.wait_for(skewed, what="both quotes moved down")
            status = r.proc.layer.quoter.status()["coins"]["BTC"]
            assert status["reservation_bps"] < 0  # long one quote: reservation below the mid
            # the fill was a maker fill, booked to quoting's own holder
            pnl = r.proc.layer.status()
            assert "quote.BTC" in {h for h in r.proc.layer.attribution.holdings}
            assert pnl["account"]["fills"] == 1
            # the dashboard's series (docs/METRICS.md): skew +50 % (one quote of a max of two),
            # one quote fill, both sides quoted again, maker fees apart from rebates
            snap = r.proc.metrics_snapshot()
            assert snap.quote_inventory_skew == (("BTC", "on", SIZE / MAX_INV),)
            [(_, _, fills)], [(_, _, orders)] = snap.quote_fills, snap.quote_orders
            assert fills == 1 and orders >= 3
            assert snap.quote_active == (("BTC", "on", 1.0),)
            assert dict(snap.fees)["paid"] > 0 and dict(snap.fees)["rebates"] == 0

    asyncio.run(go())


def test_the_position_never_passes_max_inventory(tmp_path):
    async def go():
        # refresh 0: every book re-prices, so each new bid is hit as soon as it rests
        async with rig(tmp_path, settings_overrides=settings_for(tmp_path, refresh_bps=0)) as r, market(r):
            for k in range(2):  # two bids fill: max inventory
                await r.wait_for(lambda: limit_quotes(r)[0], what="a bid resting")
                before = position(r)
                await hit_bid(r, limit_quotes(r)[0][0][1])
                await r.wait_for(lambda b=before: position(r) > b, what=f"bid {k} filled")
            assert position(r) == MAX_INV

            def only_ask_rests() -> bool:
                bids, asks = limit_quotes(r)
                return not bids and len(asks) == 1

            await r.wait_for(only_ask_rests, what="no bid at max inventory, the ask alone")
            # the market keeps selling through every price: nothing of ours is there to buy
            for _ in range(5):
                await hit_bid(r, MID - 50)
                await asyncio.sleep(0.2)
            assert not limit_quotes(r)[0]
            assert position(r) == MAX_INV

    asyncio.run(go())


def test_a_breaker_trip_pulls_every_quote(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides=settings_for(tmp_path)) as r:
            async with market(r):
                await r.wait_for(lambda: all(limit_quotes(r)), what="quotes resting")
            # the market stops: after 5 s the stale-data breaker trips and the quotes go
            await r.wait_for(lambda: r.topics("risk.breaker.stale_data"), timeout_s=30, what="stale-data trip")
            await r.wait_for(lambda: limit_quotes(r) == ([], []), what="quotes pulled")
            assert r.proc.layer.quoter.status()["coins"]["BTC"]["paused"]
            # and nothing comes back while the data is stale
            await asyncio.sleep(1.0)
            assert limit_quotes(r) == ([], [])

    asyncio.run(go())


def test_an_operator_pause_pulls_the_quotes_and_resume_brings_them_back(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides=settings_for(tmp_path)) as r, market(r):
            await r.wait_for(lambda: all(limit_quotes(r)), what="quotes resting")
            r.proc.risk.pause("test")  # REDUCING: only reduce-only orders
            await r.wait_for(lambda: limit_quotes(r) == ([], []), what="quotes pulled")
            assert r.proc.layer.quoter.status()["coins"]["BTC"]["paused"].startswith("trading_state")
            r.proc.risk.resume("test")
            await r.wait_for(lambda: all(limit_quotes(r)), what="quotes back")

    asyncio.run(go())


def test_every_quote_passes_the_risk_checks_a_refused_one_is_never_sent(tmp_path):
    async def go():
        # one quote is ~$21: a $15 coin limit refuses both sides before anything is sent
        risk = risk_file(tmp_path, max_position_usd_per_coin=15)
        async with rig(tmp_path, risk_file=str(risk), settings_overrides=settings_for(tmp_path)) as r, market(r):
            await r.wait_for(
                lambda: r.proc.layer.quoter.status()["refused"].get("coin_limit", 0) >= 3, what="quotes refused"
            )
            assert quotes(r) == []
            assert r.proc.layer.gateway.error_count == 0  # refused here, not by the exchange

    asyncio.run(go())


def test_a_trigger_on_the_coin_wins_quotes_are_pulled_while_it_holds_a_position(tmp_path):
    async def go():
        # the probe rule fires at the first 1-minute close with ATR warm and keeps its
        # position (TP/SL 20 ATR away); the replay is the bundled hour's first 17 minutes
        settings = {"quoting_file": quoting_file(tmp_path), "triggers_file": probe_rules(tmp_path)}
        async with rig(tmp_path, settings_overrides=settings) as r:
            await r.replay(300, files=(warm_file(tmp_path),))
            await r.wait_for(lambda: r.topics("trigger.fired.probe_long.BTC"), what="the probe fired")
            await r.proc.layer.drain()
            await r.wait_for(lambda: limit_quotes(r) == ([], []), what="quotes pulled")
            async with fresh_market(r):
                await asyncio.sleep(1.0)  # books keep coming: quoting stays paused
                assert limit_quotes(r) == ([], [])
                assert r.proc.layer.quoter.status()["coins"]["BTC"]["paused"] == "trigger", (
                    r.proc.breaker_trips,
                    r.proc.risk.snapshot(),
                )
            # the only orders left are the trigger's stop and take-profit (a trigger, or resting
            # as a reduce-only post-only limit)
            assert sorted(leg for *_, leg in quotes(r)) == ["sl", "tp"]
            assert all(q[3] in (None, "Alo") for q in quotes(r))

    asyncio.run(go())
