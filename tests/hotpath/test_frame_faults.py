"""Trust under faults, at the pipeline: bad frames leave no trace, stray coins leave no state.

The decoder validates a frame whole before anything downstream sees it, so a run of the real
recorded hour with garbage interleaved must end in exactly the state of the clean run: same
books, same features, same triggers fired, and every garbage frame counted.
"""

from __future__ import annotations

import itertools
import random

import orjson

from tests.fixtures import RECORDING
from tests.hotpath.feed.mutations import STRAY_COIN, mutate
from tripwire.config.settings import load_settings
from tripwire.hotpath.feed import decode as d
from tripwire.hotpath.feed.decode import Decoder
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.service import HotPath
from tripwire.hotpath.triggers.dsl import compile_rules
from tripwire.sim.replay.recordings import exchange_time_ms, read_messages
from tripwire.sim.replay.synthetic import with_synthetic

SETTINGS = load_settings("config/settings.yaml")  # coins: [BTC]
# Rules that fire often on the recorded hour, so the runs are compared on many triggers too.
RULES = compile_rules(
    {
        "max_active_triggers": 1_000,
        "active_ttl_s": 5,
        "rules": {
            "buying": {
                "side": "long",
                "cooldown_s": 10,
                "when_all": [{"cvd_slope_1m_gt": 0}],
                "actions": [{"place_bracket": {}}],
            },
            "selling": {
                "side": "short",
                "cooldown_s": 10,
                "when_all": [{"cvd_slope_1m_lt": 0}],
                "actions": [{"place_bracket": {}}],
            },
            "bid_heavy": {
                "side": "long",
                "cooldown_s": 10,
                "when_all": [{"book_imbalance_gt": 0.3}],
                "actions": [{"place_bracket": {}}],
            },
            "on_bar": {
                "side": "long",
                "on": "bar_close_1m",
                "cooldown_s": 0,
                "when_all": [{"mid_gt": 0}],
                "actions": [{"place_bracket": {}}],
            },
        },
    },
    "test_frame_faults",
)
HLP = SETTINGS.features.liquidator_addresses[0]


class Clock:
    """The pipeline's clock, moved by the test: both runs see the same times."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def pipeline() -> tuple[MarketPipeline, Clock]:
    clock = Clock()
    return MarketPipeline(SETTINGS, RULES, clock_ns=clock), clock


def state(p: MarketPipeline) -> dict:
    """Everything a bad frame could have touched, floats by repr (nan equals nan)."""
    out: dict = {
        "coins": sorted(p.coins),
        "messages": dict(p.messages),
        "untradable": dict(p.untradable),
        "active": sorted(p.triggers.active),
    }
    for coin, st in p.coins.items():
        b = st.book
        out[coin] = (
            repr(b.bid_px),
            repr(b.bid_sz),
            repr(b.ask_px),
            repr(b.ask_sz),
            b.n_bids,
            b.n_asks,
            b.time_ms,
            st.last_exch_ms,
            {k: repr(v) for k, v in sorted(st.features.values.items())},
        )
    return out


def fired_key(fired: list) -> list[tuple]:
    return [(ev.rule, ev.coin, ev.side, ev.exch_ts_ns, repr(sorted(ev.features.items()))) for ev in fired]


def book(t_ms: int, coin: str = "BTC") -> bytes:
    return orjson.dumps(
        {
            "channel": "l2Book",
            "data": {
                "coin": coin,
                "time": t_ms,
                "levels": [
                    [{"px": "100.0", "sz": "5", "n": 1}, {"px": "99.5", "sz": "10", "n": 2}],
                    [{"px": "100.1", "sz": "5", "n": 1}, {"px": "100.6", "sz": "10", "n": 2}],
                ],
            },
        }
    )


def trade(t_ms: int, tid: int, users: list) -> dict:
    return {"coin": "BTC", "side": "A", "px": "100.0", "sz": "3", "time": t_ms, "tid": tid, "users": users}


def test_a_trade_with_a_non_string_user_changes_no_feature_window():
    # It used to raise inside the feature engine after the CVD, VWAP and burst windows had taken
    # the trades before it: 8 features changed and the next real trigger was lost.
    clean, _ = pipeline()
    dirty, _ = pipeline()
    for p in (clean, dirty):
        p.on_frame(book(1_000), 0)
    bad = [trade(1_001, 1, [HLP, "0xb"]), trade(1_001, 2, [123, "0xb"])]
    assert dirty.on_frame(orjson.dumps({"channel": "trades", "data": bad}), 0) == []
    for p in (clean, dirty):
        p.on_frame(orjson.dumps({"channel": "trades", "data": [trade(1_002, 3, [HLP, "0xc"])]}), 0)
        p.on_frame(book(2_000), 0)
    assert state(dirty) == state(clean)
    assert dirty.decoder.faults.counts == {d.BAD_TYPE: 1}


def test_frames_whose_channel_is_a_list_or_an_object_are_counted_not_raised():
    p, _ = pipeline()
    p.on_frame(book(1_000), 0)
    before = state(p)
    for frame in (b'{"channel":[]}', b'{"channel":{}}', b'{"channel":[],"data":{}}', b'{"channel":{"a":1},"data":[]}'):
        assert p.on_frame(frame, 0) == []
    assert state(p) == before and p.decoder.faults.counts == {d.UNKNOWN_CHANNEL: 4}


def test_a_boolean_price_or_time_is_refused_not_read_as_one():
    p, _ = pipeline()
    p.on_frame(book(1_000), 0)
    before = state(p)
    for data in (
        {"coin": "BTC", "time": True, "levels": [[{"px": "1", "sz": "1"}], [{"px": "2", "sz": "1"}]]},
        {"coin": "BTC", "time": 2_000, "levels": [[{"px": True, "sz": "1"}], [{"px": "2", "sz": "1"}]]},
        {"coin": "BTC", "time": -5, "levels": [[{"px": "1", "sz": "1"}], [{"px": "2", "sz": "1"}]]},
    ):
        assert p.on_frame(orjson.dumps({"channel": "l2Book", "data": data}), 0) == []
    assert state(p) == before and p.decoder.faults.counts == {d.BAD_TYPE: 2, d.BAD_TIME: 1}


def test_a_thousand_stray_coins_create_no_per_coin_state():
    # Each stray coin used to get a book and a feature engine (52 KiB), and made every later
    # frame slower; now they are counted and dropped before any state exists.
    p, _ = pipeline()
    p.on_frame(book(1_000), 0)
    before = state(p)
    for i in range(1_000):
        assert p.on_frame(book(1_000 + i, coin=f"STRAY{i}"), 0) == []
    assert state(p) == before
    assert list(p.coins) == ["BTC"]
    assert p.decoder.faults.counts == {d.UNKNOWN_COIN: 1_000}


def test_the_running_hot_path_drops_stray_coins_before_any_state_too():
    hp = HotPath(SETTINGS, RiskManager(load_risk_config("config/risk.yaml")))
    hp.on_frame(book(1_000), 0)
    for i in range(1_000):
        assert hp.on_frame(book(1_000 + i, coin=f"STRAY{i}"), 0) == []
    assert list(hp.coins()) == ["BTC"]
    assert hp.decode_faults()[d.UNKNOWN_COIN]["count"] == 1_000
    assert hp.message_counts() == {"l2Book": 1}


def _garbage(msg: dict, rng: random.Random, oracle: Decoder) -> bytes | None:
    """A seeded bad frame made from ``msg``, or None if this mutation happened to stay valid."""
    roll = rng.random()
    if roll < 0.1:
        stray = orjson.loads(orjson.dumps(msg))
        for node in stray["data"] if type(stray["data"]) is list else [stray["data"]]:
            node["coin"] = f"{STRAY_COIN}{rng.randrange(1_000)}"
        frame = orjson.dumps(stray)
    elif roll < 0.15:
        frame = rng.choice([b'{"channel":[]}', b'{"channel":{}}', b"[]", b"{", b"null", orjson.dumps(msg)[:-3]])
    else:
        mutated, _what, _strict = mutate(msg, rng)
        frame = orjson.dumps(mutated)
    # Only frames the decoder refuses are interleaved: a mutation of a field nobody reads is a
    # valid duplicate (the decoder fuzz checks those decode to the original record).
    return frame if oracle.decode(frame) is None else None


def test_the_recorded_hour_with_garbage_interleaved_ends_in_the_state_of_the_clean_run():
    stream = [orjson.dumps(m) for m in with_synthetic(itertools.islice(read_messages(RECORDING), 1_500), seed=7)]
    times = [exchange_time_ms(orjson.loads(f)) * 1_000_000 for f in stream]
    clean, clean_clock = pipeline()
    clean_fired = []
    for frame, t in zip(stream, times):
        clean_clock.ns = t
        clean_fired += clean.on_frame(frame, t)

    rng = random.Random(1)
    oracle = Decoder(SETTINGS.coins)
    dirty, dirty_clock = pipeline()
    dirty_fired = []
    for frame, t in zip(stream, times):
        dirty_clock.ns = t
        for _ in range(rng.choice((0, 0, 1, 2))):
            bad = _garbage(orjson.loads(frame), rng, oracle)
            if bad is not None:
                assert dirty.on_frame(bad, t) == []
        dirty_fired += dirty.on_frame(frame, t)

    assert oracle.faults.total > 1_000
    assert dirty.decoder.faults.counts == oracle.faults.counts  # every garbage frame counted
    assert d.UNKNOWN_COIN in oracle.faults.counts and d.UNKNOWN_CHANNEL in oracle.faults.counts
    assert state(dirty) == state(clean)
    assert fired_key(dirty_fired) == fired_key(clean_fired)
    assert len(clean_fired) > 50 and clean.coins["BTC"].features.values  # the runs did something
