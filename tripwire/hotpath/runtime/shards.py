"""Sharding the hot path across processes: coins split, one owner of the account's orders.

``tripwire hotpath run --shard K/N`` (or ``tripwire hotpath shards N``, which starts all N):

- **Shard 0 is the account owner**: the usual :class:`~.process.HotPathProcess` — order layer,
  risk manager and every breaker, nonces, the rate-limit budget, the user channels — that also
  computes the market pipeline for its own share of the coins. It splits the coins
  (:func:`split_coins`) and answers the shards' commands (:class:`AccountOwner`).
- **Shards 1…N-1 are market shards** (:mod:`.shard_process`): feed → decode → book → features
  → rules for their coins, no key and no order layer. Every trigger they fire goes to the owner
  as a ``shard_trigger`` command (:class:`TriggerForwarder`), where it takes the same road as
  the owner's own triggers: the risk checks, then the bracket. So the account-level breakers
  (drawdown, daily loss, order errors, pause) cover every coin and cannot be bypassed: nothing
  but the owner can sign an order.

Why not per-shard risk budgets: the limits that matter are account-wide (margin, total
exposure, daily loss, one-way netting per coin, the request budget per address); splitting them
statically wastes capacity and makes every breaker approximate. See docs/SCALE.md.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tripwire.bus.addresses import BusAddresses
from tripwire.bus.commands import AsyncCommandClient, CommandError, CommandRefused, CommandServer
from tripwire.contracts.events import (
    FireRuleArgs,
    ReloadArgs,
    SetFeatureArgs,
    ShardJoinArgs,
    ShardMarketArgs,
    ShardTriggerArgs,
    TriggerFired,
)
from tripwire.hotpath.risk.manager import ACTIVE, RiskManager
from tripwire.hotpath.service import HotPath, MaybeAwaitable

log = logging.getLogger("tripwire.hotpath.shards")

MARKET_PUSH_S = 1.0  # a market shard sends its mids and ATRs to the owner this often
SHARD_COMMANDS = ("shard_join", "shard_trigger", "shard_market")


class ShardConfigError(ValueError):
    """A shard spec or address that cannot work, with what to change."""


@dataclass(frozen=True)
class ShardSpec:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``"K/N"``: shard K (from 0) of N; shard 0 owns the account."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if m is None:
            raise ShardConfigError(f"--shard {text!r}: expected K/N, e.g. 0/2 (shard K of N, from 0)")
        index, count = int(m.group(1)), int(m.group(2))
        if count < 1 or index >= count:
            raise ShardConfigError(f"--shard {text!r}: in K/N, K must be 0…N-1 and N at least 1")
        return cls(index, count)

    @property
    def owner(self) -> bool:
        return self.index == 0

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def split_coins(coins: Sequence[str], count: int, weights: Mapping[str, float] | None = None) -> list[tuple[str, ...]]:
    """``coins`` in ``count`` parts of about equal weight (a coin's 24 h notional volume when
    known, else 1): greedy, heaviest coin first, each to the lightest part so far (ties: the
    lower index), so BTC and ETH do not share a core with the next 60 busiest coins. Each part
    keeps the order ``coins`` are listed in. Deterministic: the same inputs give the same split."""
    if count < 1:
        raise ShardConfigError(f"{count} shards: at least 1")
    if count > len(coins):
        raise ShardConfigError(f"{count} shards for {len(coins)} coins: at most one shard per coin")
    w = weights or {}
    order = sorted(range(len(coins)), key=lambda i: (-max(float(w.get(coins[i], 1.0)), 0.0), i))
    load = [0.0] * count
    parts: list[list[int]] = [[] for _ in range(count)]
    for i in order:
        k = min(range(count), key=lambda j: (load[j], j))
        parts[k].append(i)
        load[k] += max(float(w.get(coins[i], 1.0)), 0.0) or 1e-9  # a zero-volume coin still counts
    return [tuple(coins[i] for i in sorted(p)) for p in parts]


def volume_weights(meta_and_ctxs: Any) -> dict[str, float]:
    """Each perpetual's 24 h notional volume from a ``metaAndAssetCtxs`` answer ({} when it has
    none: the split is then by count)."""
    try:
        meta, ctxs = meta_and_ctxs
        return {a["name"]: float(c.get("dayNtlVlm") or 0.0) for a, c in zip(meta["universe"], ctxs, strict=False)}
    except (TypeError, ValueError, KeyError):
        return {}


def shard_addresses(addresses: BusAddresses, index: int) -> BusAddresses:
    """Shard ``index``'s own events and commands sockets: the owner's (index 0) unchanged,
    ``ipc://…/events.sock`` → ``ipc://…/events-<index>.sock`` for the others. A tcp:// bus has no
    such rule: each shard is given its own --events/--commands."""
    if index == 0:
        return addresses

    def one(addr: str, channel: str) -> str:
        if addr.startswith("ipc://"):
            return re.sub(r"(\.sock)?$", f"-{index}\\1", addr, count=1)
        raise ShardConfigError(
            f"shard {index}: the {channel} address {addr} is not ipc://, so there is no default for this "
            f"shard's own socket: give it --{channel} (each shard binds its own)"
        )

    return BusAddresses(one(addresses.events, "events"), one(addresses.commands, "commands"))


# -- the owner's side ------------------------------------------------------------------------------


class AccountOwner:
    """Shard 0's answers to the market shards, and what it learns from them: their mids and
    ATRs (exposure, equity and bracket prices of coins it does not subscribe to) and their
    state. Triggers from a shard go through :meth:`HotPath.take_trigger`: recorded, published
    and handed to the order layer exactly like the owner's own."""

    def __init__(self, spec: ShardSpec, split: list[tuple[str, ...]], risk: RiskManager) -> None:
        self.spec = spec
        self.split = split
        self.risk = risk
        self.hp: HotPath | None = None
        self.remote_mids: dict[str, float] = {}
        self.remote_atr: dict[str, float] = {}
        self.shards: dict[int, dict[str, Any]] = {}  # index → what it last told
        self.triggers_taken = 0
        self.shard_commands: dict[int, str] = {}  # index → its commands socket, told at join
        self._clients: dict[int, AsyncCommandClient] = {}
        self._local: Any = None  # the owner's own HotPathCommands, once attached
        self._coin_shard = {c: k for k, part in enumerate(split) for c in part}

    def attach(self, hp: HotPath, server: CommandServer) -> None:
        """Answer the shards' commands on ``server``, and take over ``set_feature`` and
        ``reload_triggers`` and ``fire_rule`` (registered by the hot path before) so that they
        reach the shards: the flows keep sending them to one socket, the owner's."""
        from tripwire.hotpath.command_handlers import HotPathCommands  # it imports the service

        self.hp = hp
        self._local = HotPathCommands(hp)
        for name in SHARD_COMMANDS:
            server.register(name, getattr(self, "cmd_" + name))
        server.register("set_feature", self.cmd_set_feature)
        server.register("fire_rule", self.cmd_fire_rule)
        server.register("reload_triggers", self.cmd_reload_triggers)

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    def _client(self, index: int) -> AsyncCommandClient:
        address = self.shard_commands.get(index)
        if address is None:
            raise CommandRefused("shard_unreachable", f"shard {index}/{self.spec.count} has not joined yet")
        client = self._clients.get(index)
        if client is None or client.address != address:
            client = self._clients[index] = AsyncCommandClient(address, timeout_s=2.0)
        return client

    async def _on_shard(self, index: int, cmd: str, args: dict[str, Any]) -> Any:
        try:
            return await self._client(index).call(cmd, args)
        except CommandError as e:  # the shard refused: its reason, its code
            raise CommandRefused(e.code, f"shard {index}: {e}") from None
        except TimeoutError as e:
            raise CommandRefused("shard_unreachable", f"shard {index}: {e}") from None

    async def cmd_set_feature(self, args: SetFeatureArgs) -> dict[str, Any]:
        """A coin of a market shard: set there (its features and rules); the owner's own coins
        and coins of no shard: here, as unsharded."""
        k = self._coin_shard.get(args.coin, 0)
        if k == 0:
            return self._local.cmd_set_feature(args)
        result = await self._on_shard(k, "set_feature", args.model_dump())
        return {**result, "shard": k} if isinstance(result, dict) else result

    async def cmd_fire_rule(self, args: FireRuleArgs) -> dict[str, Any]:
        """A rule fired by hand on a shard's coin is fired in that shard (it has the coin's
        features); the trigger then comes back here like any other."""
        k = self._coin_shard.get(args.coin, 0)
        if k == 0:
            return self._local.cmd_fire_rule(args)
        result = await self._on_shard(k, "fire_rule", args.model_dump())
        return {**result, "shard": k} if isinstance(result, dict) else result

    async def cmd_reload_triggers(self, args: ReloadArgs) -> dict[str, Any]:
        """Here first (a bad file is refused and nothing changes anywhere), then on every shard
        that joined; a shard that could not take it is named in ``shards`` with why."""
        out = self._local.cmd_reload_triggers(args)
        shards: dict[str, Any] = {}
        for k in sorted(self.shard_commands):
            try:
                await self._on_shard(k, "reload_triggers", {"path": out["path"]})
                shards[str(k)] = "reloaded"
            except CommandRefused as e:
                shards[str(k)] = f"{e.code}: {e}"
        return {**out, "shards": shards}

    def mids(self) -> dict[str, float]:
        """Every coin's mid: the owner's own books over what the shards last sent."""
        own = self.hp.mids() if self.hp is not None else {}
        return {**self.remote_mids, **own} if self.remote_mids else own

    def atr(self, coin: str) -> float | None:
        return self.remote_atr.get(coin)

    def _shard(self, index: int, count: int | None = None) -> tuple[str, ...]:
        if count is not None and count != self.spec.count:
            raise CommandRefused(
                "shard_mismatch", f"shard {index}/{count} asked, but the owner runs {self.spec.count} shards"
            )
        if index >= self.spec.count:
            raise CommandRefused("shard_mismatch", f"no shard {index}: the owner runs {self.spec.count} shards")
        return self.split[index]

    def cmd_shard_join(self, args: ShardJoinArgs) -> dict[str, Any]:
        coins = self._shard(args.index, args.count)
        self.shards[args.index] = {"coins": len(coins), "joined_ns": time.time_ns(), "state": None}
        if args.commands:
            self.shard_commands[args.index] = args.commands
        log.info("shard %d/%d joined: %d coins", args.index, args.count, len(coins))
        return {"coins": list(coins), "owner_state": self.risk.state}

    def cmd_shard_trigger(self, args: ShardTriggerArgs) -> dict[str, Any]:
        if self.hp is None:
            raise CommandRefused("not_ready", "the account owner is still starting")
        coins = self._shard(args.index)
        try:
            ev = TriggerFired.from_dict(args.trigger)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as e:
            raise CommandRefused(
                "bad_trigger", f"shard {args.index}: trigger is not a trigger.fired payload: {e!r}"
            ) from None
        if ev.coin not in coins:
            raise CommandRefused("wrong_shard", f"{ev.coin} is not one of shard {args.index}'s coins")
        if args.mid is not None:
            self.remote_mids[ev.coin] = args.mid
        if args.atr is not None:
            self.remote_atr[ev.coin] = args.atr
        self.triggers_taken += 1
        self.hp.take_trigger(ev)
        return {"trigger_id": ev.trigger_id, "owner_state": self.risk.state}

    def cmd_shard_market(self, args: ShardMarketArgs) -> dict[str, Any]:
        coins = set(self._shard(args.index))
        if args.coins and set(args.coins) != coins:
            # the owner restarted and split again (volumes moved): this shard's coins are stale
            raise CommandRefused(
                "split_changed",
                f"shard {args.index}: the owner's split gives it {len(coins)} other coins now; restart the shard",
            )
        self.remote_mids.update((c, m) for c, m in args.mids.items() if c in coins and m > 0)
        self.remote_atr.update((c, a) for c, a in args.atr.items() if c in coins and a > 0)
        self.shards.setdefault(args.index, {}).update(state=args.state, seen_ns=time.time_ns(), coins=len(coins))
        return {"owner_state": self.risk.state, "risk": self.risk.snapshot()}

    def status(self) -> dict[str, Any]:
        return {
            "shard": str(self.spec),
            "role": "account owner",
            "coins": {str(k): list(part) for k, part in enumerate(self.split)},  # JSON keys are strings
            "shards": {str(k): {**v} for k, v in self.shards.items()},
            "triggers_taken": self.triggers_taken,
        }


# -- a market shard's side -------------------------------------------------------------------------


class NotOwner(CommandRefused):
    def __init__(self, spec: ShardSpec, what: str) -> None:
        super().__init__(
            "not_owner",
            f"shard {spec} does not own the account's orders: send {what} to the owner's commands socket (shard 0)",
        )


class TriggerForwarder:
    """A market shard's :class:`~tripwire.hotpath.service.Execution`: each trigger goes to the
    owner with the coin's mid and ATR at that tick, unless this shard's own market-data
    breakers (stale data, ws lag, lost feed) or a pause hold; then it is refused here, said on
    the bus as ``order.refused``, like the owner's risk check would. Account commands are
    refused with where to send them."""

    def __init__(
        self,
        spec: ShardSpec,
        owner: AsyncCommandClient,
        risk: RiskManager,
        *,
        mid: Callable[[str], float | None],
        atr: Callable[[str], float | None],
        on_refused: Callable[[TriggerFired, str], None],
    ) -> None:
        self.spec = spec
        self.owner = owner
        self.risk = risk
        self._mid = mid
        self._atr = atr
        self._on_refused = on_refused
        self.forwarded = 0
        self.refused: dict[str, int] = {}
        self.failed = 0
        self.owner_state: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def blocked(self) -> str | None:
        r = self.risk
        if r.stale:
            return "stale_data: this shard's market data is stale, opening nothing"
        if r.lagging is not None:
            return f"ws_lag: {r.lagging.detail}, opening nothing"
        if r.state != ACTIVE:
            return f"trading_state: shard {self.spec} is {r.state}"
        if self.owner_state == "HALTED":  # the owner would refuse it too; saves the hop
            return "trading_state: the account owner is HALTED"
        return None

    def on_trigger(self, ev: TriggerFired) -> None:
        why = self.blocked()
        if why is not None:
            key = why.split(":", 1)[0]
            self.refused[key] = self.refused.get(key, 0) + 1
            self._on_refused(ev, why)
            return
        task = asyncio.get_running_loop().create_task(self._send(ev))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, ev: TriggerFired) -> None:
        args = {"index": self.spec.index, "trigger": ev.to_dict(), "mid": self._mid(ev.coin), "atr": self._atr(ev.coin)}
        try:
            reply = await self.owner.call("shard_trigger", args)
        except CommandError as e:
            self.refused[e.code] = self.refused.get(e.code, 0) + 1
            log.warning("%s: the owner refused it: %s", ev.trigger_id, e)
            self._on_refused(ev, f"{e.code}: {e}")
            return
        except TimeoutError as e:  # the owner is gone or stuck: the trigger is lost, say so
            self.failed += 1
            log.error("%s: not delivered to the account owner: %s", ev.trigger_id, e)
            self._on_refused(ev, f"owner_unreachable: {e}")
            return
        self.forwarded += 1
        self.owner_state = reply.get("owner_state") if isinstance(reply, dict) else None

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def on_user_record(self, rec: Any) -> None:  # a market shard subscribes to no user channel
        return None

    def apply_decision(self, ev: TriggerFired, decision: Any) -> MaybeAwaitable:
        raise NotOwner(self.spec, "apply_decision")

    def cancel_all(self, coin: str | None) -> MaybeAwaitable:
        raise NotOwner(self.spec, "cancel_all")

    def flatten(self, coin: str | None) -> MaybeAwaitable:
        raise NotOwner(self.spec, "flatten")

    def status(self) -> dict[str, Any]:
        return {
            "shard": str(self.spec),
            "role": "market shard",
            "owner": self.owner.address,
            "owner_state": self.owner_state,
            "forwarded": self.forwarded,
            "refused": dict(self.refused),
            "failed": self.failed,
        }
