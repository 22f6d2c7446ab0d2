import orjson
import pytest

from tests.fixtures import HYPERLIQUID_DATA, RECORDING, jsonl, ws_capture
from tripwire.hotpath.feed import decode as d
from tripwire.hotpath.feed.decode import Decoder
from tripwire.hotpath.feed.records import (
    AllMids,
    AssetCtx,
    Bbo,
    BookSnapshot,
    Candle,
    Greeting,
    OrderUpdates,
    Pong,
    PostResponse,
    ServerError,
    SpotAssetCtx,
    SubscriptionResponse,
    Trades,
    UserEvent,
    UserFills,
)
from tripwire.sim.replay.recordings import read_messages

EXPECTED_TYPE = {
    "Trades.txt": Trades,
    "OrderBook.txt": BookSnapshot,
    "BookTicker.txt": Bbo,
    "Klines.txt": Candle,
    "Order.txt": OrderUpdates,
    "UserEventTrade.txt": UserEvent,
    "Prices.txt": AllMids,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPE))
def test_every_real_capture_decodes_to_its_typed_record(name):
    dec = Decoder()
    cap = ws_capture(name)
    for ack in cap["acks"]:
        rec = dec.decode(orjson.dumps(ack))
        assert isinstance(rec, SubscriptionResponse)
        assert rec.method == "subscribe"
    for msg in cap["data"]:
        assert isinstance(dec.decode(orjson.dumps(msg)), EXPECTED_TYPE[name])
    assert dec.faults.total == 0


def test_real_trade_fields_are_parsed_as_numbers_and_aggressor_side():
    msg = ws_capture("Trades.txt")["data"][0]
    rec = Decoder().decode_message(msg)
    t = rec.trades[0]
    assert (t.coin, t.is_buy, t.px, t.sz, t.time_ms) == ("HYPE", True, 35.276, 5.78, 1764835613064)
    assert t.users == ("0x8cdba352268065be9d5444e1f82b8fe83717bbd5", "0x13558be785661958932ceac35ba20de187275a42")


def test_real_candle_is_one_object_with_string_fields():
    rec = Decoder().decode_message(ws_capture("Klines.txt")["data"][0])
    assert (rec.coin, rec.interval, rec.o, rec.c, rec.n) == ("HYPE", "1d", 34.668, 34.868, 102895)


def test_partial_candle_from_the_concurrent_capture_is_a_counted_fault():
    dec = Decoder()
    for msg in ws_capture("Concurrent.txt")["data"]:
        assert dec.decode_message(msg) is None
    assert dec.faults.counts == {d.MISSING_FIELD: 2}


def test_mixed_real_messages_decode_and_flag_their_edge_cases():
    dec = Decoder()
    recs = [dec.decode_message(m) for m in jsonl(HYPERLIQUID_DATA / "ws-more" / "mixed_real_messages.jsonl")]
    kinds = [type(r).__name__ if r else None for r in recs]
    assert kinds.count("Trades") == 4
    assert "AssetCtx" in kinds and "SpotAssetCtx" in kinds
    ctx = next(r for r in recs if isinstance(r, AssetCtx))
    assert ctx.coin == "MOODENG" and ctx.funding == 0.00004863
    spot = next(r for r in recs if isinstance(r, SpotAssetCtx))
    assert spot.circulating_supply == pytest.approx(6879553815.3455801)
    # the real l2Book with both sides empty and the bbo with one element are refused
    assert dec.faults.counts == {d.EMPTY_BOOK_SIDE: 1, d.BAD_SHAPE: 1}


def test_real_liquidation_fill_on_the_user_channel_is_marked():
    msg = orjson.loads((HYPERLIQUID_DATA / "ws-more" / "ws_user_fill_liquidation.json").read_bytes())
    rec = Decoder().decode_message(msg)
    assert rec.kind == "fills" and rec.fills[0].liquidation and not rec.fills[0].is_buy


def test_large_frame_on_an_unsubscribed_channel_is_counted_not_crashed():
    dec = Decoder()
    raw = (HYPERLIQUID_DATA / "ws-more" / "ws_all_dexs_asset_ctxs.json").read_bytes()
    assert dec.decode(raw) is None
    assert dec.faults.counts == {d.UNKNOWN_CHANNEL: 1}


def test_every_line_of_the_recorded_hour_decodes():
    dec = Decoder()
    n = 0
    for msg in read_messages(RECORDING):
        rec = dec.decode_message(msg)
        assert isinstance(rec, BookSnapshot) and len(rec.bid_px) == 20 == len(rec.ask_px)
        n += 1
    assert n == 5587 and dec.faults.total == 0


def test_control_frames_decode():
    dec = Decoder()
    assert isinstance(dec.decode(b'{"channel":"pong"}'), Pong)
    err = dec.decode(b'{"channel":"error","data":"Invalid subscription"}')
    assert isinstance(err, ServerError) and err.message == "Invalid subscription"
    g = dec.decode("Websocket connection established.")
    assert isinstance(g, Greeting)
    post = dec.decode(b'{"channel":"post","data":{"id":3,"response":{"type":"action","payload":{"status":"ok"}}}}')
    assert isinstance(post, PostResponse) and post.id == 3 and post.payload == {"status": "ok"}
    uf = dec.decode(b'{"channel":"userFills","data":{"isSnapshot":true,"user":"0xab","fills":[]}}')
    assert isinstance(uf, UserFills) and uf.is_snapshot
    assert dec.faults.total == 0


BOOK = {
    "coin": "BTC",
    "time": 1,
    "levels": [[{"px": "100.0", "sz": "1", "n": 1}], [{"px": "101.0", "sz": "2", "n": 1}]],
}


def _book(**over):
    data = {**BOOK, **over}
    return {"channel": "l2Book", "data": data}


MALFORMED = [
    ("bad json", b'{"channel": "trades", "data": [', d.BAD_JSON),
    ("truncated text", "not json at all", d.BAD_JSON),
    ("array frame", b"[1, 2]", d.NOT_AN_OBJECT),
    ("unknown channel", b'{"channel":"webData9","data":{}}', d.UNKNOWN_CHANNEL),
    ("no channel", b'{"data":{}}', d.UNKNOWN_CHANNEL),
    ("no data", b'{"channel":"trades"}', d.MISSING_FIELD),
    (
        "book missing coin",
        orjson.dumps({"channel": "l2Book", "data": {"time": 1, "levels": [[], []]}}),
        d.MISSING_FIELD,
    ),
    ("book time as string", orjson.dumps(_book(time="1")), d.BAD_TYPE),
    ("book levels not a pair", orjson.dumps(_book(levels=[[]])), d.BAD_SHAPE),
    ("book empty bids", orjson.dumps(_book(levels=[[], BOOK["levels"][1]])), d.EMPTY_BOOK_SIDE),
    ("book empty asks", orjson.dumps(_book(levels=[BOOK["levels"][0], []])), d.EMPTY_BOOK_SIDE),
    (
        "book price not a number",
        orjson.dumps(_book(levels=[[{"px": "abc", "sz": "1", "n": 1}], BOOK["levels"][1]])),
        d.BAD_NUMBER,
    ),
    (
        "book price nan",
        orjson.dumps(_book(levels=[[{"px": "nan", "sz": "1", "n": 1}], BOOK["levels"][1]])),
        d.BAD_NUMBER,
    ),
    (
        "book negative size",
        orjson.dumps(_book(levels=[[{"px": "100", "sz": "-1", "n": 1}], BOOK["levels"][1]])),
        d.BAD_NUMBER,
    ),
    (
        "book level missing sz",
        orjson.dumps(_book(levels=[[{"px": "100", "n": 1}], BOOK["levels"][1]])),
        d.MISSING_FIELD,
    ),
    ("book level is a list", orjson.dumps(_book(levels=[[["100", "1"]], BOOK["levels"][1]])), d.BAD_TYPE),
    (
        "bbo null bid",
        b'{"channel":"bbo","data":{"coin":"BTC","time":1,"bbo":[null,{"px":"1","sz":"1","n":1}]}}',
        d.NULL_BBO_SIDE,
    ),
    (
        "bbo null ask",
        b'{"channel":"bbo","data":{"coin":"BTC","time":1,"bbo":[{"px":"1","sz":"1","n":1},null]}}',
        d.NULL_BBO_SIDE,
    ),
    (
        "bbo one side",
        b'{"channel":"bbo","data":{"coin":"BTC","time":1,"bbo":[{"px":"1","sz":"1","n":1}]}}',
        d.BAD_SHAPE,
    ),
    (
        "trade bad side",
        b'{"channel":"trades","data":[{"coin":"BTC","side":"X","px":"1","sz":"1","time":1,"tid":1}]}',
        d.BAD_VALUE,
    ),
    (
        "trade px inf",
        b'{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"inf","sz":"1","time":1,"tid":1}]}',
        d.BAD_NUMBER,
    ),
    (
        "trade zero size",
        b'{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1","sz":"0","time":1,"tid":1}]}',
        d.BAD_NUMBER,
    ),
    (
        "trade tid string",
        b'{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1","sz":"1","time":1,"tid":"1"}]}',
        d.BAD_TYPE,
    ),
    ("trades empty", b'{"channel":"trades","data":[]}', d.BAD_SHAPE),
    (
        "ctx funding unparsable",
        b'{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"x","openInterest":"1","markPx":"1","oraclePx":"1","prevDayPx":"1","dayNtlVlm":"1"}}}',
        d.BAD_NUMBER,
    ),
    (
        "ctx missing mark",
        b'{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"0","openInterest":"1","oraclePx":"1","prevDayPx":"1","dayNtlVlm":"1"}}}',
        d.MISSING_FIELD,
    ),
    ("candle as list", b'{"channel":"candle","data":[]}', d.BAD_SHAPE),
    ("allMids not object", b'{"channel":"allMids","data":{"mids":[1]}}', d.BAD_SHAPE),
    ("user event unknown", b'{"channel":"user","data":{"what":1}}', d.BAD_SHAPE),
]


@pytest.mark.parametrize("frame,reason", [(f, r) for _, f, r in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_frame_is_counted_by_reason_and_yields_nothing(frame, reason):
    dec = Decoder()
    assert dec.decode(frame) is None
    assert dec.faults.counts == {reason: 1}
    assert dec.faults.report()[reason]["last"]


def test_fault_report_counts_accumulate_and_decoding_goes_on():
    dec = Decoder()
    good = orjson.dumps(_book())
    out = [dec.decode(f) for f in (b"{", good, b"{", b'{"channel":"x","data":1}', good)]
    assert [type(r).__name__ if r else None for r in out] == [None, "BookSnapshot", None, None, "BookSnapshot"]
    assert dec.faults.counts == {d.BAD_JSON: 2, d.UNKNOWN_CHANNEL: 1}
    assert dec.faults.total == 3


@pytest.mark.parametrize(
    "strings",
    [
        ["42123.5", "0.1", "0.30000000000000004", "1", "123456789012345678901234567890", "0.00001234"],
        ["1e-7", "2.5"],  # an exponent: parsed one by one, the same values
        [" 1.5", "+2", "1_000"],  # what float() takes and JSON does not: one by one, as before
    ],
)
def test_book_prices_parse_to_exactly_the_doubles_float_gives(strings):
    levels = [{"px": s, "sz": "1", "n": 1} for s in strings]
    px, sz = d._book_side(levels, "bids", "BTC")
    assert [v.hex() for v in px] == [float(s).hex() for s in strings]
    assert all(type(v) is float for v in px + sz)


@pytest.mark.parametrize("px", ["1,5", "1e0,2", "1]", "true", "", "[1]"])
def test_a_price_string_that_is_not_one_number_is_refused_not_split(px):
    dec = Decoder()
    frame = orjson.dumps(
        _book(levels=[[{"px": px, "sz": "1", "n": 1}, {"px": "99", "sz": "1", "n": 1}], BOOK["levels"][1]])
    )
    assert dec.decode(frame) is None
    assert dec.faults.total == 1
