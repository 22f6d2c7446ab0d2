"""Replaying the real archive through the server, the CLI's wiring, and saved account sessions."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from tests.fixtures import RECORDING
from tests.sim.exchange.conftest import KEY_A, address, exchange_for
from tripwire.commands import sim as cli
from tripwire.sim.exchange.server import start_in_thread
from tripwire.sim.exchange.sessions import load_session, save_session

ARCHIVE = str(RECORDING)


def replayed_server(*extra: str):
    done = threading.Event()
    args = cli.parser().parse_args(["--replay", ARCHIVE, "--speed", "0", "--fund", f"{address(KEY_A)}=10000", *extra])
    server = cli.build(args)
    server._on_replay_done = lambda n: done.set()
    running = start_in_thread(server)
    assert done.wait(60), "replay did not finish"
    return running


def info(running, body: dict):
    return requests.post(running.url + "/info", json=body, timeout=10).json()


def test_replaying_the_real_btc_archive_ends_on_its_last_book_and_trades_against_it():
    running = replayed_server()
    try:
        assert running.server.replayed == 5587
        book = info(running, {"type": "l2Book", "coin": "BTC"})
        assert len(book["levels"][0]) == 20 and len(book["levels"][1]) == 20
        candles = info(
            running,
            {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m", "startTime": 0, "endTime": 2**62}},
        )
        assert 55 <= len(candles) <= 62  # one hour of one-minute candles
        [status] = exchange_for(running).market_open("BTC", True, 0.001)["response"]["data"]["statuses"]
        assert status["filled"]["avgPx"] == book["levels"][1][0]["px"]
    finally:
        running.stop()


def test_synthetic_trades_and_contexts_drive_volume_and_the_mark():
    running = replayed_server("--synthetic", "7")
    try:
        candles = info(
            running,
            {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1h", "startTime": 0, "endTime": 2**62}},
        )
        assert sum(c["n"] for c in candles) > 0
        _meta, [btc_ctx, *_] = info(running, {"type": "metaAndAssetCtxs"})
        assert float(btc_ctx["funding"]) != 0.0 or float(btc_ctx["openInterest"]) > 0
    finally:
        running.stop()


def test_accounts_file_keeps_named_sessions_apart_and_round_trips(tmp_path):
    path = tmp_path / "accounts.json"
    args = cli.parser().parse_args(
        ["--fund", f"{address(KEY_A)}=1234.5", "--accounts-file", str(path), "--session", "alice"]
    )
    server = cli.build(args)
    acct = server.engine.accounts[address(KEY_A)]
    acct.apply_fill("ETH", True, Decimal("2000"), Decimal("0.5"), Decimal("0.45"))
    save_session(path, "alice", server.engine.accounts)
    save_session(path, "bob", {})
    loaded = load_session(path, "alice")[address(KEY_A)]
    assert loaded.balance == Decimal("1234.05")
    assert (loaded.positions["ETH"].szi, loaded.positions["ETH"].entry_px) == (Decimal("0.5"), Decimal("2000"))
    assert load_session(path, "bob") == {}
    # starting again from the file restores the account (and --fund adds to it)
    again = cli.build(cli.parser().parse_args(["--accounts-file", str(path), "--session", "alice"]))
    assert again.engine.accounts[address(KEY_A)].balance == Decimal("1234.05")


def test_reset_route_gives_an_account_any_balance_and_flattens_it(sim):
    exchange_for(sim).market_open("ETH", True, 0.5)
    r = requests.post(sim.url + "/sim/reset", json={"user": address(KEY_A), "usdc": "250"}, timeout=10).json()
    assert r == {"status": "ok", "user": address(KEY_A), "balance": "250.0"}
    state = info(sim, {"type": "clearinghouseState", "user": address(KEY_A)})
    assert state["assetPositions"] == [] and state["marginSummary"]["accountValue"] == "250.0"


@pytest.mark.parametrize(
    "bad", [["--fund", "0xabc=10"], ["--fund", f"{address(KEY_A)}=lots"], ["--market", "BTC:5"], ["--auto-fund", "-1"]]
)
def test_cli_refuses_bad_arguments_with_a_usage_error(bad):
    with pytest.raises(SystemExit) as exc:
        cli.parser().parse_args(bad)
    assert exc.value.code == 2


@pytest.mark.parametrize("hold", [False, True])
def test_a_finished_replay_hands_the_clock_back_to_the_wall_unless_held(hold):
    import asyncio

    from tripwire.sim.exchange.replay import ReplaySpec, run_replay

    clock: list[int | None] = []
    n = asyncio.run(run_replay(ReplaySpec([str(RECORDING)], speed=0, hold=hold), lambda msg, t: None, clock.append))
    assert n > 0 and len(clock) == n + 1
    assert clock[-1] == (clock[-2] if hold else None)


def test_a_session_is_saved_on_request_while_the_simulator_runs(tmp_path):
    path = tmp_path / "sessions.json"
    args = cli.parser().parse_args(
        ["--fund", f"{address(KEY_A)}=1234.5", "--accounts-file", str(path), "--session", "demo-1"]
    )
    running = start_in_thread(cli.build(args))
    try:
        r = requests.post(running.url + "/sim/session/save", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "session": "demo-1", "file": str(path), "accounts": 1}
        assert load_session(path, "demo-1")[address(KEY_A)].balance == Decimal("1234.5")
    finally:
        running.stop()


def test_saving_a_session_without_an_accounts_file_is_refused_saying_so():
    running = start_in_thread(cli.build(cli.parser().parse_args([])))
    try:
        r = requests.post(running.url + "/sim/session/save", timeout=10)
        assert r.status_code == 409
        assert r.json() == {
            "status": "err",
            "response": "this simulator was started without --accounts-file: nothing to save to",
        }
    finally:
        running.stop()
