"""The real API over real HTTP: uvicorn on 127.0.0.1 (an ephemeral port) in a thread, a real
hot path (``HotPath`` + ``CommandServer`` + ``Publisher`` over ipc://) in another thread with its
own asyncio loop, and a real SQLite store. Nothing is mocked between the HTTP client and the
hot path's command handlers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from tests.fixtures import RECORDING
from tripwire.api.app import create_app
from tripwire.bus.commands import CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.config.settings import ApiKey, ApiSettings, BusSettings, load_settings
from tripwire.flows.analysis import AnalysisConfig, LocalModel
from tripwire.flows.store.sqlite import SqliteStore
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.service import HotPath
from tripwire.sim.replay.runner import replay_stream

KEYS = {
    "read": "read-key-3f9a1c0d5e7b2468",
    "trade": "trade-key-8b1e4d7c2a9f0635",
    "admin": "admin-key-c4a7e0b3d6f91528",
}
N8N_SECRET = "n8n-secret-5d2b8e1f4a7c0369"
ENV = {f"TW_TEST_{scope.upper()}_KEY": key for scope, key in KEYS.items()} | {"TW_TEST_N8N_SECRET": N8N_SECRET}


_DIRS: list[Path] = []


def short_dir() -> Path:
    # ipc:// paths must stay under 107 bytes; pytest's tmp paths can be longer
    _DIRS.append(Path(tempfile.mkdtemp(prefix="twapi")))
    return _DIRS[-1]


@pytest.fixture(scope="session", autouse=True)
def _remove_short_dirs():
    yield
    for d in _DIRS:
        shutil.rmtree(d, ignore_errors=True)


def api_settings(**over: Any) -> ApiSettings:
    keys = tuple(ApiKey(name=f"{s}-key", key_env=f"TW_TEST_{s.upper()}_KEY", scopes=(s,)) for s in KEYS)
    return ApiSettings(**{"keys": keys, "n8n_secret_env": "TW_TEST_N8N_SECRET", "hotpath_timeout_s": 1.0, **over})


def make_settings(run_dir: Path, store_uri: str | None = None, **api_over: Any):
    bus = BusSettings(run_dir=run_dir, events=f"ipc://{run_dir}/ev.sock", commands=f"ipc://{run_dir}/cmd.sock")
    return load_settings(
        "config/settings.yaml",
        bus=bus,
        api=api_settings(**api_over),
        store={"uri": store_uri or f"sqlite:///{run_dir}/store.sqlite"},
    )


# -- the hot path, in its own thread and loop --------------------------------------------------

_FRAMES: list[bytes] = []


def replay_frames() -> list[bytes]:
    if not _FRAMES:
        _FRAMES.extend(orjson.dumps(m) for m in replay_stream([RECORDING], synthetic=True, seed=7))
    return _FRAMES


class HotPathThread:
    """A real HotPath serving commands (``CommandServer.serve``) and publishing events, fed the
    bundled hour of BTC so books are live and rules can be fired by hand."""

    def __init__(self, settings, events: str, commands: str):
        self.events, self.commands = events, commands
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._settings = settings
        self.thread = threading.Thread(target=self._main, daemon=True, name="hotpath")
        self.thread.start()
        assert self._ready.wait(20), "hot path did not start"

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.pub = Publisher(self.events, heartbeat_interval_s=0.05)
        self.server = CommandServer(self.commands)
        self.hp = HotPath(self._settings, RiskManager(load_risk_config("config/risk.yaml")), publisher=self.pub)
        self.hp.register_commands(self.server)
        for f in replay_frames():
            self.hp.on_frame(f, time.time_ns())
        self.task = self.loop.create_task(self.server.serve())
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the hot path's loop (its state is not thread-safe) and return."""

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        self.run(lambda: self.pub.publish(topic, data))

    def stop(self) -> None:
        def shutdown() -> None:
            self.task.cancel()
            self.loop.call_soon(self.loop.stop)

        self.loop.call_soon_threadsafe(shutdown)
        self.thread.join(10)
        self.server.close()
        self.pub.close()


# -- the API, served by uvicorn in a thread -----------------------------------------------------


class ApiServer:
    def __init__(self, app):
        self.app = app
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def client(self, scope: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"X-API-Key": KEYS[scope]} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kw)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve(settings, store=None, **kw: Any) -> ApiServer:
    kw.setdefault("analysis", AnalysisConfig(model_file=None))
    kw.setdefault("model", LocalModel.heuristic())
    return ApiServer(create_app(settings, store=store, environ=kw.pop("environ", ENV), **kw))


class Stack:
    """Hot path + store + API, and clients per scope."""

    def __init__(self, run_dir: Path, env: dict[str, str] | None = None, **api_over: Any):
        self.run_dir = run_dir
        self.settings = make_settings(run_dir, **api_over)
        self.hot = HotPathThread(self.settings, self.settings.bus.events, self.settings.bus.commands)
        self.store = SqliteStore(run_dir / "store.sqlite")
        self.api = serve(self.settings, self.store, environ={**ENV, **(env or {})})
        self.read, self.trade, self.admin = (self.api.client(s) for s in ("read", "trade", "admin"))
        self.anon = self.api.client()

    def close(self) -> None:
        for c in (self.read, self.trade, self.admin, self.anon):
            c.close()
        self.api.stop()
        self.hot.stop()
        self.store.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def stack():
    s = Stack(short_dir())
    yield s
    s.close()
