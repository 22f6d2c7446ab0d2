"""The hot path as a running process: feed → HotPath → risk → orders, plus bus and timers.

:class:`HotPathProcess` wires the parts and owns their lifecycle; each part stays testable on
its own. Feeds hand their frames straight to :meth:`HotPath.on_frame`, which routes market
data through the pipeline and the account's records to the :class:`OrderLayer`; the process
reads the hot path only through its query methods, and every event it has to tell (feed
state, breaker trips, the account) goes through the hot path's one
:class:`~tripwire.hotpath.events.HotPathEvents`. One asyncio loop runs everything: the market feed (and a second socket for user
channels when orders go elsewhere, as in sim mode), the command server, the order layer's
tasks and one housekeeping timer. Nothing here blocks the loop.

Disconnects: the moment the feed leaves CONNECTED the risk manager enters its safe state (open
nothing new; protective orders stay unless ``execution.on_disconnect`` is ``cancel_all``) and
``feed.status`` is published. On reconnect the exchange's open orders, positions and missed
fills are reconciled over REST before the disconnect breaker is lifted.

Start-up is a reconcile too (:meth:`OrderLayer.on_reconcile`): a hot path restarted after a
crash adopts the orders its previous life left, re-arms the dead man's switch and protects
every open position before it reports ready; ``restart`` in the status says how long that took
from the start of :meth:`HotPathProcess.run` (``protected_after_s``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from tripwire.bus.addresses import BusAddresses
from tripwire.bus.commands import CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.config.endpoints import Endpoints
from tripwire.config.settings import Settings, resolve_path
from tripwire.hotpath.carry.config import CarryConfigError, load_carry_config
from tripwire.hotpath.carry.live import LiveCarry
from tripwire.hotpath.carry.spot import resolve_pair
from tripwire.hotpath.events import HotPathEvents
from tripwire.hotpath.execution.brackets import BracketConfig
from tripwire.hotpath.execution.deadman import DeadmanConfig, DeadMansSwitch
from tripwire.hotpath.execution.gateway import Gateway
from tripwire.hotpath.execution.layer import OrderLayer
from tripwire.hotpath.execution.transports import WsPoster
from tripwire.hotpath.feed.connection import CONNECTED, FATAL, FeedConfig, FeedConnection, ws_url
from tripwire.hotpath.feed.decode import FAULT_REASONS
from tripwire.hotpath.feed.reconcile import Reconciler
from tripwire.hotpath.feed.subscriptions import COIN_TYPES, Subscription, build_subscriptions
from tripwire.hotpath.feed.universe import resolve_coins
from tripwire.hotpath.metrics import HotPathCollector, Snapshot
from tripwire.hotpath.quoting.config import QuotingConfigError, load_quoting_config
from tripwire.hotpath.quoting.quoter import Quoter, quoting_metrics
from tripwire.hotpath.risk.manager import RiskManager, Trip
from tripwire.hotpath.runtime.lifecycle import run_until_stopped
from tripwire.hotpath.runtime.shards import AccountOwner, ShardSpec, split_coins, volume_weights
from tripwire.hotpath.service import HotPath
from tripwire.hyperliquid.signing import Signer

log = logging.getLogger("tripwire.hotpath")

TICK_S = 0.25  # housekeeping period: dead man's switch, data age, metrics
WS_RETRY_S = 5.0  # a dropped order WebSocket is retried this often (HTTP meanwhile)


@dataclass
class ProcessOptions:
    feed: FeedConfig | None = None
    metrics_port: int | None = None  # None/0: no metrics server
    metrics_host: str = "127.0.0.1"
    on_ready: Callable[[], None] | None = None  # sd_notify READY=1
    on_tick: Callable[[], None] | None = None  # sd_notify WATCHDOG=1
    triggers_path: str | None = None
    # shard 0 of N > 1: this process owns the account and trades the market shards' triggers
    # (tripwire.hotpath.runtime.shards); None: one process, every coin
    shard: ShardSpec | None = None


class HotPathProcess:
    def __init__(
        self,
        settings: Settings,
        risk: RiskManager,
        endpoints: Endpoints,
        signer: Signer,
        addresses: BusAddresses,
        options: ProcessOptions | None = None,
    ) -> None:
        self.settings = settings
        self.risk = risk
        self.endpoints = endpoints
        self.signer = signer
        self.addresses = addresses
        self.options = options or ProcessOptions()
        self.user = (settings.exchange.account_address or settings.exchange.vault_address or signer.address).lower()
        self.collector = HotPathCollector()
        self.feed_state = "DISCONNECTED"
        self.reconnects = 0
        self.breaker_trips: dict[str, int] = {}
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._was_connected = False
        self._reconciling: asyncio.Task | None = None
        self.restart: dict[str, Any] | None = None  # what the start-up reconcile did, and when
        self.hp: HotPath | None = None
        self.layer: OrderLayer | None = None
        self.events = HotPathEvents(None)  # the hot path's, once it is built
        self.feeds: list[FeedConnection] = []
        self.quoter: Quoter | None = None
        self.carry: LiveCarry | None = None
        self.owner: AccountOwner | None = None  # shard 0 of a sharded hot path

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        started = time.monotonic()
        s, ex = self.settings, self.settings.execution
        publisher = Publisher(self.addresses.events, "hotpath")
        server = CommandServer(self.addresses.commands)
        ws = WsPoster(ws_url(self.endpoints.order_url)) if ex.transport == "ws" else None
        gateway = Gateway(
            self.signer,
            self.endpoints.order_url,
            risk=self.risk,
            ws=ws,
            vault_address=s.exchange.vault_address,
            on_trip=self._on_trips,
        )
        await gateway.start()
        metrics_server = None
        tasks: list[asyncio.Task] = []
        try:
            markets = await self._retry("exchange meta", gateway.load_markets)
            try:
                coins = resolve_coins(s.coins, gateway.meta)
            except ValueError as e:
                raise SystemExit(f"{e} (at {self.endpoints.order_url})") from None
            if coins != s.coins:  # coins: [all] → the listed perpetuals, for everything below
                log.info("coins: all → %d perpetuals listed by the exchange", len(coins))
                s = self.settings = s.model_copy(update={"coins": coins})
            shard = self.options.shard
            if shard is not None and shard.count > 1:
                s = self.settings = await self._own_shards(gateway, shard, s)
            if s.mode in ("demo", "sim") and ex.sim_fund_usdc > 0:
                await self._fund_on_simulator(gateway, ex.sim_fund_usdc)
            hp = HotPath(
                s, self.risk, triggers_path=self.options.triggers_path, publisher=publisher, clock_ns=time.monotonic_ns
            )
            self.events = hp.events
            layer = OrderLayer(
                gateway,
                self.risk,
                markets,
                mids=self._mids,
                active_triggers=lambda: len(hp.active_triggers()),
                events=hp.events,
                on_trips=self._on_trips,
                deadman=DeadMansSwitch(DeadmanConfig(ex.deadman_window_s, ex.deadman_refresh_below_s)),
                cfg=BracketConfig(
                    entry_slippage_bps=ex.entry_slippage_bps,
                    close_filled_on_cancel=ex.close_filled_on_cancel,
                    default_sl_atr=ex.default_sl_atr,
                    default_tp_atr=ex.default_tp_atr,
                    fallback_atr_bps=ex.fallback_atr_bps,
                ),
                exch_ms=self._exch_ms,
                rules=lambda: hp.pipeline.triggers.ruleset.rules,
                atr=lambda coin: _atr(hp, coin) or (self.owner.atr(coin) if self.owner is not None else None),
                bbo=lambda coin: _bbo(hp, coin),
                unprotected=ex.unprotected_positions,
            )
            hp.attach_execution(layer)  # built after hp: the layer reads hp's books
            self.quoter = self._make_quoter(layer, markets)
            hp.quoter = layer.quoter = self.quoter
            self.carry = await self._make_carry(gateway, layer, hp, markets)
            if self.carry is not None:
                hp.attach_carry(self.carry)
                layer.attach_carry(self.carry)
                # before the reconcile: an adopted carry's short is never bracketed
                await self._retry("carry spot balances", self.carry.start)
            hp.status_extra = self.status_extra
            hp.on_trips = self._on_trips
            self.hp, self.layer = hp, layer
            hp.register_commands(server)
            if self.owner is not None:
                self.owner.attach(hp, server)
            reconciler = Reconciler(self.endpoints.order_url, self.user)
            self._reconciler = reconciler
            snap = await self._retry("account reconcile", reconciler.reconcile)
            self.restart = await layer.on_reconcile(snap)
            self.restart["protected_after_s"] = time.monotonic() - started
            if snap.positions or snap.open_orders:
                log.info(
                    "start-up: %d positions protected %.3f s after start (%d orders adopted, %d phantoms removed)",
                    len(snap.positions) - len(self.restart["unprotected"]),
                    self.restart["protected_after_s"],
                    self.restart["adopted"],
                    self.restart["phantoms"],
                )
            await self._retry("account state", lambda: layer.refresh_account(positions=False))
            if ws is not None:
                await self._connect_ws(ws)
            self.feeds = self._make_feeds(hp)
            tasks = [asyncio.create_task(f.run(), name=f"feed {f.url}") for f in self.feeds]
            tasks.append(asyncio.create_task(server.serve(), name="commands"))
            tasks.append(asyncio.create_task(self._housekeeping(gateway, ws), name="housekeeping"))
            if self.options.metrics_port:
                from tripwire.hotpath.metrics import serve_metrics

                metrics_server = serve_metrics(self.collector, self.options.metrics_port, self.options.metrics_host)
            log.info(
                "hot path up: mode %s, account %s, orders → %s, events %s, commands %s",
                s.mode,
                self.user,
                self.endpoints.order_url,
                self.addresses.events,
                self.addresses.commands,
            )
            self.ready.set()
            if self.options.on_ready:
                self.options.on_ready()
            return await run_until_stopped(self._stop, tasks, log)
        finally:
            if self.carry is not None:
                self.carry.stop()  # stopping feeds reads as a disconnect: that must not unwind it
            for f in self.feeds:
                await f.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.layer is not None:
                try:
                    out = await asyncio.wait_for(self.layer.shutdown(), 15)
                    if out:
                        log.info("shutdown: %s", out)
                except Exception as e:  # noqa: BLE001 - shutdown must finish
                    log.error("shutdown cancel failed: %r", e)
            if ws is not None:
                await ws.close()
            await gateway.close()
            if metrics_server is not None:
                metrics_server.shutdown()
            if self.owner is not None:
                self.owner.close()
            server.close()
            publisher.close()

    async def _own_shards(self, gateway: Gateway, shard: ShardSpec, s: Settings) -> Settings:
        """Shard 0 of N: split the coins by 24 h volume (by count when the exchange gives none),
        keep part 0, answer the other shards. The split is made here only, so every shard gets
        its part from the one owner and no coin is traded twice or missed."""
        if not shard.owner:
            raise ValueError(f"shard {shard}: only shard 0 runs the account (the others run ShardProcess)")
        try:
            weights = volume_weights(await gateway.info({"type": "metaAndAssetCtxs"}))
        except Exception as e:  # noqa: BLE001 - an even split by count still works
            log.warning("metaAndAssetCtxs failed (%r): coins split by count, not volume", e)
            weights = {}
        try:
            split = split_coins(s.coins, shard.count, weights)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        self.owner = AccountOwner(shard, split, self.risk)
        log.info("shard %s: account owner, %d of %d coins here", shard, len(split[0]), len(s.coins))
        return s.model_copy(update={"coins": split[0]})

    def _mids(self) -> dict[str, float]:
        """Mids of every coin the account may hold: this process's books, and the market
        shards' last word for theirs when sharded."""
        if self.owner is not None:
            return self.owner.mids()
        return self.hp.mids() if self.hp is not None else {}

    async def _retry(self, what: str, fn: Callable[[], Any], attempts: int = 30) -> Any:
        delay = 0.2
        for i in range(attempts):
            try:
                return await fn()
            except Exception as e:
                if i == attempts - 1 or self._stop.is_set():
                    raise
                log.warning("%s failed (%r); retrying in %.1f s", what, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _fund_on_simulator(self, gateway: Gateway, usdc: float) -> None:
        """demo/sim: a simulator account with no deposit gets ``usdc`` from its faucet."""
        state = await gateway.info({"type": "clearinghouseState", "user": self.user})
        value = float(state.get("marginSummary", {}).get("accountValue", 0)) if isinstance(state, dict) else 0.0
        if value > 0:
            return
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.endpoints.order_url.rstrip("/") + "/sim/fund", json={"user": self.user, "usdc": str(usdc)}
            ) as r,
        ):
            if r.status != 200:
                raise SystemExit(
                    f"could not fund {self.user} on the simulator: HTTP {r.status} {(await r.text())[:200]}"
                )
        log.info("funded %s with %s USDC on the simulator", self.user, usdc)

    async def _connect_ws(self, ws: WsPoster) -> None:
        try:
            await ws.connect()
        except Exception as e:  # noqa: BLE001 - HTTP carries the orders meanwhile
            log.warning("order WebSocket unavailable (%r); orders go over HTTP", e)

    def _make_feeds(self, hp: HotPath) -> list[FeedConnection]:
        s = self.settings
        cfg = self.options.feed
        coins = s.coins
        on_frame = hp.on_frame
        if self.endpoints.same_socket:
            subs = build_subscriptions(coins, user=self.user, coin_types=_MARKET_TYPES) + self._spot_subscriptions()
            return [FeedConnection(ws_url(self.endpoints.market_url), subs, on_frame, self._on_feed_state, config=cfg)]
        market = FeedConnection(
            ws_url(self.endpoints.market_url),
            build_subscriptions(coins, coin_types=_MARKET_TYPES) + self._spot_subscriptions(),
            on_frame,
            self._on_feed_state,
            config=cfg,
        )
        user = FeedConnection(
            ws_url(self.endpoints.order_url),
            build_subscriptions((), user=self.user),
            on_frame,
            self._on_feed_state,
            config=cfg,
        )
        return [market, user]

    def status_extra(self) -> dict[str, Any]:
        return {
            "connection": {
                "state": self.feed_state,
                "reconnects": self.reconnects,
                "feeds": [{"url": f.url, "state": f.state} for f in self.feeds],
            },
            "account_address": self.user,
            "order_url": self.endpoints.order_url,
            "restart": self.restart,
            **({"shards": self.owner.status()} if self.owner is not None else {}),
        }

    def _exch_ms(self) -> int:
        """Exchange time: the newest book/trade time seen (the simulator's clock in a replay),
        the wall clock before any."""
        t = self.hp.exchange_time_ms() if self.hp is not None else 0
        return t or time.time_ns() // 1_000_000

    # -- breakers and feed state ----------------------------------------------------------------

    def _make_quoter(self, layer: OrderLayer, markets: dict) -> Quoter | None:
        """The quoting strategy of ``settings.quoting_file`` (None when unset or nothing enabled);
        a bad file stops start-up naming the file, key and reason."""
        path = self.settings.quoting_file
        if path is None:
            return None
        try:
            cfg = load_quoting_config(resolve_path(path), tuple(self.settings.coins))
        except QuotingConfigError as e:
            raise SystemExit(str(e)) from None
        if not cfg.enabled():
            return None
        log.info("quoting %s (%s)", ", ".join(cfg.enabled()), path)
        return Quoter(cfg, layer, self.risk, markets)

    async def _make_carry(
        self, gateway: Gateway, layer: OrderLayer, hp: HotPath, markets: dict[str, Any]
    ) -> LiveCarry | None:
        """The funding carry of ``settings.carry_file`` (None when unset or nothing enabled); a
        bad file, a coin also quoted or a spot pair the exchange does not list stops start-up."""
        path = self.settings.carry_file
        if path is None:
            return None
        try:
            cfg = load_carry_config(resolve_path(path), tuple(self.settings.coins))
        except CarryConfigError as e:
            raise SystemExit(str(e)) from None
        if not cfg.enabled():
            return None
        quoted = set(self.quoter.coins) if self.quoter is not None else set()
        for coin in cfg.enabled():
            if coin in quoted:
                raise SystemExit(
                    f"{path}: coins.{coin}: also quoted ({self.settings.quoting_file}); the carry's short and "
                    "quoting's inventory cannot share a coin's one position"
                )
        spot_meta = await self._retry("spotMeta", lambda: gateway.info({"type": "spotMeta"}))
        pairs = {}
        for coin in cfg.enabled():
            try:
                pairs[coin] = resolve_pair(spot_meta, cfg.coins[coin].spot)
            except ValueError as e:
                raise SystemExit(f"{path}: coins.{coin}.spot: {e} (at {self.endpoints.order_url})") from None
        stale_ms = self.settings.book.stale_after_ms

        def perp_book(coin: str) -> tuple[float, float, str]:
            st = hp.pipeline.coins.get(coin)
            if st is None:
                return 0.0, 0.0, "no book"
            return st.book.best_bid, st.book.best_ask, st.problem(stale_ms, hp.pipeline.last_recv_ns)

        log.info("funding carry on %s (%s)", ", ".join(cfg.enabled()), path)
        return LiveCarry(cfg, layer, self.risk, markets, pairs, perp_book, stale_ms, publish=hp.events.carry)

    def _spot_subscriptions(self) -> tuple[Subscription, ...]:
        """The carry's hedge books on the market feed."""
        return tuple(Subscription("l2Book", c) for c in sorted(self.carry.by_spot)) if self.carry else ()

    def _on_trips(self, trips: list[Trip]) -> None:
        if self.quoter is not None and trips:
            self.quoter.pull(f"breaker: {', '.join(t.breaker for t in trips)}")
        if self.carry is not None and trips:
            self.carry.pull(f"breaker: {', '.join(t.breaker for t in trips)}")
        for t in trips:
            self.breaker_trips[t.breaker] = self.breaker_trips.get(t.breaker, 0) + 1
            log.warning("breaker %s tripped: %s → %s (%s)", t.breaker, t.action, t.state, t.detail)
        self.events.trips(trips, self.risk.snapshot())

    def _on_feed_state(self, state: str) -> None:
        prev, self.feed_state = self.feed_state, state
        self.events.feed_status(state, prev, self.reconnects)
        layer = self.layer
        if state == CONNECTED:
            if self._was_connected:
                self.reconnects += 1
                self._reconciling = asyncio.get_running_loop().create_task(self._after_reconnect())
            self._was_connected = True
        elif prev == CONNECTED or state == FATAL:
            trips = self.risk.on_disconnect()
            self._on_trips(trips)
            if layer is not None and self.settings.execution.on_disconnect == "cancel_all":
                layer.start_cancel_all("disconnect cancel_all")

    async def _after_reconnect(self) -> None:
        assert self.layer is not None
        try:
            snap = await asyncio.wait_for(self._reconciler.reconcile(), 30)
            await self.layer.on_reconcile(snap)
            await self.layer.refresh_account()
        except Exception as e:  # noqa: BLE001 - stay in the safe state, say why
            log.error("reconcile after reconnect failed, staying in the safe state: %r", e)
            return
        if all(f.state == CONNECTED for f in self.feeds):
            self.risk.on_reconnect()
            self.events.risk_state(self.risk.snapshot())
            log.info(
                "reconnected and reconciled: %d positions, %d open orders", len(snap.positions), len(snap.open_orders)
            )

    # -- the timer ---------------------------------------------------------------------------------

    async def _housekeeping(self, gateway: Gateway, ws: WsPoster | None) -> None:
        layer, hp = self.layer, self.hp
        assert layer is not None and hp is not None
        ex = self.settings.execution
        next_account = next_metrics = next_ws = 0.0
        next_orders = time.monotonic() + ex.orders_reconcile_s
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            try:
                await layer.tick()
                trips = hp.check_market_data(time.monotonic_ns())  # stale data, ws lag
                if trips:
                    self._on_trips(trips)
                if self.quoter is not None:
                    self.quoter.tick(hp.pipeline.problems())
                if self.carry is not None:
                    self.carry.tick()
                if now >= next_account:
                    next_account = now + ex.account_refresh_s
                    await layer.refresh_account()
                if ex.orders_reconcile_s and now >= next_orders and self.feed_state == CONNECTED:
                    next_orders = now + ex.orders_reconcile_s
                    found = await layer.reconcile_orders()
                    if any(found.values()):
                        log.warning("orders reconcile: %s", found)
                if ws is not None and not ws.connected and now >= next_ws:
                    next_ws = now + WS_RETRY_S
                    await self._connect_ws(ws)
            except Exception as e:  # noqa: BLE001 - a failed refresh is retried next tick
                log.warning("housekeeping: %r", e)
            if now >= next_metrics:
                next_metrics = now + 1.0
                self.collector.snapshot = self.metrics_snapshot()
                if self.events.enabled:
                    self.events.account(layer.account.snapshot(self._mids()))
            if self.options.on_tick:
                self.options.on_tick()

    def metrics_snapshot(self) -> Snapshot:
        hp, layer = self.hp, self.layer
        assert hp is not None and layer is not None
        mids = self._mids()
        acct = layer.account
        book_ms = hp.latest_book_ms()
        lag = None if book_ms is None else time.time_ns() / 1e9 - book_ms / 1e3
        return Snapshot(
            messages=tuple(hp.message_counts().items()),
            # every reason and topic root, zeros included: a series that appears only after its
            # first fault cannot be alerted on with rate()
            faults=tuple(
                {**dict.fromkeys(FAULT_REASONS, 0), **{r: f["count"] for r, f in hp.decode_faults().items()}}.items()
            ),
            triggers=tuple((r, c, n) for (r, c), n in hp.fired_counts().items()),
            ws_lag_s=lag,
            reconnects=self.reconnects,
            connection_state=self.feed_state,
            coin_ws_lag_s=tuple((c, ms / 1e3) for c, ms in hp.ws_lag_ms().items()),
            time_faults=tuple(hp.book_counts()["time_faults"].items()),
            untradable=tuple(hp.book_counts()["untradable"].items()),
            trading_state=self.risk.state,
            breaker_trips=tuple(self.breaker_trips.items()),
            bus_drops=tuple(self.events.drops().items()),
            equity=acct.equity(mids),
            realized=acct.realized_pnl - acct.fees,
            unrealized=acct.unrealized(mids),
            positions=tuple((c, abs(p.szi) * mids.get(c, p.entry_px)) for c, p in acct.positions.items()),
            open_orders=layer.tracker.open_count(),
            tick_to_order=layer.tick_to_order.cumulative(),
            tick_to_order_sum=layer.tick_to_order.total,
            tick_to_decision=layer.tick_to_decision.cumulative(),
            tick_to_decision_sum=layer.tick_to_decision.total,
            fees=(("paid", acct.fees_paid), ("rebates", acct.rebates)),
            **quoting_metrics(layer.quoter, hp.pipeline.coins),
        )


_MARKET_TYPES = tuple(t for t in COIN_TYPES if t in ("l2Book", "trades", "activeAssetCtx"))


def _atr(hp: HotPath, coin: str) -> float | None:
    """The coin's live 1-minute ATR, None while it is not warm (prices a naked position)."""
    st = hp.pipeline.coins.get(coin)
    atr = st.features.values.get("atr_1m") if st is not None else None
    return float(atr) if isinstance(atr, (int, float)) and not isinstance(atr, bool) and atr > 0 else None


def _bbo(hp: HotPath, coin: str) -> tuple[float, float] | None:
    """The coin's best bid and ask as the hot path last saw them (None before a book): where a
    post-only take-profit may rest."""
    st = hp.pipeline.coins.get(coin)
    if st is None or not (st.book.best_bid > 0 and st.book.best_ask > 0):
        return None
    return st.book.best_bid, st.book.best_ask
