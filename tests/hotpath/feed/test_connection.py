"""The live feed connection against the real simulator over loopback, plus its pure parts.

Intervals are shrunk (FeedConfig) so reconnects, pings and stale streams happen in well under a
second; every wait is for an event with a generous guard timeout, never a timing assertion.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time

import orjson
import pytest
from aiohttp import web

from tests.fixtures import RECORDING
from tests.hotpath.feed.mutations import mutate
from tripwire.hotpath.feed.connection import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    FATAL,
    RECONNECTING,
    Backoff,
    FeedConfig,
    FeedConnection,
    full_jitter_delay_s,
    ws_url,
)
from tripwire.hotpath.feed.decode import PARSERS, Decoder
from tripwire.hotpath.feed.records import BookSnapshot, Trades
from tripwire.hotpath.feed.subscriptions import StaleRule, Subscription, build_subscriptions, stream_of
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import ACTIVE, REDUCING, RiskManager
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.replay import ReplaySpec
from tripwire.sim.exchange.server import SimServer, start_in_thread

ARCHIVE = str(RECORDING)
USER = "0x" + "ab" * 20
GUARD_S = 20  # a guard against hanging, not a latency assertion

FAST = FeedConfig(
    ping_interval_s=0.2,
    pong_timeout_s=1.0,
    backoff_base_s=0.02,
    backoff_cap_s=0.2,
    stable_after_s=60.0,
    max_consecutive_failures=None,
    connect_timeout_s=2.0,
    close_timeout_s=0.5,
    ack_timeout_s=3.0,
    monitor_interval_s=0.05,
    stale={},
)


def fast(**changes) -> FeedConfig:
    return FeedConfig(**{**FAST.__dict__, **changes})


def replaying_sim(port: int = 0):
    """The simulator replaying the real BTC hour five times faster, with synthetic trades, looping."""
    engine = SimEngine()
    server = SimServer(engine, ExchangeApi(engine), ReplaySpec([ARCHIVE], speed=5.0, synthetic_seed=7, loop=True))
    return start_in_thread(server, "127.0.0.1", port)


def quiet_sim():
    """The simulator with no replay: only what a test ingests is published."""
    engine = SimEngine()
    return start_in_thread(SimServer(engine, ExchangeApi(engine)))


def eth_book_msg(t_ms: int, coin: str = "ETH") -> dict:
    return {
        "channel": "l2Book",
        "data": {
            "coin": coin,
            "time": t_ms,
            "levels": [[{"px": "1999.0", "sz": "1.0", "n": 1}], [{"px": "2000.0", "sz": "1.0", "n": 1}]],
        },
    }


class Recorder:
    """Collects what the connection reports and lets a test wait for a condition on it."""

    def __init__(self) -> None:
        self.states: list[str] = []
        self.frames: list[tuple[str | bytes, int]] = []
        self.faults: list[tuple[str, dict]] = []
        self.decoder = Decoder()
        self.records: list[object] = []
        self._changed = asyncio.Event()

    def on_frame(self, frame, recv_ns: int) -> None:
        self.frames.append((frame, recv_ns))
        rec = self.decoder.decode(frame)
        if rec is not None:
            self.records.append(rec)
        self._changed.set()

    def on_state(self, state: str) -> None:
        self.states.append(state)
        self._changed.set()

    def on_fault(self, kind: str, detail: dict) -> None:
        self.faults.append((kind, detail))
        self._changed.set()

    def fault_kinds(self) -> list[str]:
        return [k for k, _ in self.faults]

    def books(self, coin: str, after: int = 0) -> list[BookSnapshot]:
        return [r for r in self.records[after:] if isinstance(r, BookSnapshot) and r.coin == coin]

    async def until(self, condition, what: str, timeout: float = GUARD_S) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; states={self.states} faults={self.faults[-5:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))
            except TimeoutError:
                pass


def connection(url: str, subs, rec: Recorder, config: FeedConfig = FAST, **kw) -> FeedConnection:
    return FeedConnection(url, subs, rec.on_frame, rec.on_state, config=config, on_fault=rec.on_fault, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def stop(conn: FeedConnection, task: asyncio.Task) -> str:
    await conn.stop()
    return await asyncio.wait_for(task, GUARD_S)


# -- against the simulator ------------------------------------------------------------------


@pytest.mark.parametrize("client", ["picows", "aiohttp"])
def test_connects_subscribes_everything_and_delivers_book_and_trade_frames_with_receive_times(client):
    sim = replaying_sim()
    subs = build_subscriptions(["BTC"], USER)

    async def main():
        rec = Recorder()
        conn = connection(ws_url(sim.url), subs, rec, fast(client=client))
        assert conn._client == client
        task = asyncio.create_task(conn.run())
        await rec.until(lambda: conn.counters.acks == len(subs), "every subscription acknowledged")
        await rec.until(
            lambda: len(rec.books("BTC")) >= 3 and any(isinstance(r, Trades) for r in rec.records),
            "BTC books and trades",
        )
        await rec.until(lambda: conn.counters.pongs >= 1, "a pong")
        assert await stop(conn, task) == DISCONNECTED
        return rec, conn

    try:
        rec, conn = asyncio.run(main())
    finally:
        sim.stop()
    assert rec.states == [CONNECTING, CONNECTED, DISCONNECTED]
    assert rec.faults == []
    assert rec.decoder.faults.total == 0  # frames arrive untouched: the hot path's decoder reads every one
    stamps = [ns for _, ns in rec.frames]
    assert stamps == sorted(stamps) and stamps[-1] <= time.monotonic_ns()
    c = conn.counters
    assert c.frames == len(rec.frames) and c.bytes == sum(len(f) for f, _ in rec.frames)
    assert c.frames_by_channel["subscriptionResponse"] == len(subs) and c.frames_by_channel["l2Book"] >= 3
    assert c.frames_by_channel["userFills"] == 1  # the snapshot that follows the userFills ack
    assert c.pings >= c.pongs >= 1 and c.last_pong_rtt_ns is not None
    assert c.snapshot(time.monotonic_ns())["last_frame_age_s"] >= 0


def test_losing_the_server_puts_risk_in_its_safe_state_and_a_restart_on_the_same_port_resumes_everything():
    sim = replaying_sim()
    port = sim.port
    subs = build_subscriptions(["BTC"], coin_types=("l2Book", "trades"))
    risk = RiskManager(load_risk_config("config/risk.yaml"))
    restarted = []

    async def main():
        rec = Recorder()

        def on_state(state: str) -> None:  # the hot path's wiring, reduced to the risk part
            rec.on_state(state)
            if state == RECONNECTING:
                risk.on_disconnect()
            elif state == CONNECTED and conn.counters.reconnects:
                risk.on_reconnect()  # in the hot path: after the reconcile snapshot is applied

        conn = FeedConnection(ws_url(sim.url), subs, rec.on_frame, on_state, config=FAST, on_fault=rec.on_fault)
        task = asyncio.create_task(conn.run())
        await rec.until(lambda: len(rec.books("BTC")) >= 2, "BTC books before the outage")
        await asyncio.get_running_loop().run_in_executor(None, sim.stop)
        await rec.until(lambda: RECONNECTING in rec.states, "RECONNECTING")
        state_while_down = risk.state
        await rec.until(lambda: conn.counters.connect_failures >= 2, "failed attempts while the server is down")
        seen_before = len(rec.records)
        restarted.append(await asyncio.get_running_loop().run_in_executor(None, replaying_sim, port))
        await rec.until(lambda: conn.counters.reconnects == 1 and conn.state == CONNECTED, "reconnected")
        await rec.until(lambda: conn.counters.acks == 2 * len(subs), "resubscribed")
        await rec.until(lambda: len(rec.books("BTC", after=seen_before)) >= 2, "BTC books after the restart")
        await stop(conn, task)
        return rec, conn, state_while_down

    try:
        rec, conn, state_while_down = asyncio.run(main())
    finally:
        for s in restarted:
            s.stop()
    assert rec.states == [CONNECTING, CONNECTED, RECONNECTING, CONNECTED, DISCONNECTED]
    assert state_while_down == REDUCING and risk.state == ACTIVE
    assert conn.counters.disconnects == 1 and "closed by the server" in conn.last_disconnect_reason


def test_a_stream_that_stops_while_the_socket_stays_open_is_reported_stale_and_forces_a_reconnect():
    sim = quiet_sim()
    subs = [Subscription("l2Book", "ETH")]
    cfg = fast(stale={"l2Book": StaleRule(report_after_s=0.5, reconnect_after_s=1.5)})

    def ingest_eth_book() -> None:
        t = sim.call(sim.server.clock.now_ms)
        sim.call(lambda: sim.server.ingest(eth_book_msg(t), t))

    async def main():
        rec = Recorder()
        conn = connection(ws_url(sim.url), subs, rec, cfg)
        task = asyncio.create_task(conn.run())
        await rec.until(lambda: conn.counters.acks == 1, "the ack")
        loop = asyncio.get_running_loop()
        while len(rec.books("ETH")) < 3:  # the stream flows ...
            await loop.run_in_executor(None, ingest_eth_book)
            await asyncio.sleep(0.05)
        # ... then stops, while the socket keeps answering pings
        await rec.until(lambda: "stale" in rec.fault_kinds(), "the stale report")
        pongs_while_stale = conn.counters.pongs
        await rec.until(lambda: conn.counters.reconnects >= 1 and conn.state == CONNECTED, "the forced reconnect")
        await stop(conn, task)
        return rec, conn, pongs_while_stale

    try:
        rec, conn, pongs_while_stale = asyncio.run(main())
    finally:
        sim.stop()
    kinds = rec.fault_kinds()
    assert kinds.index("stale") < kinds.index("stale_reconnect")
    stale = dict(rec.faults)["stale"]
    assert stale["subscription"] == "l2Book:ETH" and stale["silent_s"] >= 0.5
    assert pongs_while_stale >= 1  # the socket was alive: only the stream had stopped
    assert conn.counters.stale_events["l2Book"] >= 1 and conn.counters.stale_reconnects >= 1
    assert "silent" in conn.last_disconnect_reason
    assert rec.states[:4] == [CONNECTING, CONNECTED, RECONNECTING, CONNECTED]


def test_a_refused_subscription_is_reported_and_the_other_streams_still_flow():
    sim = replaying_sim()
    subs = [Subscription("l2Book", "BTC"), Subscription("l2Book", "DOGE"), Subscription("trades", "BTC")]

    async def main():
        rec = Recorder()
        conn = connection(ws_url(sim.url), subs, rec, fast(stale={"l2Book": StaleRule(30.0)}))
        task = asyncio.create_task(conn.run())
        await rec.until(lambda: "subscription_error" in rec.fault_kinds(), "the refusal")
        await rec.until(lambda: conn.counters.acks == 2 and len(rec.books("BTC")) >= 2, "the other streams")
        await stop(conn, task)
        return rec, conn

    try:
        rec, conn = asyncio.run(main())
    finally:
        sim.stop()
    refusal = dict(rec.faults)["subscription_error"]
    assert refusal["subscription"] == "l2Book:DOGE" and "DOGE" in refusal["message"]
    assert RECONNECTING not in rec.states and FATAL not in rec.states
    assert conn.counters.subscription_errors == 1 and conn.counters.unacknowledged == 0
    assert [s.coin for s in conn.stale_subscriptions] == []  # a refused stream is not watched


# -- against stand-in servers that misbehave --------------------------------------------------


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a started site has a server
    return runner, f"ws://127.0.0.1:{port}/ws"


def test_a_socket_that_stops_answering_pings_is_dropped_and_reopened():
    async def mute(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:  # reads everything, answers nothing
            pass
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/ws", mute)
        runner, url = await serve(app)
        rec = Recorder()
        conn = connection(url, [Subscription("trades", "BTC")], rec, fast(pong_timeout_s=0.3, ack_timeout_s=0.3))
        task = asyncio.create_task(conn.run())
        try:
            await rec.until(lambda: conn.counters.connects >= 2, "a second connection")
            await stop(conn, task)
        finally:
            await runner.cleanup()
        return rec, conn

    rec, conn = asyncio.run(main())
    assert "pong_timeout" in rec.fault_kinds() and "subscription_unacknowledged" in rec.fault_kinds()
    assert conn.counters.pong_timeouts >= 1 and conn.counters.pongs == 0
    assert rec.states[:3] == [CONNECTING, CONNECTED, RECONNECTING]


def test_an_auth_refusal_on_the_handshake_is_fatal_at_once():
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=401, text="unauthorized")

    async def main():
        app = web.Application()
        app.router.add_get("/ws", refuse)
        runner, url = await serve(app)
        rec = Recorder()
        conn = connection(url, [Subscription("trades", "BTC")], rec, fast(max_consecutive_failures=100))
        try:
            final = await asyncio.wait_for(conn.run(), GUARD_S)
        finally:
            await runner.cleanup()
        return rec, conn, final

    rec, conn, final = asyncio.run(main())
    assert final == FATAL and rec.states == [CONNECTING, FATAL]
    assert "HTTP 401" in conn.fatal_reason


def test_consecutive_connection_failures_end_in_fatal():
    async def main():
        rec = Recorder()
        conn = connection(
            f"ws://127.0.0.1:{free_port()}/ws",
            [Subscription("trades", "BTC")],
            rec,
            fast(max_consecutive_failures=3, fast_retry_for_s=0),
        )
        return rec, conn, await asyncio.wait_for(conn.run(), GUARD_S)

    rec, conn, final = asyncio.run(main())
    assert final == FATAL and rec.states == [CONNECTING, FATAL]
    assert conn.counters.connect_failures == 3 and "3 consecutive" in conn.fatal_reason


def test_fast_retries_of_a_young_outage_do_not_count_towards_fatal():
    async def main():
        rec = Recorder()
        conn = connection(
            f"ws://127.0.0.1:{free_port()}/ws",
            [Subscription("trades", "BTC")],
            rec,
            fast(max_consecutive_failures=3, fast_retry_s=0.02, fast_retry_for_s=0.5),
        )
        t0 = time.monotonic()
        final = await asyncio.wait_for(conn.run(), GUARD_S)
        return conn, final, time.monotonic() - t0

    conn, final, took_s = asyncio.run(main())
    assert final == FATAL and took_s >= 0.5
    assert conn.counters.connect_failures > 3 + 10  # ≥ 0.5 s of retries every 10–20 ms, then 3


# -- pure parts -------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_and_is_capped_with_full_jitter():
    ceilings = [full_jitter_delay_s(n, 1.0, 30.0, rand=lambda: 1.0) for n in range(8)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert full_jitter_delay_s(10_000, 1.0, 30.0, rand=lambda: 1.0) == 30.0  # no overflow far out
    rng = random.Random(7)
    backoff = Backoff(1.0, 30.0, rand=rng.random)
    delays = [backoff.next_delay_s() for _ in range(200)]
    assert all(0.0 <= d <= min(30.0, 2.0**n) for n, d in enumerate(delays))
    late = delays[10:]
    assert max(late) > 20.0 and min(late) < 10.0  # jitter spreads over the whole capped window
    backoff.reset()
    assert backoff.next_delay_s() <= 1.0


def seconds_to_reconnect_after(cut_s: float, backoff: Backoff, clock: list[float]) -> float:
    """A connection dropped at t=0 and the exchange back at ``cut_s``: every attempt before
    fails at once; how long after the exchange is back the next attempt comes."""
    while True:
        clock[0] += backoff.next_delay_s()
        if clock[0] >= cut_s:
            return clock[0] - cut_s


@pytest.mark.parametrize("cut_s", [1.0, 5.0, 9.0])
def test_a_short_cut_costs_at_most_one_fast_retry_after_the_exchange_is_back(cut_s):
    # A backoff starting at 1 s with full jitter added 1.65 s to a 1 s cut and 7.5 s to a 5 s
    # one. Short cuts are the common kind: the first seconds of an outage retry fast.
    cfg = FeedConfig()
    worst = 0.0
    clock = [0.0]
    for seed in range(200):
        clock[0] = 0.0
        backoff = Backoff(
            cfg.backoff_base_s,
            cfg.backoff_cap_s,
            random.Random(seed).random,
            fast_s=cfg.fast_retry_s,
            fast_for_s=cfg.fast_retry_for_s,
            clock_s=lambda: clock[0],
        )
        worst = max(worst, seconds_to_reconnect_after(cut_s, backoff, clock))
    assert worst <= cfg.fast_retry_s
    assert backoff.attempt == 0  # no exponential attempt spent on a short cut


def test_a_long_outage_backs_off_exponentially_after_the_fast_retries_and_reset_starts_over():
    clock = [0.0]
    backoff = Backoff(1.0, 30.0, lambda: 1.0, fast_s=0.25, fast_for_s=10.0, clock_s=lambda: clock[0])
    delays = []
    while clock[0] < 100.0:
        delays.append(backoff.next_delay_s())
        clock[0] += delays[-1]
    fast_ones = [d for d in delays if d == 0.25]
    assert len(fast_ones) == 40 and delays[40:46] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    backoff.reset()
    assert backoff.next_delay_s() == 0.25 and backoff.attempt == 0


def test_config_refuses_values_that_would_break_the_loop():
    with pytest.raises(ValueError, match="ping_interval_s"):
        FeedConfig(ping_interval_s=0)
    with pytest.raises(ValueError, match="backoff_cap_s"):
        FeedConfig(backoff_base_s=5, backoff_cap_s=1)
    with pytest.raises(ValueError, match="fast_retry_s"):
        FeedConfig(fast_retry_s=0)
    with pytest.raises(ValueError, match="fast_retry_for_s"):
        FeedConfig(fast_retry_for_s=-1)
    with pytest.raises(ValueError, match="reconnect_after_s"):
        StaleRule(10.0, 5.0)


@pytest.mark.parametrize(
    "frame,stream",
    [
        ('{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[],[]]}}', ("l2Book", "BTC")),
        ('{"channel":"trades","data":[{"coin":"ETH","side":"B"}]}', ("trades", "ETH")),
        ('{"channel":"candle","data":{"t":1704110400000,"T":1704110459999,"s":"SOL","i":"1m"}}', ("candle", "SOL")),
        ('{"channel":"user","data":{"fills":[]}}', ("user", None)),
        ('{"channel":"pong"}', ("pong", None)),
        ('{ "channel": "bbo", "data": { "coin": "BTC" } }', ("bbo", "BTC")),  # not compact: parsed
        ('{"data":{"coin":"BTC"},"channel":"l2Book"}', ("l2Book", "BTC")),  # other key order: parsed
        (b'{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{}}}', ("activeAssetCtx", "BTC")),
        ("Websocket connection established.", None),
    ],
)
def test_a_frame_is_attributed_to_its_stream_without_decoding_it(frame, stream):
    assert stream_of(frame) == stream


def test_subscriptions_cover_every_market_type_per_coin_and_the_user_channels():
    subs = build_subscriptions(["BTC", "ETH"], USER)
    assert [str(s) for s in subs[:5]] == ["trades:BTC", "l2Book:BTC", "bbo:BTC", "activeAssetCtx:BTC", "candle:BTC:1m"]
    assert [s.type for s in subs[10:]] == ["orderUpdates", "userFills", "userEvents"]
    assert subs[-1].stream == ("user", None)
    ack_echo = {"type": "l2Book", "coin": "BTC", "nSigFigs": None, "mantissa": None}
    assert Subscription.from_wire(ack_echo).key == Subscription("l2Book", "BTC").key
    assert Subscription.from_wire({"type": "userFills", "user": USER.upper().replace("0X", "0x")}).key == subs[11].key
    with pytest.raises(ValueError, match="unknown coin subscription type 'book'"):
        build_subscriptions(["BTC"], coin_types=("book",))


def test_handler_exceptions_are_counted_not_fatal():
    sim = replaying_sim()

    async def main():
        rec = Recorder()

        def broken(frame, recv_ns):
            rec.on_frame(frame, recv_ns)
            raise RuntimeError("bug in the hot path")

        conn = FeedConnection(ws_url(sim.url), [Subscription("l2Book", "BTC")], broken, rec.on_state, config=FAST)
        task = asyncio.create_task(conn.run())
        await rec.until(lambda: len(rec.books("BTC")) >= 2, "frames despite the broken handler")
        await stop(conn, task)
        return rec, conn

    try:
        rec, conn = asyncio.run(main())
    finally:
        sim.stop()
    assert conn.counters.handler_errors == conn.counters.frames
    assert RECONNECTING not in rec.states


@pytest.mark.parametrize("stable_after_s,failures_at_drop", [(0.0, 0), (3600.0, 6)])
def test_a_drop_after_a_stable_period_starts_the_failure_count_and_backoff_over(stable_after_s, failures_at_drop):
    sim = replaying_sim()

    async def main():
        rec = Recorder()
        at_drop = []

        def on_state(state: str) -> None:
            rec.on_state(state)
            if state == RECONNECTING:
                at_drop.append(conn.counters.consecutive_failures)

        conn = FeedConnection(
            ws_url(sim.url),
            [Subscription("l2Book", "BTC")],
            rec.on_frame,
            on_state,
            config=fast(stable_after_s=stable_after_s),
        )
        conn.counters.consecutive_failures = 5  # as if earlier attempts had failed
        task = asyncio.create_task(conn.run())
        await rec.until(lambda: len(rec.books("BTC")) >= 1, "a book")
        await asyncio.get_running_loop().run_in_executor(None, sim.stop)
        await rec.until(lambda: at_drop, "RECONNECTING")
        await stop(conn, task)
        return at_drop[0]

    assert asyncio.run(main()) == failures_at_drop  # stable: back to 0; young: one more failure


def test_counters_snapshot_is_plain_data_for_metrics():
    snap = FeedConnection("ws://x/ws", [], lambda f, t: None, lambda s: None).counters.snapshot(0)
    assert snap["last_frame_age_s"] is None and snap["frames"] == 0 and snap["stale_events"] == {}


# -- odd control frames and stray streams -----------------------------------------------------


def _ack(sub: dict) -> str:
    return orjson.dumps(
        {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}}
    ).decode()


# Acks and errors of shapes the connection cannot read. The first used to raise in the reader
# (``123.lower()``) and tear the connection down; a list as ``user`` raised "unhashable".
ODD_CONTROL = [
    _ack({"type": "userFills", "user": 123}),
    _ack({"type": "userFills", "user": ["0xab"]}),
    _ack({"type": "l2Book", "coin": {"BTC": 1}}),
    _ack({"type": 7, "coin": "BTC"}),
    _ack([]),  # type: ignore[arg-type]  # deliberately not a dict
    '{"channel":"subscriptionResponse","data":[]}',
    '{"channel":"subscriptionResponse","data":{"method":5,"subscription":{"type":"l2Book"}}}',
    '{"channel":"subscriptionResponse"}',
    '{"channel":"subscriptionResponse","data":null}',
    '{"channel":"error"}',
]


def test_odd_control_frames_and_stray_coins_are_counted_and_never_cost_the_connection():
    subs = build_subscriptions(["BTC"], USER, coin_types=("l2Book", "trades"))
    rng = random.Random(11)
    fuzzed = [orjson.dumps(mutate(orjson.loads(_ack(subs[0].wire())), rng)[0]).decode() for _ in range(200)]
    fuzzed += [
        orjson.dumps(mutate({"channel": "error", "data": "Invalid subscription"}, rng)[0]).decode() for _ in range(50)
    ]
    strays = [orjson.dumps(eth_book_msg(1_000 + i, coin=f"C{i}")).decode() for i in range(200)]
    btc_book = orjson.dumps(eth_book_msg(5_000, coin="BTC")).decode()
    sent: list[str] = []

    async def odd_server(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)

        async def send(frames: list[str], binary: bool = False) -> None:
            for f in frames:
                await (ws.send_bytes(f.encode()) if binary else ws.send_str(f))
                sent.append(f)

        await send(ODD_CONTROL)
        await send(ODD_CONTROL, binary=True)
        answered = 0
        async for msg in ws:
            m = orjson.loads(msg.data)
            if m.get("method") == "ping":
                await ws.send_str('{"channel":"pong"}')
                continue
            answered += 1
            await send([_ack(m["subscription"])])
            if answered == len(subs):  # every subscription answered: nothing pending any more
                await send(fuzzed + strays + [btc_book])
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/ws", odd_server)
        runner, url = await serve(app)
        rec = Recorder()
        conn = connection(url, subs, rec, fast(ack_timeout_s=30.0))
        task = asyncio.create_task(conn.run())
        try:
            await rec.until(lambda: len(rec.books("BTC")) == 1, "the BTC book after the garbage")
            await rec.until(lambda: conn.counters.pongs >= 2, "pongs")
            await stop(conn, task)
        finally:
            await runner.cleanup()
        return rec, conn

    rec, conn = asyncio.run(main())
    c = conn.counters
    assert rec.states == [CONNECTING, CONNECTED, DISCONNECTED]
    assert c.connects == 1 and c.reconnects == 0 and c.handler_errors == 0
    assert c.acks == len(subs) and c.subscription_errors == 0 and c.unacknowledged == 0
    assert c.bad_control_frames >= 2 * len(ODD_CONTROL)
    assert c.frames == len(sent) + c.pongs  # every frame still reached the hot path
    assert set(conn.stream_ages_s()) <= {"l2Book:BTC", "trades:BTC", "orderUpdates", "userFills", "user"}
    assert set(c.frames_by_channel) <= set(PARSERS) | {"other"}  # bounded, whatever the server names


def test_an_ack_echo_that_is_not_text_matches_nothing_and_says_why():
    with pytest.raises(ValueError, match="user must be a string, got int"):
        Subscription.from_wire({"type": "userFills", "user": 123})
    with pytest.raises(ValueError, match="type must be a string"):
        Subscription.from_wire({"coin": "BTC"})


def test_a_fragmented_message_is_joined_and_handed_on_whole_as_text():
    # The exchange sends whole frames, but the protocol allows a message in fragments: picows
    # hands us frames, so the connection joins them (aiohttp does it inside its reader).
    message = orjson.dumps(eth_book_msg(1_700_000_000_000))
    head, tail = message[:40], message[40:]
    assert len(tail) < 126  # 7-bit lengths below

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        assert request.transport is not None
        # text, not final; then continuation, final (unmasked server frames, RFC 6455 5.2)
        request.transport.write(bytes((0x01, len(head))) + head + bytes((0x80, len(tail))) + tail)
        async for _ in ws:
            pass
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/ws", ws_handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        rec = Recorder()
        conn = connection(f"ws://127.0.0.1:{port}/ws", [], rec, fast(client="picows"))
        task = asyncio.create_task(conn.run())
        try:
            await rec.until(lambda: rec.frames, "the message")
        finally:
            await stop(conn, task)
            await runner.cleanup()
        return rec

    rec = asyncio.run(main())
    assert rec.frames[0][0] == message.decode()
    assert isinstance(rec.records[0], BookSnapshot) and rec.records[0].coin == "ETH"
