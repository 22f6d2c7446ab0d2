"""The /ws endpoint: acks, ping, error frames, market and user channels, and post requests."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.sim.exchange.conftest import address, book_msg, exchange_for, later
from tests.sim.exchange.test_bad_input import order_action, signed

RECV_TIMEOUT_S = 10  # a guard against hanging, not a latency assertion


async def recv(ws) -> object:
    msg = await ws.receive(timeout=RECV_TIMEOUT_S)
    return msg.data if msg.data == "Websocket connection established." else json.loads(msg.data)


async def recv_channel(ws, channel: str) -> dict:
    while True:
        frame = await recv(ws)
        if isinstance(frame, dict) and frame.get("channel") == channel:
            return frame


def run_ws(sim, scenario) -> object:
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(sim.url.replace("http", "ws") + "/ws") as ws:
                assert await recv(ws) == "Websocket connection established."
                return await scenario(ws)

    return asyncio.run(main())


def test_subscribe_is_acknowledged_with_the_echo_and_l2book_gets_nsigfigs_and_mantissa(sim):
    async def scenario(ws):
        await ws.send_json({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "ETH"}})
        ack = await recv(ws)
        await ws.send_json({"method": "subscribe", "subscription": {"type": "trades", "coin": "ETH"}})
        ack2 = await recv(ws)
        await ws.send_json({"method": "unsubscribe", "subscription": {"type": "trades", "coin": "ETH"}})
        ack3 = await recv(ws)
        return ack, ack2, ack3

    ack, ack2, ack3 = run_ws(sim, scenario)
    assert ack == {
        "channel": "subscriptionResponse",
        "data": {
            "method": "subscribe",
            "subscription": {"type": "l2Book", "coin": "ETH", "nSigFigs": None, "mantissa": None},
        },
    }
    assert ack2["data"]["subscription"] == {"type": "trades", "coin": "ETH"}
    assert ack3["data"]["method"] == "unsubscribe"


def test_ping_gets_pong_and_bad_requests_get_error_frames(sim):
    async def scenario(ws):
        await ws.send_json({"method": "ping"})
        pong = await recv(ws)
        await ws.send_str("{nope")
        bad_json = await recv(ws)
        await ws.send_json({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "DOGE"}})
        bad_coin = await recv(ws)
        await ws.send_json({"method": "dance"})
        bad_method = await recv(ws)
        return pong, bad_json, bad_coin, bad_method

    pong, *errors = run_ws(sim, scenario)
    assert pong == {"channel": "pong"}
    assert all(e["channel"] == "error" and isinstance(e["data"], str) for e in errors)


def test_market_channels_carry_replayed_books_and_derived_bbo_and_mids(sim):
    async def scenario(ws):
        for sub in (
            {"type": "l2Book", "coin": "ETH"},
            {"type": "bbo", "coin": "ETH"},
            {"type": "allMids"},
            {"type": "candle", "coin": "ETH", "interval": "1m"},
        ):
            await ws.send_json({"method": "subscribe", "subscription": sub})
            await recv_channel(ws, "subscriptionResponse")
        t = later(sim, 1000)
        msg = book_msg("ETH", [("1998.5", "3.0")], [("2000.5", "4.0")], t)
        await asyncio.get_running_loop().run_in_executor(None, lambda: sim.call(lambda: sim.server.ingest(msg, t)))
        return (
            await recv_channel(ws, "l2Book"),
            await recv_channel(ws, "bbo"),
            await recv_channel(ws, "allMids"),
            await recv_channel(ws, "candle"),
            msg,
        )

    book, bbo, mids, candle, sent = run_ws(sim, scenario)
    assert book == sent
    assert bbo["data"]["bbo"] == [{"px": "1998.5", "sz": "3.0", "n": 1}, {"px": "2000.5", "sz": "4.0", "n": 1}]
    assert mids["data"] == {"mids": {"ETH": "1999.5"}}
    assert candle["data"]["s"] == "ETH" and candle["data"]["i"] == "1m" and candle["data"]["c"] == "1999.5"


def test_user_channels_get_fill_snapshot_then_order_updates_fills_and_events(sim):
    user = address()

    async def scenario(ws):
        for sub in (
            {"type": "orderUpdates", "user": user},
            {"type": "userEvents", "user": user},
            {"type": "userFills", "user": user},
        ):  # userFills last: its snapshot follows the ack
            await ws.send_json({"method": "subscribe", "subscription": sub})
            await recv_channel(ws, "subscriptionResponse")
        snapshot = await recv_channel(ws, "userFills")
        ex = await asyncio.get_running_loop().run_in_executor(None, lambda: exchange_for(sim))
        await asyncio.get_running_loop().run_in_executor(None, lambda: ex.market_open("ETH", True, 0.01))
        seen: dict[str, dict] = {}
        while len(seen) < 3:  # the three channels' frames may come in any order
            frame = await recv(ws)
            if frame["channel"] in ("orderUpdates", "userFills", "user"):
                seen.setdefault(frame["channel"], frame)
        return snapshot, seen["orderUpdates"], seen["userFills"], seen["user"]

    snapshot, updates, fills, events = run_ws(sim, scenario)
    assert snapshot["data"] == {"isSnapshot": True, "user": user, "fills": []}
    assert updates["data"][0]["status"] == "filled" and updates["data"][0]["order"]["coin"] == "ETH"
    assert fills["data"]["fills"][0]["sz"] == "0.01" and "isSnapshot" not in fills["data"]
    assert events["data"]["fills"][0]["dir"] == "Open Long"


def test_post_answers_info_and_signed_actions_with_the_request_id(sim):
    async def scenario(ws):
        await ws.send_json(
            {"method": "post", "id": 7, "request": {"type": "info", "payload": {"type": "l2Book", "coin": "ETH"}}}
        )
        info = await recv_channel(ws, "post")
        await ws.send_json(
            {"method": "post", "id": 8, "request": {"type": "action", "payload": signed(order_action())}}
        )
        action = await recv_channel(ws, "post")
        await ws.send_json({"method": "post", "id": 9, "request": {"type": "info", "payload": {"type": "nope"}}})
        error = await recv_channel(ws, "post")
        return info, action, error

    info, action, error = run_ws(sim, scenario)
    assert info["data"]["id"] == 7 and info["data"]["response"]["type"] == "info"
    assert info["data"]["response"]["payload"]["type"] == "l2Book"
    assert info["data"]["response"]["payload"]["data"]["levels"][0][0]["px"] == "1999.0"
    assert action["data"]["id"] == 8 and action["data"]["response"]["type"] == "action"
    assert "resting" in action["data"]["response"]["payload"]["response"]["data"]["statuses"][0]
    assert error["data"] == {"id": 9, "response": {"type": "error", "payload": error["data"]["response"]["payload"]}}


def test_a_subscription_with_an_unhashable_interval_gets_an_error_frame_and_the_socket_stays_open(sim):
    # Before: `interval not in INTERVAL_MS` raised TypeError for a list and closed the connection.
    async def scenario(ws):
        await ws.send_json({"method": "subscribe", "subscription": {"type": "candle", "coin": "ETH", "interval": [1]}})
        error = await recv(ws)
        await ws.send_json({"method": "ping"})
        return error, await recv(ws)

    error, pong = run_ws(sim, scenario)
    assert error["channel"] == "error" and "interval" in error["data"]
    assert pong == {"channel": "pong"}


def test_an_unexpected_exception_on_the_socket_answers_an_error_and_keeps_it_open(sim, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(sim.server.api, "handle", broken)

    async def scenario(ws):
        await ws.send_json({"method": "post", "id": 3, "request": {"type": "action", "payload": {}}})
        post = await recv_channel(ws, "post")
        await ws.send_json({"method": "ping"})
        return post, await recv(ws)

    post, pong = run_ws(sim, scenario)
    assert post["data"] == {
        "id": 3,
        "response": {"type": "error", "payload": "Simulator internal error: RuntimeError: simulated bug"},
    }
    assert pong == {"channel": "pong"} and sim.server.internal_errors == 1


def test_a_spot_pairs_l2book_streams_the_pairs_book_with_each_perp_snapshot(sim):
    """The hot path's funding carry reads the hedge's book from /ws: a pair (``@index``) may be
    subscribed for l2Book, and each snapshot of its perp sends the pair's synthetic book, the
    same levels ``/info`` ``l2Book`` answers for the pair."""
    pair = sim.call(lambda: sim.server.engine.spot.by_perp["ETH"].coin)

    async def scenario(ws):
        await ws.send_json({"method": "subscribe", "subscription": {"type": "l2Book", "coin": pair}})
        ack = await recv_channel(ws, "subscriptionResponse")
        await ws.send_json({"method": "subscribe", "subscription": {"type": "trades", "coin": pair}})
        refused = await recv_channel(ws, "error")
        t = later(sim, 1000)
        msg = book_msg("ETH", [("1998.5", "3.0")], [("2000.5", "4.0")], t)
        await asyncio.get_running_loop().run_in_executor(None, lambda: sim.call(lambda: sim.server.ingest(msg, t)))
        book = await recv_channel(ws, "l2Book")
        async with aiohttp.ClientSession() as session:
            async with session.post(sim.url + "/info", json={"type": "l2Book", "coin": pair}) as r:
                info = await r.json()
        return ack, refused, book, info, t

    ack, refused, book, info, t = run_ws(sim, scenario)
    assert ack["data"]["subscription"]["coin"] == pair
    assert "unknown coin" in refused["data"]  # spot trades/contexts are not streamed
    assert book["data"]["coin"] == pair and book["data"]["time"] == t
    assert book["data"]["levels"] == info["levels"]
    [bids, asks] = book["data"]["levels"]
    # the perp's book at the pair's basis (spot a little below the perp), rounded outwards
    assert float(bids[0]["px"]) <= 1998.5 and float(asks[0]["px"]) <= 2000.5
    assert float(bids[0]["px"]) < float(asks[0]["px"])
