"""The decoder under hostile input: every channel, every field, and seeded fuzz of real captures.

What a user would notice if these failed: a frame that raises out of the decoder (the hot path's
frame handler dies on it), a frame applied by halves, a boolean read as the number 1, a
negative time accepted, or per-coin state for coins nobody subscribed to.
"""

from __future__ import annotations

import copy
import itertools
import random
from typing import Any

import orjson
import pytest

from tests.fixtures import HYPERLIQUID_DATA, RECORDING, jsonl, ws_capture
from tests.hotpath.feed.mutations import MARKET_CHANNELS, STRAY_COIN, as_data, mutate
from tripwire.hotpath.feed import decode as d
from tripwire.hotpath.feed.decode import MAX_TIME_MS, Decoder
from tripwire.hotpath.feed.records import AllMids, OrderUpdates, SubscriptionResponse, UserEvent, UserFills
from tripwire.sim.replay.recordings import read_messages
from tripwire.sim.replay.synthetic import with_synthetic

FILL = {
    "coin": "BTC",
    "px": "100",
    "sz": "1",
    "side": "B",
    "time": 5,
    "oid": 1,
    "tid": 2,
    "fee": "0.01",
    "closedPnl": "0",
    "crossed": True,
    "hash": "0x1",
}

# One valid message per channel, minimal but complete.
VALID: dict[str, Any] = {
    "l2Book": {
        "coin": "BTC",
        "time": 5,
        "levels": [[{"px": "100", "sz": "1", "n": 1}], [{"px": "101", "sz": "2", "n": 1}]],
    },
    "trades": [
        {
            "coin": "BTC",
            "side": "B",
            "px": "100.5",
            "sz": "1",
            "time": 5,
            "tid": 7,
            "users": ["0xa", "0xb"],
            "hash": "0x1",
        }
    ],
    "bbo": {"coin": "BTC", "time": 5, "bbo": [{"px": "100", "sz": "1", "n": 1}, {"px": "101", "sz": "2", "n": 1}]},
    "activeAssetCtx": {
        "coin": "BTC",
        "ctx": {
            "funding": "0.0001",
            "openInterest": "10",
            "markPx": "100",
            "oraclePx": "100",
            "midPx": "100.5",
            "premium": "0.0",
            "prevDayPx": "99",
            "dayNtlVlm": "1000",
        },
    },
    "activeSpotAssetCtx": {
        "coin": "@1",
        "ctx": {"markPx": "1", "midPx": "1", "prevDayPx": "1", "dayNtlVlm": "1", "circulatingSupply": "1"},
    },
    "candle": {
        "t": 0,
        "T": 59_999,
        "s": "BTC",
        "i": "1m",
        "o": "1",
        "h": "2",
        "l": "0.5",
        "c": "1.5",
        "v": "10",
        "n": 3,
    },
    "allMids": {"mids": {"BTC": "100"}},
    "orderUpdates": [
        {
            "order": {
                "coin": "BTC",
                "side": "B",
                "limitPx": "100",
                "sz": "1",
                "origSz": "1",
                "oid": 1,
                "cloid": "0x1",
                "timestamp": 5,
            },
            "status": "open",
            "statusTimestamp": 6,
        }
    ],
    "userFills": {"user": "0xab", "isSnapshot": False, "fills": [FILL]},
    "user": {"fills": [FILL]},
    "subscriptionResponse": {
        "method": "subscribe",
        "subscription": {"type": "userFills", "user": "0xab", "coin": "BTC"},
    },
    "post": {"id": 1, "response": {"type": "action", "payload": {}}},
}

NUM, TIME, ID, STR, BOOL, SIDE = "number", "time", "id", "string", "bool", "side"
_FILL_FIELDS = [
    (("px",), NUM),
    (("sz",), NUM),
    (("fee",), NUM),
    (("closedPnl",), NUM),
    (("time",), TIME),
    (("oid",), ID),
    (("tid",), ID),
    (("coin",), STR),
    (("side",), SIDE),
    (("crossed",), BOOL),
]

# Every field the decoder reads, by channel, with what it must be.
FIELDS = [
    ("l2Book", ("coin",), STR),
    ("l2Book", ("time",), TIME),
    *[("l2Book", ("levels", side, 0, k), NUM) for side in (0, 1) for k in ("px", "sz")],
    *[
        ("trades", (0, *p), kind)
        for p, kind in [
            (("coin",), STR),
            (("side",), SIDE),
            (("px",), NUM),
            (("sz",), NUM),
            (("time",), TIME),
            (("tid",), ID),
            (("users", 0), STR),
            (("users", 1), STR),
        ]
    ],
    ("bbo", ("coin",), STR),
    ("bbo", ("time",), TIME),
    *[("bbo", ("bbo", side, k), NUM) for side in (0, 1) for k in ("px", "sz")],
    ("activeAssetCtx", ("coin",), STR),
    *[("activeAssetCtx", ("ctx", k), NUM) for k in VALID["activeAssetCtx"]["ctx"]],
    ("activeSpotAssetCtx", ("coin",), STR),
    *[("activeSpotAssetCtx", ("ctx", k), NUM) for k in VALID["activeSpotAssetCtx"]["ctx"]],
    ("candle", ("t",), TIME),
    ("candle", ("T",), TIME),
    ("candle", ("s",), STR),
    ("candle", ("i",), STR),
    ("candle", ("n",), ID),
    *[("candle", (k,), NUM) for k in "ohlcv"],
    ("allMids", ("mids", "BTC"), NUM),
    *[
        ("orderUpdates", (0, "order", k), kind)
        for k, kind in [
            ("coin", STR),
            ("side", SIDE),
            ("limitPx", NUM),
            ("sz", NUM),
            ("origSz", NUM),
            ("oid", ID),
            ("cloid", STR),
            ("timestamp", TIME),
        ]
    ],
    ("orderUpdates", (0, "status"), STR),
    ("orderUpdates", (0, "statusTimestamp"), TIME),
    ("userFills", ("user",), STR),
    ("userFills", ("isSnapshot",), BOOL),
    *[("userFills", ("fills", 0, *p), kind) for p, kind in _FILL_FIELDS],
    *[("user", ("fills", 0, *p), kind) for p, kind in _FILL_FIELDS],
    ("subscriptionResponse", ("method",), STR),
    *[("subscriptionResponse", ("subscription", k), STR) for k in ("type", "user", "coin")],
    ("post", ("id",), ID),
    ("post", ("response", "type"), STR),
]
_IDS = [f"{ch}:{'/'.join(map(str, p))}" for ch, p, _ in FIELDS]


def message(channel: str, path: tuple = (), value: object = None) -> dict:
    data = copy.deepcopy(VALID[channel])
    if path:
        node = data
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return {"channel": channel, "data": data}


def refused(msg: object, dec: Decoder | None = None) -> dict[str, int]:
    """The fault counts of decoding ``msg`` as a wire frame; asserts nothing came out."""
    dec = dec or Decoder()
    assert dec.decode(orjson.dumps(msg)) is None
    assert dec.faults.total == 1
    return dec.faults.counts


@pytest.mark.parametrize("channel", sorted(VALID))
def test_the_valid_message_of_every_channel_decodes_without_a_fault(channel):
    dec = Decoder(coins=["BTC", "@1"])
    assert dec.decode(orjson.dumps(message(channel))) is not None
    assert dec.faults.total == 0


@pytest.mark.parametrize("channel,path,kind", FIELDS, ids=_IDS)
def test_a_boolean_is_not_a_number_an_id_a_time_or_text_in_any_field(channel, path, kind):
    for value in (1,) if kind == BOOL else (True, False):
        reason = d.BAD_VALUE if kind == SIDE else d.BAD_TYPE
        assert refused(message(channel, path, value)) == {reason: 1}


@pytest.mark.parametrize("channel,path,kind", FIELDS, ids=_IDS)
def test_nested_garbage_in_any_field_is_refused_never_raised(channel, path, kind):
    for value in ([], {}, [1, {"a": [None, True]}], {"px": {"px": []}}):
        assert refused(message(channel, path, value))


@pytest.mark.parametrize(
    "channel,path",
    [(ch, p) for ch, p, kind in FIELDS if kind == TIME],
    ids=[i for i, (_, _, kind) in zip(_IDS, FIELDS) if kind == TIME],
)
def test_negative_or_absurd_times_are_faults(channel, path):
    for t in (-1, -1_700_000_000_000, MAX_TIME_MS + 1, 1_700_000_000_000_000_000):  # ns, not ms
        assert refused(message(channel, path, t)) == {d.BAD_TIME: 1}
    assert refused(message(channel, path, 5.0)) == {d.BAD_TYPE: 1}  # a float is not a time either


@pytest.mark.parametrize(
    "channel,path",
    [(ch, p) for ch, p, kind in FIELDS if kind == ID],
    ids=[i for i, (_, _, kind) in zip(_IDS, FIELDS) if kind == ID],
)
def test_negative_ids_and_counts_are_faults(channel, path):
    assert refused(message(channel, path, -1)) == {d.BAD_VALUE: 1}


@pytest.mark.parametrize("channel", [None, [], {}, True, 1, 1.5, ["l2Book"], {"l2Book": 1}])
def test_a_channel_that_is_not_a_string_is_counted_not_raised(channel):
    # {"channel": []} and {"channel": {}} used to raise TypeError (unhashable) out of the decoder
    assert refused({"channel": channel, "data": {}}) == {d.UNKNOWN_CHANNEL: 1}


@pytest.mark.parametrize(
    "frame", [b"", b"null", b"1", b'"text"', b"[]", b"true", b"\xff\xfe", b'{"channel":"pong"}' * 2, "\u2028"]
)
def test_any_frame_at_all_is_decoded_or_counted(frame):
    dec = Decoder()
    assert dec.decode(frame) is None and dec.faults.total == 1


def test_a_trades_message_with_one_bad_trade_is_refused_whole():
    good = VALID["trades"][0]
    bad = {**good, "tid": 8, "users": [123, "0xb"]}  # a non-string user: the frame that raised
    assert refused({"channel": "trades", "data": [good, bad]}) == {d.BAD_TYPE: 1}


def test_a_trades_message_mixing_coins_is_refused():
    good = VALID["trades"][0]
    assert refused({"channel": "trades", "data": [good, {**good, "coin": "ETH"}]}) == {d.BAD_VALUE: 1}


def test_a_candle_closing_before_it_opens_is_refused():
    assert refused({"channel": "candle", "data": {**VALID["candle"], "t": 10, "T": 5}}) == {d.BAD_TIME: 1}


def test_nonpositive_prices_and_negative_sizes_are_refused_in_every_market_channel():
    for channel, path in [
        ("l2Book", ("levels", 0, 0, "px")),
        ("bbo", ("bbo", 1, "px")),
        ("activeAssetCtx", ("ctx", "markPx")),
        ("candle", ("o",)),
        ("allMids", ("mids", "BTC")),
        ("trades", (0, "px")),
    ]:
        assert refused(message(channel, path, "0")) == {d.BAD_NUMBER: 1}, channel
    for channel, path in [
        ("l2Book", ("levels", 1, 0, "sz")),
        ("bbo", ("bbo", 0, "sz")),
        ("activeAssetCtx", ("ctx", "openInterest")),
        ("candle", ("v",)),
    ]:
        assert refused(message(channel, path, "-1")) == {d.BAD_NUMBER: 1}, channel


# -- coins nobody subscribed to -------------------------------------------------------------


@pytest.mark.parametrize("channel", sorted(MARKET_CHANNELS))
def test_market_data_for_a_coin_nobody_subscribed_to_is_counted_and_dropped(channel):
    msg = message(channel)
    key = "s" if channel == "candle" else "coin"
    for node in msg["data"] if channel == "trades" else [msg["data"]]:
        node[key] = "ETH"
    dec = Decoder(coins=["BTC", "@1"])
    assert refused(msg, dec) == {d.UNKNOWN_COIN: 1}
    assert "ETH" in dec.faults.report()[d.UNKNOWN_COIN]["last"]


def test_the_accounts_own_records_on_other_coins_are_kept():
    # A fill or order on a coin the hot path does not watch still moves the account's positions,
    # margin and open orders: the order layer needs it.
    dec = Decoder(coins=["BTC"])
    eth_fill = {**FILL, "coin": "ETH"}
    order = copy.deepcopy(VALID["orderUpdates"])
    order[0]["order"]["coin"] = "ETH"
    recs = [
        dec.decode_message({"channel": "userFills", "data": {"user": "0xab", "fills": [eth_fill]}}),
        dec.decode_message({"channel": "user", "data": {"fills": [eth_fill]}}),
        dec.decode_message({"channel": "orderUpdates", "data": order}),
    ]
    assert [type(r) for r in recs] == [UserFills, UserEvent, OrderUpdates]
    assert recs[0].fills[0].coin == recs[1].fills[0].coin == recs[2].updates[0].coin == "ETH"
    # allMids is one map of every coin by design, not per-coin state
    assert isinstance(dec.decode_message({"channel": "allMids", "data": {"mids": {"ETH": "1"}}}), AllMids)
    assert dec.faults.total == 0


def test_an_ack_echoing_a_non_string_user_is_refused():
    msg = message("subscriptionResponse", ("subscription", "user"), 123)
    assert refused(msg) == {d.BAD_TYPE: 1}
    assert isinstance(Decoder().decode_message(message("subscriptionResponse")), SubscriptionResponse)


# -- seeded fuzz of real messages -------------------------------------------------------------


def _real_messages() -> list[dict]:
    out: list[dict] = []
    for name in sorted(p.name for p in (HYPERLIQUID_DATA / "ws").iterdir()):
        cap = ws_capture(name)
        out += cap["acks"] + cap["data"]
    out += jsonl(HYPERLIQUID_DATA / "ws-more" / "mixed_real_messages.jsonl")
    out.append(orjson.loads((HYPERLIQUID_DATA / "ws-more" / "ws_user_fill_liquidation.json").read_bytes()))
    # recorded books of the real hour, with the generated trades and contexts between them
    out += with_synthetic(itertools.islice(read_messages(RECORDING), 40), seed=3)
    out += [message(ch) for ch in sorted(VALID)]
    return out


def test_seeded_mutations_of_real_messages_are_refused_whole_or_change_nothing():
    originals = _real_messages()
    probe = Decoder()
    coins = {
        r.coin for m in originals if (r := probe.decode_message(m)) is not None and m.get("channel") in MARKET_CHANNELS
    }
    probe, dec = Decoder(coins=coins), Decoder(coins=coins)
    rng = random.Random(20240101)
    checked = refused_n = 0
    for orig in originals:
        orig_rec = probe.decode_message(orig)  # a few real messages are invalid as captured
        valid = orig_rec is not None
        for _ in range(150):
            mutated, what, strict = mutate(orig, rng)
            before = dec.faults.total
            rec = dec.decode(orjson.dumps(mutated))  # never raises: the test would stop here
            counted = dec.faults.total - before
            assert counted == (1 if rec is None else 0), what  # every refusal counted, once
            if valid and strict:
                checked += 1
                if rec is None:
                    refused_n += 1
                else:
                    assert as_data(rec) == as_data(orig_rec), f"{orig.get('channel')}: {what}"
    assert checked > 5_000 and refused_n > checked * 0.6


def test_stray_coin_mutations_are_counted_as_unknown_coins():
    dec = Decoder(coins=["BTC"])
    rng = random.Random(5)
    n = 0
    for msg in itertools.islice(with_synthetic(read_messages(RECORDING), seed=3), 300):
        m = copy.deepcopy(msg)
        coin = f"{STRAY_COIN}{rng.randrange(10**6)}"
        for node in m["data"] if type(m["data"]) is list else [m["data"]]:
            node["coin"] = coin
        assert dec.decode_message(m) is None
        n += 1
    assert dec.faults.counts == {d.UNKNOWN_COIN: n}
