"""A real simulator and a real hot path process in one test, talking over real sockets.

The simulator serves from its own thread (:func:`tripwire.sim.exchange.server.start_in_thread`); the hot
path runs on the test's event loop with its ZeroMQ bus on ipc:// sockets under a temp dir.
The replay starts only once the hot path has subscribed, so it sees every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator

from tripwire.bus.addresses import default_addresses
from tripwire.bus.client import AsyncSubscriber
from tripwire.hyperliquid.signing import Signer
from tripwire.hotpath.feed.connection import FeedConfig
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.config.endpoints import endpoints
from tripwire.hotpath.runtime.process import HotPathProcess, ProcessOptions
from tripwire.config.settings import load_settings
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.replay import ReplaySpec
from tripwire.sim.exchange.server import RunningServer, SimServer, start_in_thread
from tests.fixtures import RECORDING

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

    async def replay(self, speed: float, files=(RECORDING,), seed: int | None = 7) -> None:
        """Replay ``files`` on the simulator and wait until it finished."""
        spec = ReplaySpec([str(f) for f in files], speed, seed)
        task = await asyncio.to_thread(self.sim.call, lambda: self.sim.server.start_replay(spec))
        while not await asyncio.to_thread(self.sim.call, task.done):
            await asyncio.sleep(0.1)

    def topics(self, prefix: str) -> list[Any]:
        return [e for e in self.events if e.topic.startswith(prefix)]

    async def wait_for(self, pred, timeout_s: float = 20.0, what: str = "condition") -> None:
        for _ in range(int(timeout_s / 0.05)):
            if pred():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, *, execution: dict | None = None, risk_file: str = "config/risk.yaml",
              fund_usdc: int | None = 10_000, key: str | None = None,
              feed: FeedConfig | None = None, sim: RunningServer | None = None,
              settings_overrides: dict | None = None,
              proxy_url: str | None = None) -> AsyncIterator[Rig]:
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
    settings = load_settings("config/settings.yaml", exchange=base.exchange.model_copy(
        update={"api_url": proxy_url or sim.url}), execution=base.execution.model_copy(
        update={**FAST, "sim_fund_usdc": 0, **(execution or {})}), **(settings_overrides or {}))
    proc = HotPathProcess(settings, RiskManager(load_risk_config(risk_file)), endpoints(settings),
                          signer, default_addresses(tmp_path / "bus"),
                          ProcessOptions(feed=feed or FeedConfig()))
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
        done, _ = await asyncio.wait([r.task, asyncio.create_task(proc.ready.wait())],
                                     timeout=30, return_when=asyncio.FIRST_COMPLETED)
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


def warm_file(dest: Path, minutes: int = 17) -> Path:
    """The first ``minutes`` of the bundled recording as NDJSON: enough for ATR to warm up."""
    import orjson
    from tripwire.sim.replay.recordings import read_messages
    from tripwire.sim.exchange.replay import message_time
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


def probe_rules(dest: Path, *, size_frac: float = 0.05, tp_atr: float = 20, sl_atr: float = 20,
                cooldown_s: float = 3600, max_active: int = 3, side: str = "long") -> Path:
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
    where = {"tick_to_trade_ms": ("breakers", "latency"), "max_drawdown_pct": ("breakers", "drawdown"),
             "max_age_ms": ("breakers", "stale_data"), "max_errors": ("breakers", "order_errors")}
    for key, value in changes.items():
        section = data
        for part in where.get(key, ("limits",)):
            section = section[part]
        section[key] = value
    p = dest / f"risk-{'-'.join(f'{k}{v}' for k, v in changes.items())}.yaml"
    p.write_text(yaml.safe_dump(data))
    return p
