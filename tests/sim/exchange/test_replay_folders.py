"""`tripwire sim --replay DIR` (and so the demo's `replay.files`): a folder of archive files,
several coins at once, with the asset-context CSV as the coins' contexts."""

from __future__ import annotations

import threading

import requests

from tests.data.archive_bucket import archive_objects
from tripwire.commands import sim as cli
from tripwire.sim.exchange.server import start_in_thread


def test_the_simulator_replays_a_folder_of_two_coins_with_their_archive_contexts(tmp_path):
    for key, body in archive_objects().items():
        if "/12/" in key or key.startswith("asset_ctxs/"):
            (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / key).write_bytes(body)
    done = threading.Event()
    server = cli.build(cli.parser().parse_args(["--replay", str(tmp_path), "--speed", "0", "--keep-time"]))
    server._on_replay_done = lambda n: done.set()
    running = start_in_thread(server)
    try:
        assert done.wait(120), "replay did not finish"
        assert server.replayed == 5587 + 30 + 120  # BTC and ETH books, 60 contexts a coin from the CSV
        assert server.bad_market_messages == 0
        meta, ctxs = requests.post(running.url + "/info", json={"type": "metaAndAssetCtxs"}, timeout=10).json()
        by_coin = {a["name"]: c for a, c in zip(meta["universe"], ctxs, strict=True)}
        assert by_coin["ETH"]["markPx"] == "2409.0" and by_coin["BTC"]["markPx"] == "42759.0"  # the 12:59 rows
        eth = requests.post(running.url + "/info", json={"type": "l2Book", "coin": "ETH"}, timeout=10).json()
        assert eth["levels"][0]
    finally:
        running.stop()
