"""A real simulator and a real hot path process in one test, talking over real sockets.

The simulator serves from its own thread (:func:`tripwire.sim.exchange.server.start_in_thread`); the hot
path runs on the test's event loop with its ZeroMQ bus on ipc:// sockets under a temp dir.
The replay starts only once the hot path has subscribed, so it sees every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fixtures import RECORDING
from tests.sim.exchange.conftest import book_msg
from tripwire.bus.addresses import default_addresses
from tripwire.bus.client import AsyncSubscriber
from tripwire.config.endpoints import endpoints
from tripwire.config.settings import load_settings
from tripwire.hotpath.feed.connection import FeedConfig
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.runtime.process import HotPathProcess, ProcessOptions
from tripwire.hotpath.runtime.shards import ShardSpec
from tripwire.hyperliquid.signing import Signer
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.replay import ReplaySpec
from tripwire.sim.exchange.server import RunningServer, SimServer, start_in_thread

# Fast replays compress market time: the dead man's window is market time, so it must outlast
# several housekeeping ticks (0.25 s wall) at the replay's speed.
FAST = {"deadman_window_s": 1800.0, "deadman_refresh_below_s": 900.0, "account_refresh_s": 0.3}


@dataclass
class Rig:
    sim: RunningServer
    proc: HotPathProcess
    signer: Signer
    key: str
    events: list[Any] = field(default_factory=list)
    task: asyncio.Task | None = None

    @property
    def engine(self) -> SimEngine:
        return self.sim.server.engine

    @property
    def user(self) -> str:
        return self.proc.user

    def sim_call(self, fn):
        return self.sim.call(fn)

    async def replay(self, speed: float, files=(RECORDING,), seed: int | None = 7, hold: bool = False) -> None:
        """Replay ``files`` on the simulator and wait until it finished; ``hold`` keeps the
        market clock where the replay ended (for what a test does after it)."""
        spec = ReplaySpec([str(f) for f in files], speed, seed, hold=hold)
        task = await asyncio.to_thread(self.sim.call, lambda: self.sim.server.start_replay(spec))
        while not await asyncio.to_thread(self.sim.call, task.done):
            await asyncio.sleep(0.1)

    def topics(self, prefix: str) -> list[Any]:
        return [e for e in self.events if e.topic.startswith(prefix)]

    async def wait_for(self, pred, timeout_s: float = 20.0, what: str = "condition") -> None:
        # a wall-clock deadline, not a count of polls: a loop kept busy by the code under test
        # (a slowed hot path) must not stretch a 20 s bound into minutes
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pred():
                return
            await asyncio.sleep(0.05)
        if pred():
            return
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    execution: dict | None = None,
    risk_file: str = "config/risk.yaml",
    fund_usdc: int | None = 10_000,
    key: str | None = None,
    feed: FeedConfig | None = None,
    sim: RunningServer | None = None,
    settings_overrides: dict | None = None,
    proxy_url: str | None = None,
    shard: ShardSpec | None = None,
) -> AsyncIterator[Rig]:
    """A hot path trading on a simulator (started here unless given), ``proxy_url`` between."""
    own_sim = sim is None
    if sim is None:
        engine = SimEngine()
        sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))
    key = key or "0x" + secrets.token_hex(32)
    signer = Signer(key, False)
    if fund_usdc:
        sim.call(lambda: sim.server.engine.fund(signer.address, Decimal(fund_usdc)))
    base = load_settings("config/settings.yaml")
    settings = load_settings(
        "config/settings.yaml",
        exchange=base.exchange.model_copy(update={"api_url": proxy_url or sim.url}),
        execution=base.execution.model_copy(update={**FAST, "sim_fund_usdc": 0, **(execution or {})}),
        **(settings_overrides or {}),
    )
    proc = HotPathProcess(
        settings,
        RiskManager(load_risk_config(risk_file)),
        endpoints(settings),
        signer,
        default_addresses(tmp_path / "bus"),
        ProcessOptions(feed=feed or FeedConfig(), shard=shard),
    )
    r = Rig(sim, proc, signer, key)
    sub = AsyncSubscriber(proc.addresses.events, topics=[""])
    r.task = asyncio.create_task(proc.run())

    async def collect() -> None:
        while True:
            ev = await sub.recv()
            if ev is not None:
                r.events.append(ev)

    collector = asyncio.create_task(collect())
    try:
        done, _ = await asyncio.wait(
            [r.task, asyncio.create_task(proc.ready.wait())], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        if r.task in done:
            r.task.result()
            raise AssertionError("hot path exited during start-up")
        if not proc.ready.is_set():
            raise AssertionError("hot path not ready within 30 s")
        await r.wait_for(lambda: proc.feed_state == "CONNECTED", what="feed connected")
        await asyncio.sleep(0.2)  # subscriptions acknowledged before the market moves
        yield r
    finally:
        proc.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(r.task, 30)
        collector.cancel()
        with contextlib.suppress(BaseException):
            await collector
        sub.close()
        if own_sim:
            sim.stop()


@contextlib.asynccontextmanager
async def market_pulse(r: Rig, message: Any, every_s: float) -> AsyncIterator[None]:
    """Ingest ``message(k)`` — a (raw message, market time) pair — into the simulator every
    ``every_s`` (k = 1, 2, …) while the block runs."""

    async def pulse() -> None:
        for k in itertools.count(1):
            msg, at = message(k)
            await asyncio.to_thread(r.sim_call, lambda: r.sim.server.ingest(msg, at))
            await asyncio.sleep(every_s)

    task = asyncio.create_task(pulse())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def fresh_market(r: Rig, coin: str = "BTC", every_s: float = 0.5) -> contextlib.AbstractAsyncContextManager[None]:
    """Keep ``coin``'s book fresh (at the hot path's last mid) after a replay ended.

    What a test does after its replay can take longer than the stale-data bound (5 s) on a
    loaded machine, and a stale book rightly opens nothing; a test about something else holds
    the market alive with this instead of racing that bound."""
    mid = r.proc.hp.mids()[coin]
    start = r.proc._exch_ms()
    levels = [(f"{mid - i:.0f}", "50") for i in range(1, 4)], [(f"{mid + i:.0f}", "50") for i in range(1, 4)]

    def book(k: int) -> tuple[dict, int]:
        at = start + int(k * every_s * 1000)
        return book_msg(coin, *levels, at), at

    return market_pulse(r, book, every_s)


def warm_file(dest: Path, minutes: int = 17) -> Path:
    """The first ``minutes`` of the bundled recording as NDJSON: enough for ATR to warm up."""
    import orjson

    from tripwire.sim.exchange.replay import message_time
    from tripwire.sim.replay.recordings import read_messages

    out = dest / f"warm-{minutes}m.ndjson"
    if out.exists():
        return out
    first = None
    with out.open("wb") as f:
        for msg in read_messages(RECORDING):
            t = message_time(msg)
            if t is not None:
                first = first if first is not None else t
                if t - first > minutes * 60_000:
                    break
            f.write(orjson.dumps(msg) + b"\n")
    return out


def probe_rules(
    dest: Path,
    *,
    size_frac: float = 0.05,
    tp_atr: float = 20,
    sl_atr: float = 20,
    cooldown_s: float = 3600,
    max_active: int = 3,
    side: str = "long",
) -> Path:
    """One rule that fires at the first 1-minute close with ATR warm and places a bracket whose
    TP/SL are far enough (20 ATR) to stay open: a known order state to test against."""
    p = dest / f"probe-{size_frac}-{cooldown_s}-{side}.yaml"
    p.write_text(f"""
max_active_triggers: {max_active}
active_ttl_s: 600
rules:
  probe_{side}:
    side: {side}
    on: bar_close_1m
    cooldown_s: {cooldown_s}
    when_all:
      - atr_1m_gt: 0
    actions:
      - place_bracket: {{size_frac: {size_frac}, tp_atr: {tp_atr}, sl_atr: {sl_atr}}}
""")
    return p


def risk_file(dest: Path, **changes: float) -> Path:
    """config/risk.yaml with some values changed, e.g. ``tick_to_trade_ms=0.001``."""
    import yaml

    data = yaml.safe_load(Path("config/risk.yaml").read_text())
    where = {
        "tick_to_trade_ms": ("breakers", "latency"),
        "max_drawdown_pct": ("breakers", "drawdown"),
        "max_age_ms": ("breakers", "stale_data"),
        "max_errors": ("breakers", "order_errors"),
    }
    for key, value in changes.items():
        section = data
        for part in where.get(key, ("limits",)):
            section = section[part]
        section[key] = value
    p = dest / f"risk-{'-'.join(f'{k}{v}' for k, v in changes.items())}.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


# -- the one-way invariant, checked on the simulator's own state ---------------------------------


def sim_legs(r: Rig) -> tuple[dict[str, float], list[Any]]:
    """The simulator's view of our account: positions by coin and every open order as a Leg
    (a TP/SL trigger named ``tp``/``sl``, a take-profit resting as a limit ``tp`` by its cloid,
    anything else ``order``)."""
    from tripwire.hotpath.execution.orders import Leg, parse_cloid

    def name(tpsl: str | None, cloid: str) -> str:
        info = parse_cloid(cloid)
        return tpsl or ("tp" if info is not None and info.leg == "tp" else "order")

    e = r.engine

    def read():
        acct = e.accounts[r.user]
        orders = [o for o in list(e.open.values()) + list(e.waiting_children.values()) if o.user == r.user]
        return (
            {c: float(p.szi) for c, p in acct.positions.items() if p.szi},
            [
                (
                    o.coin,
                    o.is_buy,
                    float(o.sz),
                    float(o.limit_px),
                    o.reduce_only,
                    o.trigger and o.trigger.tpsl,
                    o.trigger and float(o.trigger.trigger_px),
                    o.cloid or "",
                    o.oid,
                )
                for o in orders
            ],
        )

    positions, raw = r.sim_call(read)
    legs = [
        Leg(
            name(tpsl, cloid),
            cloid,
            coin,
            is_buy,
            sz,
            px,
            reduce_only=ro,
            trigger_px=tpx,
            oid=oid,
            state="waitingForTrigger" if tpsl else "resting",
        )
        for coin, is_buy, sz, px, ro, tpsl, tpx, cloid, oid in raw
    ]
    return positions, legs


def invariant_violation(r: Rig) -> str | None:
    """Why the simulator's state breaks the one-way invariant right now, or None: per coin,
    every TP/SL closes the position's side, each kind totals at most |position|, and none
    exists on a flat coin."""
    from tripwire.hotpath.execution.protection import check_invariant

    positions, legs = sim_legs(r)
    for coin in set(positions) | {leg.coin for leg in legs}:
        why = check_invariant(
            positions.get(coin, 0.0),
            [leg for leg in legs if leg.coin == coin],
            r.engine.universe.by_name[coin].sz_decimals,
        )
        if why:
            return f"{coin}: {why}"
    return None


class InvariantWatch:
    """Samples :func:`invariant_violation` while a scenario runs. A fill and the re-sizing it
    causes are not one event, so a violation may be seen for a moment; ``longest_s`` is the
    longest any lasted (wall clock), ``seen`` every distinct reason."""

    def __init__(self, r: Rig, every_s: float = 0.02) -> None:
        self.r, self.every_s = r, every_s
        self.longest_s = 0.0
        self.seen: set[str] = set()
        self.samples = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        import time

        since = None
        while True:
            why = await asyncio.to_thread(invariant_violation, self.r)
            self.samples += 1
            now = time.monotonic()
            if why is None:
                since = None
            else:
                self.seen.add(why)
                since = since if since is not None else now
                self.longest_s = max(self.longest_s, now - since)
            await asyncio.sleep(self.every_s)

    async def __aenter__(self) -> InvariantWatch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# -- a hot path as its own process, for kill -9 -------------------------------------------------


class ChildHotPath:
    """``tripwire hotpath run`` as a child process against a simulator running in this process,
    its output in a log file (a pipe nobody reads would block it). Started, killed with
    SIGKILL and started again with the same key, it is the same account coming back."""

    def __init__(
        self, sim: RunningServer, key: str, run_dir: Path, rules: Path, env: dict[str, str] | None = None
    ) -> None:
        import os

        self.sim, self.key, self.run_dir = sim, key, run_dir
        self.addresses = default_addresses(run_dir / "bus")
        self.env = {
            **os.environ,
            "TRIPWIRE_PRIVATE_KEY": key,
            "TRIPWIRE_EXCHANGE__API_URL": sim.url,
            "TRIPWIRE_TRIGGERS_FILE": str(rules),
            "TRIPWIRE_BUS__RUN_DIR": str(run_dir / "bus"),
            "TRIPWIRE_METRICS__HOTPATH_PORT": "0",
            "TRIPWIRE_EXECUTION__SIM_FUND_USDC": "0",
            "TRIPWIRE_EXECUTION__DEADMAN_WINDOW_S": str(FAST["deadman_window_s"]),
            "TRIPWIRE_EXECUTION__DEADMAN_REFRESH_BELOW_S": str(FAST["deadman_refresh_below_s"]),
            "TRIPWIRE_EXECUTION__ACCOUNT_REFRESH_S": str(FAST["account_refresh_s"]),
            **(env or {}),
        }
        self.proc: Any = None
        self.lives = 0

    @property
    def log(self) -> Path:
        return self.run_dir / f"hotpath-{self.lives}.log"

    def start(self, timeout_s: float = 60.0) -> float:
        """Start it and wait for "hot path ready"; the seconds that took."""
        import subprocess
        import sys
        import time

        from tests.fixtures import REPO

        self.lives += 1
        out = self.log.open("w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tripwire.cli", "hotpath", "run"],
            cwd=REPO,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        while time.monotonic() - t0 < timeout_s:
            if "hot path ready" in self.log.read_text():
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                raise AssertionError(f"hot path exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"hot path not ready within {timeout_s} s:\n{self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 30 s."""
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def command(self, cmd: str, args: dict | None = None) -> Any:
        from tripwire.bus.commands import CommandClient

        client = CommandClient(self.addresses.commands, timeout_s=10)
        try:
            return client.call(cmd, args or {})
        finally:
            client.close()
