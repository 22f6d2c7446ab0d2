"""Control-plane throughput and latency: ``GET /status`` and ``POST /analyze`` (local model).

Real HTTP on loopback, three processes as in production: the API under uvicorn (as ``tripwire
api`` runs it), a real hot path (HotPath fed the bundled BTC hour, CommandServer over ipc://)
answering ``status``, and this process sending the load with httpx. For each route: sequential
requests (one at a time: latency without queueing), then 4 and ``CONCURRENCY`` clients at once
(throughput; latency includes queueing). On a 2-core machine the three share the cores, so the
figures are a floor for the API itself.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

N_SEQUENTIAL = 500
N_CONCURRENT = 3000
CONCURRENCY = 16
WARMUP = 200
KEY = "bench-read-key-0123456789abcdef"
ANALYZE = {
    "trigger": "squeeze_up",
    "symbol": "BTC",
    "timestamp": 1704110400000,
    "features": {
        "cvd_slope_1m": 612_000.0,
        "cvd_slope_5m": 240_000.0,
        "funding_bps": -0.31,
        "oi_change_pct_5m": 0.35,
        "trade_burst_zscore": 2.6,
        "book_imbalance": 0.32,
        "liq_short_share_60s": 0.04,
        "liq_long_share_60s": 0.0,
        "near_vpvr_node": False,
        "atr_bps": 6.0,
        "realized_vol_bps_1m": 4.0,
        "spread_bps": 0.4,
        "mid": 42_123.5,
        "vwap_1m": 42_090.0,
    },
}


def _settings(run_dir: str) -> Any:
    from tripwire.config.settings import ApiKey, ApiSettings, BusSettings, load_settings

    return load_settings(
        "config/settings.yaml",
        bus=BusSettings(run_dir=Path(run_dir), events=f"ipc://{run_dir}/ev.sock", commands=f"ipc://{run_dir}/cmd.sock"),
        api=ApiSettings(keys=(ApiKey(name="bench", key_env="TW_BENCH_KEY", scopes=("read",)),)),
        store={"uri": f"sqlite:///{run_dir}/store.sqlite"},
        analysis={"model_file": None},
    )


def serve(run_dir: str, port: int) -> None:
    """The API process: ``python -m bench.api --serve RUN_DIR PORT``."""
    import logging

    import uvicorn

    from tripwire.api.app import create_app

    logging.basicConfig(level=logging.WARNING)
    app = create_app(_settings(run_dir), environ={"TW_BENCH_KEY": KEY})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def hot_path(run_dir: str) -> None:
    """The hot-path process: ``python -m bench.api --hotpath RUN_DIR``."""
    import orjson

    from tripwire.bus.commands import CommandServer
    from tripwire.config.settings import resolve_path
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.service import HotPath
    from tripwire.sim.replay.runner import replay_stream

    settings = _settings(run_dir)
    server = CommandServer(settings.bus.commands)
    hp = HotPath(settings, RiskManager(load_risk_config("config/risk.yaml")))
    hp.register_commands(server)
    for m in replay_stream([resolve_path(settings.replay.files[0])], synthetic=True, seed=7):
        hp.on_frame(orjson.dumps(m), time.time_ns())
    asyncio.run(server.serve())


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def _load(url: str, method: str, path: str, body: Any, n: int, concurrency: int) -> tuple[float, list[float]]:
    """(wall seconds, per-request latencies in ms); every answer must be 200."""
    lat: list[float] = []
    todo = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                r = await client.request(method, path, json=body)
                lat.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, lat


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="twb") as run_dir:
        port = _free_port()
        procs = [
            subprocess.Popen([sys.executable, "-m", "bench.api", *args], cwd=root)
            for args in (("--hotpath", run_dir), ("--serve", run_dir, str(port)))
        ]
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError("the API or the hot path did not start")
                time.sleep(0.1)
            while httpx.get(f"{url}/ready", headers={"X-API-Key": KEY}).status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("the hot path did not answer")
                time.sleep(0.2)
            print(
                f"{platform.machine()} {os.cpu_count()} CPUs, Python "
                f"{platform.python_version()}; uvicorn (1 worker), the hot path (ipc://) and "
                f"the httpx client each in its own process"
            )
            for label, method, path, body in (
                ("GET /status", "GET", "/status", None),
                ("POST /analyze (local model)", "POST", "/analyze", ANALYZE),
            ):
                asyncio.run(_load(url, method, path, body, WARMUP, 4))
                for conc, n in ((1, N_SEQUENTIAL), (4, N_CONCURRENT), (CONCURRENCY, N_CONCURRENT)):
                    wall, lat = asyncio.run(_load(url, method, path, body, n, conc))
                    print(
                        f"  {label:<30} {conc:>2} client(s): {n / wall:7.0f} req/s   "
                        f"p50 {_pct(lat, 0.5):6.2f} ms   p99 {_pct(lat, 0.99):6.2f} ms"
                    )
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--hotpath":
        hot_path(sys.argv[2])
    else:
        main()
