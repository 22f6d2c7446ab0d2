"""generate_signals: score-weighted bias per coin, LONG/SHORT beyond 60 %, stored, and pushed to
the hot path as features — with a down hot path reported, not fatal."""

from __future__ import annotations

import pytest

from tests.flows.scheduled.fakes import FakeHotPath, run
from tripwire.contracts.features import CATALOG, EXTERNAL
from tripwire.flows.scheduled.config import GenerateSignalsConfig
from tripwire.flows.scheduled.generate_signals import run_generate_signals
from tripwire.flows.scheduled.signals import LONG, NEUTRAL, SHORT, compute_signals

NOW = 1_700_000_000_000
CFG = GenerateSignalsConfig(min_traders=3, full_confidence_traders=10)


def _state(address: str, *positions: tuple[str, float, float], ts: int = NOW) -> dict:
    return {
        "address": address,
        "ts": ts,
        "positions": [{"coin": c, "szi": s, "position_value": v} for c, s, v in positions],
    }


def test_bias_is_weighted_by_score_not_by_size():
    scores = {"a": 0.9, "b": 0.5, "c": 0.4, "w": 0.2}
    states = [
        _state("a", ("BTC", 1.0, 1e4)),
        _state("b", ("BTC", 2.0, 2e4)),
        _state("c", ("BTC", -1.0, 1e4)),
        _state("w", ("BTC", -500.0, 5e7)),
    ]  # a whale with a low score
    [btc] = compute_signals(scores, states, CFG)
    assert btc.long_share == pytest.approx(1.4 / 2.0)
    assert btc.smart_money_bias == pytest.approx(0.4)
    assert btc.signal == LONG
    assert (btc.n_long, btc.n_short, btc.ls_ratio) == (2, 2, 1.0)
    assert btc.net_exposure_usd == pytest.approx(3e4 - 5.001e7)
    assert btc.confidence == pytest.approx(0.4 * 4 / 10)


@pytest.mark.parametrize(
    "longs, shorts, expected",
    [
        (7, 3, LONG),
        (3, 7, SHORT),
        (6, 4, NEUTRAL),  # exactly 60 % is not above it
        (2, 0, NEUTRAL),  # fewer than min_traders holders
    ],
)
def test_long_above_60_percent_short_above_60_percent_else_neutral(longs, shorts, expected):
    scores = {f"t{i}": 1.0 for i in range(longs + shorts)}
    states = [_state(f"t{i}", ("ETH", 1.0 if i < longs else -1.0, 100.0)) for i in range(longs + shorts)]
    [eth] = compute_signals(scores, states, CFG)
    assert eth.signal == expected


def test_the_pushed_feature_names_are_the_hot_paths_external_features():
    [s] = compute_signals({"a": 1.0}, [_state("a", ("BTC", 1.0, 1.0))], CFG)
    for name in s.features:
        assert EXTERNAL in CATALOG[name].updated_on


def _seed(store) -> None:
    for i, (addr, score) in enumerate([("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6)]):
        store.upsert("tracked_traders", {"address": addr}, {"address": addr, "rank": i + 1, "score": score})
    store.upsert("trader_current_state", {"address": "a"}, _state("a", ("BTC", 1.0, 100.0)))
    store.upsert("trader_current_state", {"address": "b"}, _state("b", ("BTC", 1.0, 100.0)))
    store.upsert("trader_current_state", {"address": "c"}, _state("c", ("BTC", 2.0, 100.0)))
    # polled two hours ago: not a current position
    store.upsert("trader_current_state", {"address": "d"}, _state("d", ("BTC", -9.0, 900.0), ts=NOW - 7_200_000))


def test_signals_are_stored_and_pushed_as_features(store, tmp_path):
    _seed(store)
    address = f"ipc://{tmp_path}/commands.sock"

    async def go():
        async with FakeHotPath(address) as hot:
            result = await run_generate_signals(store, address, CFG, NOW, ["BTC", "ETH"])
            return result, hot.features

    result, features = run(go)
    signals = {d["coin"]: d for d in store.find("signals")}
    assert signals["BTC"]["signal"] == LONG and signals["BTC"]["n_short"] == 0  # d was stale
    assert signals["ETH"]["signal"] == NEUTRAL and signals["ETH"]["n_long"] == 0  # nobody holds it
    assert result.push.all_ok
    assert sorted(features) == sorted(
        [
            ("BTC", "smart_money_bias", 1.0),
            ("BTC", "ls_ratio", 3.0),
            ("ETH", "smart_money_bias", 0.0),
            ("ETH", "ls_ratio", 1.0),
        ]
    )


def test_a_hot_path_that_is_down_still_gets_the_signals_stored_and_a_clear_report(store, tmp_path):
    _seed(store)
    cfg = GenerateSignalsConfig(push_timeout_s=0.3)
    result = run(lambda: run_generate_signals(store, f"ipc://{tmp_path}/nobody.sock", cfg, NOW, ["BTC"]))
    assert store.count("signals") == 1
    assert not result.push.all_ok and result.push.not_sent == 2
    assert "no command server reachable" in result.push.summary()


def test_a_coin_the_hot_path_refuses_is_reported_and_the_others_still_applied(store, tmp_path):
    _seed(store)
    address = f"ipc://{tmp_path}/commands.sock"

    async def go():
        async with FakeHotPath(address, refuse_coins=frozenset({"ETH"})) as hot:
            return await run_generate_signals(store, address, CFG, NOW, ["BTC", "ETH"]), hot

    result, hot = run(go)
    assert [f[0] for f in hot.features] == ["BTC", "BTC"]
    assert len(result.push.refused) == 2 and "not traded here" in result.push.summary()
