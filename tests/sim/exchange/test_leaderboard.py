"""``GET /leaderboard`` and the simulated traders behind it.

The traders trade the bundled recording through the simulator's matching; every leaderboard row
must then agree with what ``/info`` says about the same account (value, PnL net of deposits,
volume of its fills), and the flows' own parser must read the answer."""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from decimal import Decimal

import pytest

from tests.fixtures import RECORDING
from tripwire.commands.sim import build, parser
from tripwire.flows.scheduled.leaderboard import LeaderboardTable
from tripwire.sim.exchange.engine import DAY_MS, HOUR_MS, SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.leaderboard import leaderboard
from tripwire.sim.exchange.population import Population, PopulationError, PopulationSpec, valid_price
from tripwire.sim.exchange.replay import ReplaySpec, message_time, messages
from tripwire.sim.exchange.rules import check_price
from tripwire.sim.exchange.server import SimServer, start_in_thread


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _info(url: str, body: dict) -> object:
    req = urllib.request.Request(url + "/info", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def traded():
    """A simulator with 12 traders after the whole recording replayed as fast as possible."""
    args = parser().parse_args(
        ["--traders", "12", "--replay", str(RECORDING), "--speed", "0", "--synthetic", "7", "--port", "0"]
    )
    server = build(args)
    running = start_in_thread(server)
    deadline = time.monotonic() + 300
    while (server.replayed == 0 or running.call(lambda: server.clock.replay_ms) is not None) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert server.replayed > 0, "the replay did not finish"
    yield running
    running.stop()


def test_every_leaderboard_row_agrees_with_the_accounts_own_state(traded):
    server = traded.server
    rows = _get(traded.url + "/leaderboard")["leaderboardRows"]
    traders = {t.address: t for t in server.population.traders}
    assert {r["ethAddress"] for r in rows} == set(traders)
    traded_any = 0
    for row in rows:
        user = row["ethAddress"]
        state = _info(traded.url, {"type": "clearinghouseState", "user": user})
        fills = _info(traded.url, {"type": "userFills", "user": user})
        deposits = traded.call(lambda u=user: server.engine.accounts[u].net_deposits)
        assert row["accountValue"] == state["marginSummary"]["accountValue"]
        perf = dict(row["windowPerformances"])
        assert list(perf) == ["day", "week", "month", "allTime"]
        value = Decimal(state["marginSummary"]["accountValue"])
        volume = sum((Decimal(f["px"]) * Decimal(f["sz"]) for f in fills), Decimal(0))
        for window in perf.values():  # the recording is one hour: every window covers all of it
            assert Decimal(window["pnl"]) == value - deposits
            assert Decimal(window["roi"]) == ((value - deposits) / deposits).quantize(Decimal("1e-8"))
            assert abs(Decimal(window["vlm"]) - volume) <= Decimal("0.000001")
        assert row["displayName"] == traders[user].name
        traded_any += bool(fills)
    assert traded_any >= len(rows) // 2, "most traders should have traded in an hour"
    assert any(Decimal(r["windowPerformances"][0][1]["pnl"]) != 0 for r in rows)


def test_traders_positions_and_orders_answer_through_info(traded):
    server = traded.server
    holders = resting = 0
    for t in server.population.traders:
        state = _info(traded.url, {"type": "clearinghouseState", "user": t.address})
        holders += bool(state["assetPositions"])
        orders = _info(traded.url, {"type": "openOrders", "user": t.address})
        resting += len(orders)
        if orders:
            assert t.strategy == "mean_reversion"  # the only one resting limit orders
    assert holders >= 1
    assert traded.call(lambda: server.internal_errors) == 0


def test_the_flows_parser_reads_the_simulators_leaderboard(traded):
    body = _get(traded.url + "/leaderboard")
    table = LeaderboardTable()
    for row in body["leaderboardRows"]:
        table.add(row)
    table.check("GET /leaderboard")
    assert len(table) == 12 and table.bad_rows == 0


def test_window_pnl_starts_at_the_window_and_deposits_are_not_profit():
    engine = SimEngine()
    user = "0x" + "ab" * 20
    t0 = 1_700_000_000_000
    engine.fund(user, Decimal(1000))
    engine.advance(t0)
    engine.accounts[user].balance += Decimal(100)  # a realized profit in the first hour
    engine.advance(t0 + HOUR_MS)
    engine.advance(t0 + 2 * DAY_MS)
    engine.fund(user, Decimal(500))  # a deposit two days later
    engine.advance(t0 + 2 * DAY_MS + HOUR_MS)
    [row] = leaderboard(engine.accounts, engine.marks, engine.equity, t0 + 2 * DAY_MS + 2 * HOUR_MS)["leaderboardRows"]
    perf = dict(row["windowPerformances"])
    assert row["accountValue"] == "1600.0"
    assert perf["day"] == {"pnl": "0.0", "roi": "0.0", "vlm": "0.0"}  # only the deposit happened
    assert perf["week"]["pnl"] == perf["allTime"]["pnl"] == "100.0"
    assert perf["allTime"]["roi"] == "0.06666667"  # 100 on 1,500 deposited


def test_a_reset_account_starts_its_pnl_over():
    engine = SimEngine()
    user = "0x" + "cd" * 20
    engine.fund(user, Decimal(1000))
    engine.advance(1_700_000_000_000)
    engine.accounts[user].balance -= Decimal(400)
    engine.reset(user, Decimal(2000))
    [row] = leaderboard(engine.accounts, engine.marks, engine.equity, 1_700_000_100_000)["leaderboardRows"]
    assert all(p["pnl"] == "0.0" for _w, p in row["windowPerformances"])


def _fills_after(n_messages: int, seed: int) -> list[list[dict]]:
    engine = SimEngine()
    population = Population(engine, PopulationSpec(6, seed))
    server = SimServer(engine, ExchangeApi(engine), population=population)
    spec = ReplaySpec([str(RECORDING)], 0, 7, rebase=False)
    t = 0
    for msg in itertools.islice(messages(spec), n_messages):
        t = message_time(msg) or t  # an activeAssetCtx carries no time: the last one's
        server.ingest(msg, t)
    return [engine.accounts[t.address].fills for t in population.traders]


def test_the_same_replay_and_seed_give_the_same_trades():
    first = _fills_after(6000, seed=3)
    assert any(first)
    assert first == _fills_after(6000, seed=3)
    assert first != _fills_after(6000, seed=4)


@pytest.mark.parametrize(
    ("px", "szd", "up", "want"),
    [
        ("42123.7", 5, True, "42124"),
        ("42123.2", 5, False, "42123"),
        ("2001.23", 4, True, "2001.3"),
        ("0.123456789", 2, False, "0.1234"),
        ("123456.7", 0, True, "123457"),
    ],
)
def test_trader_prices_pass_the_tick_rule(px, szd, up, want):
    got = valid_price(Decimal(px), szd, up)
    assert got == Decimal(want)
    check_price(got, szd)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--traders-mix", "scalping=1"], "unknown strategy 'scalping'"),
        (["--traders-mix", "momentum=x"], "is not STRATEGY=WEIGHT"),
        (["--traders-mix", "momentum=0"], "add up to 0"),
    ],
)
def test_a_bad_population_is_refused_naming_the_problem(args, message, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--traders", "3", *args])
    assert message in capsys.readouterr().err


def test_a_negative_trader_count_is_refused():
    with pytest.raises(PopulationError, match="--traders -1"):
        build(parser().parse_args(["--traders", "-1"]))
