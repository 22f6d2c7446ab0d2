"""Reconcile over REST against the real simulator: what the SDK placed comes back, through faults."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import ClientSession, web

from tests.sim.exchange.conftest import address, exchange_for, sim, unique_sdk_nonces  # noqa: F401 (fixtures)
from tripwire.hotpath.feed.reconcile import (
    ReconcileConfig,
    ReconcileFailed,
    Reconciler,
    ResponseMalformed,
    parse_clearinghouse_state,
)

FAST = ReconcileConfig(request_timeout_s=5.0, backoff_base_s=0.01, backoff_cap_s=0.05)
GUARD_S = 20  # a guard against hanging, not a latency assertion


def reconcile(url: str, user: str, config: ReconcileConfig = FAST, **kw):
    reconciler = Reconciler(url, user, config=config, **kw)
    snap = asyncio.run(asyncio.wait_for(reconciler.reconcile(), GUARD_S))
    return reconciler, snap


def place_resting_and_filled(running) -> tuple[int, int]:
    """A resting Gtc bid below the book and a market buy that fills; returns their oids."""
    ex = exchange_for(running)
    resting = ex.order("ETH", True, 0.05, 1990.0, {"limit": {"tif": "Gtc"}})
    filled = ex.market_open("ETH", True, 0.02)
    return (
        resting["response"]["data"]["statuses"][0]["resting"]["oid"],
        filled["response"]["data"]["statuses"][0]["filled"]["oid"],
    )


def test_reconcile_returns_the_open_orders_positions_and_fills_placed_through_the_sdk(sim):
    resting_oid, filled_oid = place_resting_and_filled(sim)
    reconciler, snap = reconcile(sim.url, address())
    [order] = snap.open_orders
    assert (order.oid, order.coin, order.is_buy, order.limit_px, order.sz) == (resting_oid, "ETH", True, 1990.0, 0.05)
    assert order.tif == "Gtc" and not order.is_trigger
    eth = snap.position("ETH")
    assert eth is not None and eth.szi == pytest.approx(0.02) and eth.entry_px == 2000.0 and eth.is_cross
    assert 9_900 < snap.margin.account_value < 10_000 and snap.margin.total_margin_used > 0
    [fill] = snap.fills
    assert (fill.oid, fill.coin, fill.sz, fill.px, fill.is_buy) == (filled_oid, "ETH", 0.02, 2000.0, True)
    assert reconciler.last_fill_ms == fill.time_ms and snap.attempts == 3


def test_the_next_reconcile_asks_only_for_fills_from_the_last_one_seen(sim):
    place_resting_and_filled(sim)
    reconciler, first = reconcile(sim.url, address())
    seen_ms = reconciler.last_fill_ms
    later = exchange_for(sim).market_close("ETH")
    closing_oid = later["response"]["data"]["statuses"][0]["filled"]["oid"]
    snap = asyncio.run(reconciler.reconcile())
    assert snap.fills_since_ms == seen_ms
    assert all(f.time_ms >= seen_ms for f in snap.fills) and snap.fills[-1].oid == closing_oid
    assert snap.position("ETH") is None and snap.open_orders == first.open_orders


def test_reconcile_retries_through_http_500_and_timeouts_until_it_gets_answers(sim):
    place_resting_and_filled(sim)

    async def main():
        seen: dict[str, int] = {}
        release = asyncio.Event()

        async def flaky(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            kind = (await request.json())["type"]
            seen[kind] = seen.get(kind, 0) + 1
            if seen[kind] == 1:
                return web.Response(status=500, text="upstream error")
            if seen[kind] == 2:
                await asyncio.wait_for(release.wait(), 5)  # longer than the client's timeout
            async with (
                ClientSession() as s,
                s.post(sim.url + "/info", data=body, headers={"Content-Type": "application/json"}) as r,
            ):
                return web.Response(body=await r.read(), status=r.status, content_type="application/json")

        app = web.Application()
        app.router.add_post("/info", flaky)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started site has a server
        config = ReconcileConfig(request_timeout_s=1.0, backoff_base_s=0.01, backoff_cap_s=0.05)
        reconciler = Reconciler(f"http://127.0.0.1:{port}", address(), config=config)
        try:
            snap = await asyncio.wait_for(reconciler.reconcile(), GUARD_S)
        finally:
            release.set()
            await runner.cleanup()
        return reconciler, snap

    reconciler, snap = asyncio.run(main())
    assert len(snap.open_orders) == 1 and snap.position("ETH") is not None and len(snap.fills) == 1
    failures = reconciler.counters.failures_by_reason
    assert failures["http_500"] == 3 and failures["timeout"] >= 3 and set(failures) == {"http_500", "timeout"}
    assert snap.attempts == 3 + sum(failures.values()) == 3 + reconciler.counters.retries


def test_a_request_the_exchange_refuses_fails_at_once_with_a_clear_error(sim):
    with pytest.raises(ReconcileFailed, match="HTTP 422.*check the user address"):
        reconcile(sim.url, "not-an-address")


def test_an_unreachable_api_gives_up_after_max_attempts_when_one_is_set():
    config = ReconcileConfig(request_timeout_s=0.5, backoff_base_s=0.01, backoff_cap_s=0.02, max_attempts=3)
    with pytest.raises(ReconcileFailed, match="gave up after 3 attempts"):
        reconcile("http://127.0.0.1:9", "0x" + "ab" * 20, config)


def test_an_unreadable_clearinghouse_answer_is_malformed_not_a_crash():
    with pytest.raises(ResponseMalformed, match="clearinghouseState"):
        parse_clearinghouse_state({"marginSummary": {"accountValue": "x"}})
