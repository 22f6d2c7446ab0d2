"""The thin shell: aiohttp serving ``POST /info``, ``POST /exchange`` and ``GET /ws`` on one port.

Everything here is I/O: reading bodies, JSON, sockets, tasks and clocks. Answers come from
:mod:`tripwire.sim.exchange.info` and :mod:`tripwire.sim.exchange.exchange`; state lives in
:class:`~tripwire.sim.exchange.engine.SimEngine`. All engine access happens on the server's event loop, so
the core needs no locks. Two sim-only routes, ``POST /sim/fund`` and ``POST /sim/reset``
(``{"user": "0x…", "usdc": "1000"}``), act as a faucet and an account reset; a third,
``POST /sim/session/save``, writes the accounts to ``--accounts-file``'s session at once.

No answer is a plain-text 500: a bad request gets the exchange's answer from the core, and an
exception no rule anticipated (a simulator bug) is logged, counted in
:attr:`SimServer.internal_errors` and answered in JSON (see :meth:`SimServer._internal_error`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tripwire.sim.exchange import errors
from tripwire.sim.exchange import ws as subs
from tripwire.sim.exchange.admin import AdminRejected, admin_request
from tripwire.sim.exchange.clock import MarketClock, wall_ms
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.errors import BadRequest
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.info import handle_info
from tripwire.sim.exchange.leaderboard import leaderboard
from tripwire.sim.exchange.population import Population
from tripwire.sim.exchange.replay import ReplaySpec, run_replay
from tripwire.sim.exchange.sessions import SessionFileError, save_session
from tripwire.sim.exchange.wire import fmt

log = logging.getLogger("tripwire.sim")

MAX_BODY_BYTES = 1024 * 1024
GREETING = "Websocket connection established."
TICK_S = 0.25
SEND_QUEUE_LIMIT = 10_000  # a client this far behind is disconnected rather than buffered forever


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


class _Conn:
    """One WebSocket client: a bounded queue drained by its own writer task, so frames keep order."""

    __slots__ = ("ws", "queue", "writer")

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.writer: asyncio.Task | None = None

    def send(self, obj: object) -> None:
        if self.queue.qsize() >= SEND_QUEUE_LIMIT:
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(obj if isinstance(obj, str) else orjson.dumps(obj).decode())

    async def run_writer(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None or self.ws.closed:
                await self.ws.close()
                return
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return


class SimServer:
    def __init__(
        self,
        engine: SimEngine,
        api: ExchangeApi,
        replay: ReplaySpec | None = None,
        clock: MarketClock | None = None,
        on_replay_done: Callable[[int], None] | None = None,
        replay_on_subscribe: bool = False,
        session: tuple[str | Path, str] | None = None,
        population: Population | None = None,
    ) -> None:
        self.engine = engine
        self.session = session  # (accounts file, session name) that POST /sim/session/save writes
        self.population = population
        self.api = api
        self.replay = replay
        self.clock = clock or MarketClock()
        self.registry = subs.Registry()
        self.conns: set[_Conn] = set()
        self.bad_market_messages = 0
        self.internal_errors = 0  # exceptions no rule anticipated; a test asserts this stays 0
        self.replayed = 0
        self._tasks: list[asyncio.Task] = []
        self._last_bbo: dict[str, tuple] = {}
        self._on_replay_done = on_replay_done
        # Hold the replay until a client subscribes to market data, so it sees the first message.
        self._replay_pending = replay is not None and replay_on_subscribe

    # -- app -----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._answer_unexpected])
        app.router.add_post("/info", self._info)
        app.router.add_post("/exchange", self._exchange)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/leaderboard", self._leaderboard)
        app.router.add_post("/sim/fund", self._sim_fund)
        app.router.add_post("/sim/reset", self._sim_reset)
        app.router.add_post("/sim/session/save", self._sim_session_save)
        app.on_startup.append(self._start_tasks)
        app.on_shutdown.append(self._stop)
        return app

    async def _start_tasks(self, app: web.Application) -> None:
        self._tasks.append(asyncio.create_task(self._ticker()))
        if self.replay is not None and not self._replay_pending:
            self._tasks.append(asyncio.create_task(self._run_replay(self.replay)))

    def start_replay(self, spec: ReplaySpec) -> asyncio.Task:
        """Start replaying ``spec`` now (on the server's loop), e.g. once clients subscribed."""
        task = asyncio.get_running_loop().create_task(self._run_replay(spec))
        self._tasks.append(task)
        return task

    async def _stop(self, app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        for conn in list(self.conns):
            await conn.ws.close()

    async def _run_replay(self, spec: ReplaySpec) -> None:
        def set_clock(t: int | None) -> None:
            self.clock.replay_ms = t

        try:
            self.replayed = await run_replay(spec, self.ingest, set_clock)
            log.info("replay finished: %d messages", self.replayed)
            if self._on_replay_done:
                self._on_replay_done(self.replayed)
        except Exception:  # a bad file ends the replay, not the server; the log says which
            log.exception("replay failed")
            self.clock.replay_ms = None

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._advance(self.clock.now_ms())
                self.flush()
            except Exception as exc:  # noqa: BLE001 - one bad tick must not stop the clock for good
                self._internal_error("the clock tick", exc)

    def _advance(self, now_ms: int) -> None:
        """What is due at ``now_ms``: the engine's timers, then the simulated traders' decisions."""
        self.engine.advance(now_ms)
        if self.population is not None:
            self.population.step(now_ms)

    # -- HTTP ----------------------------------------------------------------------------------

    def _internal_error(self, where: str, exc: Exception) -> str:
        """Log and count an unexpected exception; the message to answer with.

        A request refused by a rule changes nothing; one that hits an unexpected exception while
        being applied may have been applied in part, which is why each one is logged and counted.
        """
        self.internal_errors += 1
        log.error("internal error answering %s", where, exc_info=exc)
        return errors.INTERNAL.format(error=f"{type(exc).__name__}: {str(exc)[:200]}")

    @web.middleware
    async def _answer_unexpected(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Every HTTP route answers JSON ``{"status": "err", …}`` (HTTP 500) for an unexpected
        exception, never aiohttp's plain-text 500; HTTP errors (400, 413, 422…) pass through."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - answered and counted, see _internal_error
            return _json({"status": "err", "response": self._internal_error(request.path, exc)}, status=500)

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()  # raises 413 above client_max_size
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=f"{errors.BAD_JSON}: {exc}") from None

    async def _info(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            return _json(handle_info(self.engine, body, self.clock.now_ms()))
        except BadRequest as exc:
            return web.Response(status=422, text=exc.message)

    async def _exchange(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            result = self.api.handle(body, self.clock.now_ms(), wall_ms())
        except BadRequest as exc:
            return web.Response(status=422, text=exc.message)
        finally:
            self.flush()
        return _json(result)

    async def _leaderboard(self, request: web.Request) -> web.Response:
        """``GET /leaderboard``: every account in the stats server's shape (leaderboard.py)."""
        e = self.engine
        names = self.population.names if self.population is not None else None
        return _json(leaderboard(e.accounts, e.marks, e.equity, self.clock.now_ms(), names))

    async def _admin_args(self, request: web.Request, allow_zero: bool) -> tuple[str, Decimal] | web.Response:
        """The validated ``(user, usdc)`` of a /sim route, or the JSON refusal to send back."""
        try:
            return admin_request(await self._body(request), allow_zero)
        except web.HTTPBadRequest as exc:  # not JSON: the sim-only routes answer JSON even then
            return _json({"status": "err", "response": exc.text}, status=400)
        except AdminRejected as exc:
            return _json({"status": "err", "response": str(exc)}, status=422)

    async def _sim_fund(self, request: web.Request) -> web.Response:
        args = await self._admin_args(request, allow_zero=False)
        if isinstance(args, web.Response):
            return args
        acct = self.engine.fund(*args)
        return _json({"status": "ok", "user": acct.address, "balance": fmt(acct.balance)})

    async def _sim_reset(self, request: web.Request) -> web.Response:
        args = await self._admin_args(request, allow_zero=True)
        if isinstance(args, web.Response):
            return args
        acct = self.engine.reset(*args)
        self.flush()
        return _json({"status": "ok", "user": acct.address, "balance": fmt(acct.balance)})

    async def _sim_session_save(self, request: web.Request) -> web.Response:
        """Write every account to the session of ``--accounts-file`` now (as at exit)."""
        if self.session is None:
            return _json(
                {"status": "err", "response": "this simulator was started without --accounts-file: nothing to save to"},
                status=409,
            )
        path, name = self.session
        try:
            save_session(path, name, self.engine.accounts)
        except (OSError, SessionFileError) as exc:
            return _json({"status": "err", "response": f"could not save session {name!r} to {path}: {exc}"}, status=500)
        return _json({"status": "ok", "session": name, "file": str(path), "accounts": len(self.engine.accounts)})

    # -- WebSocket -----------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(max_msg_size=MAX_BODY_BYTES)
        await sock.prepare(request)
        conn = _Conn(sock)
        conn.writer = asyncio.create_task(conn.run_writer())
        self.conns.add(conn)
        conn.send(GREETING)
        try:
            async for msg in sock:
                if msg.type == WSMsgType.TEXT:
                    self._on_ws_text(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self.conns.discard(conn)
            self.registry.drop(conn)
            conn.queue.put_nowait(None)
        return sock

    def _on_ws_text(self, conn: _Conn, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            conn.send({"channel": "error", "data": f"Invalid JSON: {text[:200]}"})
            return
        method = msg.get("method") if isinstance(msg, dict) else None
        try:
            if method == "ping":
                conn.send({"channel": "pong"})
            elif method in ("subscribe", "unsubscribe"):
                self._on_subscription(conn, method, msg.get("subscription"))
            elif method == "post":
                self._on_post(conn, msg)
            else:
                conn.send({"channel": "error", "data": f"Unknown method: {text[:200]}"})
        except Exception as exc:  # noqa: BLE001 - a bug must not end the client's connection
            conn.send({"channel": "error", "data": self._internal_error("/ws", exc)})

    def _on_subscription(self, conn: _Conn, method: str, sub: object) -> None:
        try:
            key = subs.subscription_key(sub, set(self.engine.books), frozenset(self.engine.spot_books))
            if method == "subscribe":
                self.registry.add(conn, key)
            else:
                self.registry.remove(conn, key)
        except subs.InvalidSubscription as exc:
            conn.send({"channel": "error", "data": str(exc)})
            return
        assert isinstance(sub, dict)
        conn.send({"channel": "subscriptionResponse", "data": {"method": method, "subscription": subs.echo(sub)}})
        if method == "subscribe" and self._replay_pending and key[0] in ("l2Book", "trades"):
            self._replay_pending = False
            assert self.replay is not None
            # A moment for the client's other subscriptions to land before the first message.
            # self.replay is asserted above; mypy drops that narrowing inside the lambda.
            asyncio.get_running_loop().call_later(
                0.5,
                lambda: self.start_replay(self.replay),  # type: ignore[arg-type]  # see above
            )
            log.info("first market subscriber: replay starts")
        if method == "subscribe" and key[0] == "userFills":
            acct = self.engine.accounts.get(key[1])
            conn.send(
                {
                    "channel": "userFills",
                    "data": {
                        "isSnapshot": True,
                        "user": key[1],
                        "fills": list(reversed(acct.fills[-2000:])) if acct else [],
                    },
                }
            )

    def _on_post(self, conn: _Conn, msg: dict) -> None:
        req_id = msg.get("id")
        request = msg.get("request")
        kind = request.get("type") if isinstance(request, dict) else None
        payload = request.get("payload") if isinstance(request, dict) else None
        try:
            if kind == "info":
                data = handle_info(self.engine, payload, self.clock.now_ms())
                # handle_info has rejected a payload that is not a dict.
                response = {
                    "type": "info",
                    "payload": {"type": payload.get("type"), "data": data},  # type: ignore[union-attr]  # see above
                }
            elif kind == "action":
                response = {"type": "action", "payload": self.api.handle(payload, self.clock.now_ms(), wall_ms())}
            else:
                raise BadRequest(f"{errors.DESERIALIZE}: request type must be info or action")
        except BadRequest as exc:
            response = {"type": "error", "payload": exc.message}
        except Exception as exc:  # noqa: BLE001 - answered and counted, see _internal_error
            response = {"type": "error", "payload": self._internal_error("/ws post", exc)}
        conn.send({"channel": "post", "data": {"id": req_id, "response": response}})
        self.flush()

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, key: tuple, frame: dict) -> None:
        listeners = self.registry.listeners(key)
        if not listeners:
            return
        text = orjson.dumps(frame).decode()
        for conn in listeners:
            conn.send(text)  # type: ignore[attr-defined]  # the registry's keys are connections

    def flush(self) -> None:
        """Send what the engine reported since the last flush to the user and trade channels."""
        for channel, key, data in self.engine.drain():
            if channel == "trades":
                self.publish(("trades", key), {"channel": "trades", "data": data})
            else:
                self.publish((subs.TYPE_OF_USER_CHANNEL[channel], key), {"channel": channel, "data": data})

    def ingest(self, msg: dict, now_ms: int) -> None:
        """One replayed market message: into the engine, then out to subscribers."""
        e = self.engine
        channel = msg.get("channel")
        data: Any = msg.get("data")  # a malformed shape raises below and is counted
        try:
            if channel == "l2Book":
                coin = data["coin"]
                e.on_l2book(data)
            elif channel == "trades":
                coin = data[0]["coin"] if data else None
                e.on_trades(data)
            elif channel == "activeAssetCtx":
                coin = data["coin"]
                e.on_asset_ctx(coin, data["ctx"], now_ms)
            else:
                return
        except (KeyError, TypeError, ValueError, IndexError, ArithmeticError):
            self.bad_market_messages += 1
            return
        self._advance(now_ms)
        if coin in e.books:
            self.publish((channel, coin), msg)
            if channel == "l2Book":
                self._publish_book_derived(coin, now_ms)
                self._publish_spot_book(coin, now_ms)
            for key in self.registry.keys_with_prefix("candle", coin):
                candle = e.candles.latest(coin, key[2])
                if candle is not None:
                    self.publish(key, {"channel": "candle", "data": candle})
        self.flush()

    def _publish_spot_book(self, perp: str, now_ms: int) -> None:
        """The perp's spot pair's book (``@index``, rebuilt from this snapshot) to its ``l2Book``
        subscribers, in the shape the exchange streams a pair's book."""
        pair = self.engine.spot.by_perp.get(perp)
        if pair is None or not self.registry.listeners(("l2Book", pair.coin)):
            return
        book = self.engine.spot_book(pair.coin)
        data = {"coin": pair.coin, "time": book.time_ms or now_ms, "levels": book.levels_wire()}
        self.publish(("l2Book", pair.coin), {"channel": "l2Book", "data": data})

    def _publish_book_derived(self, coin: str, now_ms: int) -> None:
        book = self.engine.books[coin]
        top = (tuple(book.bids[0]) if book.bids else None, tuple(book.asks[0]) if book.asks else None)
        if top != self._last_bbo.get(coin):
            self._last_bbo[coin] = top
            bbo = [{"px": fmt(lv[0]), "sz": fmt(lv[1]), "n": lv[2]} if lv else None for lv in top]
            self.publish(("bbo", coin), {"channel": "bbo", "data": {"coin": coin, "time": now_ms, "bbo": bbo}})
        if self.registry.listeners(("allMids",)):
            # mid() is filtered to not None in the same comprehension; mypy cannot narrow a call.
            mids = {
                c: fmt(b.mid())  # type: ignore[arg-type]  # see above
                for c, b in self.engine.books.items()
                if b.mid() is not None
            }
            self.publish(("allMids",), {"channel": "allMids", "data": {"mids": mids}})


@dataclass
class RunningServer:
    """A server running on its own event loop in a background thread (tests, embedding)."""

    server: SimServer
    url: str
    port: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    _runner: web.AppRunner

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the server's loop (where the engine lives) and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)


async def start(server: SimServer, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Start serving on the current loop; returns the runner and the bound port."""
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sock = site._server.sockets[0]  # type: ignore[union-attr]  # aiohttp exposes no public getter
    return runner, sock.getsockname()[1]


def start_in_thread(server: SimServer, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``server`` from a daemon thread; port 0 picks a free one. Stop with ``.stop()``."""
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            started["runner"], started["port"] = loop.run_until_complete(start(server, host, port))
        except BaseException as exc:  # noqa: BLE001  (handed to the starting thread, which re-raises it)
            started["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, name="tripwire-sim", daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in started:
        raise started["error"]
    p = started["port"]
    return RunningServer(server, f"http://{host}:{p}", p, loop, thread, started["runner"])
