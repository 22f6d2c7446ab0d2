"""``POST /sim/reset`` and ``POST /sim/save`` against a real simulator (demo and sim modes): the
trading account back to its starting deposit, the accounts written to the session file; in
testnet or live mode both are refused saying why, and nothing reaches any exchange."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest
import requests

from tests.api.conftest import api_settings, serve, short_dir
from tests.sim.exchange.conftest import KEY_A, address
from tripwire.commands import sim as sim_cli
from tripwire.config.settings import BusSettings, load_settings
from tripwire.sim.exchange.server import start_in_thread
from tripwire.sim.exchange.sessions import load_session

USER = address(KEY_A)


@pytest.fixture
def rig(tmp_path):
    sessions = tmp_path / "sessions.json"
    args = sim_cli.parser().parse_args(["--fund", f"{USER}=10000", "--accounts-file", str(sessions), "--session", "s1"])
    sim = start_in_thread(sim_cli.build(args))
    run_dir = short_dir()
    apis = []

    def api(mode: str = "sim", url: str | None = None):
        settings = load_settings(
            "config/settings.yaml",
            mode=mode,
            exchange={"api_url": url or sim.url, "account_address": USER},
            bus=BusSettings(run_dir=run_dir, events=f"ipc://{run_dir}/ev.sock", commands=f"ipc://{run_dir}/cmd.sock"),
            api=api_settings(),
            store={"uri": f"sqlite:///{run_dir}/store.sqlite"},
        )
        apis.append(serve(settings))
        return apis[-1]

    yield sim, sessions, api
    for a in apis:
        a.stop()
    sim.stop()


def account_value(sim) -> Decimal:
    state = requests.post(sim.url + "/info", json={"type": "clearinghouseState", "user": USER}, timeout=10).json()
    return Decimal(state["marginSummary"]["accountValue"])


def test_reset_puts_the_trading_account_back_to_its_starting_deposit(rig):
    sim, _, api = rig
    requests.post(sim.url + "/sim/fund", json={"user": USER, "usdc": "5000"}, timeout=10).raise_for_status()
    assert account_value(sim) == 15_000
    with api().client("trade") as c:
        r = c.post("/sim/reset")
    assert r.status_code == 200, r.text
    assert r.json() == {"action": "reset", "result": {"status": "ok", "user": USER, "balance": "10000.0"}}
    assert account_value(sim) == 10_000


def test_save_writes_the_simulators_accounts_to_its_session_file(rig):
    sim, sessions, api = rig
    with api().client("trade") as c:
        r = c.post("/sim/save")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"status": "ok", "session": "s1", "file": str(sessions), "accounts": 1}
    assert load_session(sessions, "s1")[USER].balance == 10_000


@pytest.mark.parametrize("mode", ["testnet", "live"])
def test_outside_demo_and_sim_the_controls_are_refused_and_nothing_is_sent(rig, mode):
    sim, sessions, api = rig
    requests.post(sim.url + "/sim/fund", json={"user": USER, "usdc": "5000"}, timeout=10).raise_for_status()
    with api(mode).client("trade") as c:
        answers = [c.post("/sim/reset"), c.post("/sim/save")]
    for r in answers:
        assert r.status_code == 409, r.text
        assert r.json() == {
            "detail": f"mode {mode}: there is no simulator session (demo and sim only)",
            "code": "not_a_simulator",
        }
    assert account_value(sim) == 15_000 and not sessions.exists()


def test_a_simulator_that_is_not_there_is_named(rig):
    _, _, api = rig
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{s.getsockname()[1]}"
    with api(url=gone).client("trade") as c:
        r = c.post("/sim/save")
    assert r.status_code == 503 and r.json()["code"] == "simulator_unavailable"
    assert gone in r.json()["detail"] and "is it running?" in r.json()["detail"]
