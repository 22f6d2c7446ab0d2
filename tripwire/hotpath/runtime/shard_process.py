"""A market shard (shard K ≥ 1 of N) as a running process: feed → HotPath → triggers to the owner.

It holds no key and no order layer. At start it asks the account owner (shard 0) for its coins
(``shard_join``, retried while the owner starts), then runs the market pipeline for them on its
own WebSocket and its own events/commands sockets (:func:`.shards.shard_addresses`). Every
trigger goes to the owner (:class:`.shards.TriggerForwarder`); every second its mids and ATRs
do too (``shard_market``), and the owner's reply carries the account's trading state, shown in
this shard's ``/status``.

An owner that restarts splits again; if this shard's coins changed (volumes moved), the owner
refuses its next market push (``split_changed``) and the shard stops, so its supervisor
restarts the set rather than leave coins watched twice or not at all.

Its own breakers are the market-data ones — stale data, ws lag, a lost feed — judged on its own
coins, which stop it forwarding entries while they hold; the account's breakers are the
owner's. Commands that act on the account (apply_decision, cancel_all, flatten) are refused
with where to send them; the others (status, pause, set_feature, reload_triggers, fire_rule)
act on this shard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tripwire.bus.addresses import BusAddresses
from tripwire.bus.commands import AsyncCommandClient, CommandError, CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.config.endpoints import Endpoints
from tripwire.config.settings import Settings
from tripwire.contracts.events import TriggerFired
from tripwire.hotpath.feed.connection import CONNECTED, FATAL, FeedConfig, FeedConnection, ws_url
from tripwire.hotpath.feed.subscriptions import build_subscriptions
from tripwire.hotpath.risk.manager import RiskManager, Trip
from tripwire.hotpath.runtime.lifecycle import run_until_stopped
from tripwire.hotpath.runtime.shards import MARKET_PUSH_S, ShardSpec, TriggerForwarder, shard_addresses
from tripwire.hotpath.service import HotPath

log = logging.getLogger("tripwire.hotpath.shard")

TICK_S = 0.25
JOIN_TIMEOUT_S = 120.0  # the owner reconciles the account before it answers; give it time


class ShardProcess:
    def __init__(
        self,
        settings: Settings,
        risk: RiskManager,
        endpoints: Endpoints,
        spec: ShardSpec,
        owner: BusAddresses,
        *,
        own: BusAddresses | None = None,
        feed: FeedConfig | None = None,
        triggers_path: str | None = None,
    ) -> None:
        if spec.owner:
            raise ValueError("shard 0 owns the account: run it as HotPathProcess")
        self.settings = settings
        self.risk = risk
        self.endpoints = endpoints
        self.spec = spec
        self.owner_addresses = owner
        self.addresses = own or shard_addresses(owner, spec.index)
        self.feed_config = feed
        self.triggers_path = triggers_path
        self.ready = asyncio.Event()
        self.hp: HotPath | None = None
        self.forwarder: TriggerForwarder | None = None
        self.feed: FeedConnection | None = None
        self.feed_state = "DISCONNECTED"
        self.owner_risk: dict[str, Any] | None = None
        self.breaker_trips: dict[str, int] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        client = AsyncCommandClient(self.owner_addresses.commands, timeout_s=5.0)
        publisher = Publisher(self.addresses.events, f"hotpath-{self.spec.index}")
        server = CommandServer(self.addresses.commands)
        tasks: list[asyncio.Task[Any]] = []
        try:
            coins = await self._join(client)
            if coins is None:
                return 0 if self._stop.is_set() else 1
            s = self.settings = self.settings.model_copy(update={"coins": tuple(coins)})
            hp = HotPath(
                s, self.risk, triggers_path=self.triggers_path, publisher=publisher, clock_ns=time.monotonic_ns
            )
            self.forwarder = TriggerForwarder(
                self.spec,
                client,
                self.risk,
                mid=lambda c: hp.mids().get(c),
                atr=lambda c: _atr(hp, c),
                on_refused=lambda ev, why: hp.events.order_refused(ev.trigger_id, ev.coin, _kind(ev), why),
            )
            hp.attach_execution(self.forwarder)
            hp.status_extra = self.status_extra
            hp.on_trips = self._on_trips
            hp.register_commands(server)
            self.hp = hp
            subs = build_subscriptions(coins, coin_types=("l2Book", "trades", "activeAssetCtx"))
            self.feed = FeedConnection(
                ws_url(self.endpoints.market_url), subs, hp.on_frame, self._on_feed_state, config=self.feed_config
            )
            tasks = [
                asyncio.create_task(self.feed.run(), name="feed"),
                asyncio.create_task(server.serve(), name="commands"),
                asyncio.create_task(self._housekeeping(client), name="housekeeping"),
            ]
            log.info(
                "shard %s up: %d coins, events %s, commands %s, owner %s",
                self.spec,
                len(coins),
                self.addresses.events,
                self.addresses.commands,
                self.owner_addresses.commands,
            )
            self.ready.set()
            return await run_until_stopped(self._stop, tasks, log)
        finally:
            if self.feed is not None:
                await self.feed.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.forwarder is not None:
                await asyncio.wait_for(self.forwarder.drain(), 10)
            server.close()
            publisher.close()
            client.close()

    async def _join(self, client: AsyncCommandClient) -> list[str] | None:
        """This shard's coins from the owner, asked until it answers (it may still be starting);
        a refusal (another shard count) stops the start, saying so."""
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        delay = 0.2
        while not self._stop.is_set():
            try:
                reply = await client.call(
                    "shard_join",
                    {"index": self.spec.index, "count": self.spec.count, "commands": self.addresses.commands},
                )
                return list(reply["coins"])
            except CommandError as e:
                if e.code != "not_ready" and e.code != "unknown_command":
                    raise SystemExit(
                        f"shard {self.spec}: the owner at {self.owner_addresses.commands} refused: {e}"
                    ) from None
                why = str(e)
            except TimeoutError as e:
                why = str(e)
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"shard {self.spec}: no account owner answered at {self.owner_addresses.commands} within "
                    f"{JOIN_TIMEOUT_S:.0f} s ({why}); start shard 0 first"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        return None

    def _on_trips(self, trips: list[Trip]) -> None:
        for t in trips:
            self.breaker_trips[t.breaker] = self.breaker_trips.get(t.breaker, 0) + 1
            log.warning("shard %s: breaker %s tripped: %s (%s)", self.spec, t.breaker, t.action, t.detail)
        if self.hp is not None:
            self.hp.events.trips(trips, self.risk.snapshot())

    def _on_feed_state(self, state: str) -> None:
        prev, self.feed_state = self.feed_state, state
        if self.hp is not None:
            self.hp.events.feed_status(state, prev, 0)
        if state == CONNECTED:
            self.risk.on_reconnect()  # a market shard has no account to reconcile
        elif prev == CONNECTED or state == FATAL:
            self._on_trips(self.risk.on_disconnect())

    async def _housekeeping(self, client: AsyncCommandClient) -> None:
        hp = self.hp
        assert hp is not None
        next_push = 0.0
        while True:
            await asyncio.sleep(TICK_S)
            trips = hp.check_market_data(time.monotonic_ns())
            if trips:
                self._on_trips(trips)
            now = time.monotonic()
            if now < next_push:
                continue
            next_push = now + MARKET_PUSH_S
            mids = hp.mids()
            atr = {c: a for c in mids if (a := _atr(hp, c)) is not None}
            state = "STALE" if self.risk.stale else "LAGGING" if self.risk.lagging else self.risk.state
            try:
                reply = await client.call(
                    "shard_market",
                    {
                        "index": self.spec.index,
                        "coins": list(hp.settings.coins),
                        "mids": mids,
                        "atr": atr,
                        "state": state,
                    },
                )
            except CommandError as e:
                if e.code == "split_changed":  # a restarted owner split again: start over
                    log.error("shard %s: %s; stopping", self.spec, e)
                    return
                log.warning("shard %s: market push to the owner failed: %s", self.spec, e)
                continue
            except TimeoutError as e:
                log.warning("shard %s: market push to the owner failed: %s", self.spec, e)
                continue
            self.owner_risk = reply.get("risk")
            if self.forwarder is not None:
                self.forwarder.owner_state = reply.get("owner_state")

    def status_extra(self) -> dict[str, Any]:
        return {
            "connection": {"state": self.feed_state, "feeds": [{"url": self.feed.url, "state": self.feed.state}]}
            if self.feed is not None
            else {},
            "shards": self.forwarder.status() if self.forwarder is not None else {},
            "owner_risk": self.owner_risk,
        }


def _kind(ev: TriggerFired) -> str:
    return next((name for name, _ in ev.actions), "trigger")


def _atr(hp: HotPath, coin: str) -> float | None:
    st = hp.pipeline.coins.get(coin)
    atr = st.features.values.get("atr_1m") if st is not None else None
    return float(atr) if isinstance(atr, (int, float)) and not isinstance(atr, bool) and atr > 0 else None
