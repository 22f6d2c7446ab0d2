"""Seeded fuzz: many malformed requests on every route, each answered in the exchange's shape
(never a 500) and each leaving the simulator's state byte-identical.

Almost every generated request is malformed in exactly one place (a bad value or a missing field
in an otherwise valid, correctly signed request); the rest are well-formed but refused as a whole
(unknown asset, leverage bounds, expiry, nonce, a tampered signature, an unsupported action).
None of them may be applied in part: the books, accounts, orders, nonces and scheduled cancels
must be exactly as before. The seed is fixed so a failure reproduces; the failing request is in
the assertion message.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from collections import Counter

import aiohttp
import eth_account
import pytest
import requests
from hyperliquid.utils.signing import sign_l1_action

from tests.sim.exchange.conftest import ETH, KEY_A, exchange_for, state_fingerprint
from tests.sim.exchange.test_bad_input import GOOD_ORDER, fresh_nonce

SEED = 1212
DESERIALIZE = "Failed to deserialize the JSON body into the target type"
BAD_JSON = "Failed to parse the request body as JSON"
WALLET = eth_account.Account.from_key(KEY_A)
DUMMY_SIGNATURE = {"r": "0x" + "1" * 64, "s": "0x" + "2" * 64, "v": 27}

# Values that no field of their kind accepts (the exchange cannot deserialize them).
BAD_NUMBERS = [
    "1E+999999999",
    "-1E+999999999",
    "1e-999999999",
    "1e18",
    "-1e18",
    "99999999999999999999",
    "0.0000000000000000000001",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    " 1990",
    "1990 ",
    "1990\n",
    "1_990",
    "\u0661\u0669\u0669\u0660",
    "\uff11\uff19\uff19\uff10",
    "0x7c6",
    "",
    ".",
    "-",
    "+",
    "1e",
    "e5",
    "1.2.3",
    "1,990",
    "--1",
    True,
    False,
    None,
    1990,
    1990.5,
    -1,
    [],
    {},
    ["1990"],
    {"p": "1990"},
]
BAD_INTS = [-1, -(2**63), 2**64, True, False, 1.0, 1.5, "1", "0x1", "", None, [], {}, [1]]
BAD_BOOLS = [0, 1, 1.0, "true", "false", "", None, [], {}, [True]]
BAD_VARIANTS = ["GTC", "gtc", "Fok", "", " Gtc", None, 1, True, [], {}, ["Gtc"]]
BAD_CLOIDS = [
    "0x1",
    "0x" + "g" * 32,
    "0x" + "1" * 31,
    "0x" + "1" * 33,
    "0x" + "1" * 32 + "\n",
    "1" * 34,
    12,
    True,
    [],
    {},
]
BAD_OIDS = BAD_INTS + [c for c in BAD_CLOIDS if type(c) is not int]  # an oid is an integer or a cloid
MISSING = object()  # "delete the field" rather than set it


def _set(obj: dict, key: str, value: object) -> None:
    if value is MISSING:
        obj.pop(key, None)
    else:
        obj[key] = value


class Fuzzer:
    """Builds one malformed request at a time from a seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, values: list) -> object:
        return MISSING if self.rng.random() < 0.1 else self.rng.choice(values)

    def good_order(self, i: int) -> dict:
        order = copy.deepcopy(GOOD_ORDER)
        order["p"] = str(1990 - i)  # all below the ask: each would rest if the batch were applied
        if self.rng.random() < 0.3:
            order["c"] = "0x" + f"{self.rng.getrandbits(128):032x}"
        if self.rng.random() < 0.2:
            order.update(r=True, t={"trigger": {"isMarket": True, "triggerPx": "1900", "tpsl": "sl"}})
        return order

    def bad_order(self) -> dict:
        order = self.good_order(0)
        field = self.rng.choice(["p", "s", "triggerPx", "a", "b", "r", "tif", "tpsl", "isMarket", "t", "c", "order"])
        if field in ("p", "s"):
            _set(order, field, self.pick(BAD_NUMBERS))
        elif field == "a":
            _set(order, "a", self.pick(BAD_INTS))
        elif field in ("b", "r"):
            _set(order, field, self.pick(BAD_BOOLS))
        elif field == "tif":
            limit: dict = {}
            _set(limit, "tif", self.pick(BAD_VARIANTS))
            order["t"] = {"limit": limit}
        elif field in ("triggerPx", "tpsl", "isMarket"):
            trigger = {"isMarket": True, "triggerPx": "1900", "tpsl": "sl"}
            pool = {"triggerPx": BAD_NUMBERS, "tpsl": [*BAD_VARIANTS, "TP", "stop"], "isMarket": BAD_BOOLS}[field]
            _set(trigger, field, self.pick(pool))
            order.update(r=True, t={"trigger": trigger})
        elif field == "t":
            _set(
                order,
                "t",
                self.pick([{}, {"limit": None}, {"limit": "Gtc"}, {"trigger": []}, "Gtc", None, [], {"market": {}}]),
            )
        elif field == "c":
            order["c"] = self.rng.choice(BAD_CLOIDS)
        else:
            return self.rng.choice([None, [], "order", 1, True])  # type: ignore[list-item]  # deliberately not an order
        return order

    def batch_with_one_bad(self, make_good, make_bad) -> list:
        items = [make_good(i) for i in range(self.rng.randint(0, 3))]
        items.insert(self.rng.randint(0, len(items)), make_bad())
        return items

    def action(self) -> dict:
        kind = self.rng.choice(
            [
                "order",
                "order",
                "order",
                "cancel",
                "cancelByCloid",
                "modify",
                "batchModify",
                "scheduleCancel",
                "updateLeverage",
            ]
        )
        rng = self.rng
        if kind == "order":
            action = {
                "type": "order",
                "orders": self.batch_with_one_bad(self.good_order, self.bad_order),
                "grouping": "na",
            }
            if rng.random() < 0.1:
                action["grouping"] = rng.choice([*BAD_VARIANTS, "normaltpsl"])  # absent means "na"
                action["orders"] = [self.good_order(0)]
            elif rng.random() < 0.1:
                _set(action, "orders", self.pick([None, {}, "orders", [1], [None], [[]]]))
            return action
        if kind == "cancel":

            def bad() -> object:
                entry = {"a": ETH, "o": 1}
                _set(entry, rng.choice(["a", "o"]), self.pick(BAD_INTS))
                return entry if rng.random() < 0.9 else rng.choice([None, [], 1])

            return {"type": "cancel", "cancels": self.batch_with_one_bad(lambda i: {"a": ETH, "o": i + 1}, bad)}
        if kind == "cancelByCloid":

            def bad_cloid() -> dict:
                entry = {"asset": ETH, "cloid": "0x" + "1" * 32}
                if rng.random() < 0.5:
                    _set(entry, "asset", self.pick(BAD_INTS))
                else:
                    _set(entry, "cloid", self.pick(BAD_CLOIDS))
                return entry

            return {
                "type": "cancelByCloid",
                "cancels": self.batch_with_one_bad(lambda i: {"asset": ETH, "cloid": f"0x{i + 1:032x}"}, bad_cloid),
            }
        if kind in ("modify", "batchModify"):

            def bad_modify() -> dict:
                if rng.random() < 0.4:
                    modify = {"order": self.good_order(0)}
                    _set(modify, "oid", self.pick(BAD_OIDS))
                    return modify
                return {"oid": 1, "order": self.bad_order()}

            if kind == "modify":
                return {"type": "modify", **bad_modify()}
            return {
                "type": "batchModify",
                "modifies": self.batch_with_one_bad(lambda i: {"oid": i + 1, "order": self.good_order(i)}, bad_modify),
            }
        if kind == "scheduleCancel":
            return {"type": "scheduleCancel", "time": rng.choice([True, False, 1.5, "soon", "1", [], {}, 1e13])}
        action = {"type": "updateLeverage", "asset": ETH, "isCross": True, "leverage": 5}
        field = rng.choice(["asset", "isCross", "leverage"])
        _set(action, field, self.pick(BAD_BOOLS if field == "isCross" else BAD_INTS))
        return action

    def refused(self) -> dict:
        """A well-formed request the exchange refuses as a whole, in JSON."""
        rng = self.rng
        kind = rng.choice(["unknown asset", "leverage", "expired", "nonce", "tampered", "unsupported"])
        if kind == "unknown asset":
            order = {**self.good_order(0), "a": rng.choice([3, 99, 2**63])}
            return self._signed({"type": "order", "orders": [self.good_order(1), order], "grouping": "na"})
        if kind == "leverage":
            return self._signed(
                {"type": "updateLeverage", "asset": ETH, "isCross": True, "leverage": rng.choice([0, 51, 10**6])}
            )
        if kind == "expired":
            return self._signed({"type": "order", "orders": [self.good_order(0)], "grouping": "na"}, expires=1)
        if kind == "nonce":
            return self._signed(
                {"type": "order", "orders": [self.good_order(0)], "grouping": "na"}, nonce=rng.choice([0, 1, 2**63])
            )
        if kind == "tampered":  # signed over other bytes: recovers a stranger who never deposited
            body = self._signed({"type": "order", "orders": [self.good_order(0)], "grouping": "na"})
            body["action"]["orders"][0]["p"] = "1980"
            return body
        return self._signed({"type": rng.choice(["withdraw3", "usdSend", "twapOrder", "approveAgent"]), "amount": "1"})

    def body(self) -> object:
        """One request body: malformed, or well-formed but refused as a whole."""
        rng = self.rng
        if rng.random() < 0.1:
            return self.refused()
        if rng.random() < 0.85:
            return self._signed(self.action())
        body = self._signed({"type": "order", "orders": [self.good_order(0)], "grouping": "na"})
        defect = rng.choice(["body", "action", "type", "nonce", "signature", "vaultAddress", "expiresAfter"])
        if defect == "body":
            return rng.choice([None, [], [body], "action", 1, True])
        if defect == "action":
            _set(body, "action", self.pick([None, [], "order", 1, {"orders": []}]))
        elif defect == "type":
            body["action"]["type"] = rng.choice([None, 1, True, [], {}, ["order"]])
        elif defect == "nonce":
            _set(body, "nonce", self.pick(BAD_INTS))
        elif defect == "signature":
            _set(
                body,
                "signature",
                self.pick(
                    [
                        None,
                        {},
                        [],
                        "0x00",
                        {"r": "0x1", "s": "0x2"},
                        {**DUMMY_SIGNATURE, "v": True},
                        {**DUMMY_SIGNATURE, "v": "27"},
                        {**DUMMY_SIGNATURE, "r": "0x" + "1" * 64 + "\n"},
                        {**DUMMY_SIGNATURE, "s": "1" * 64},
                        {**DUMMY_SIGNATURE, "r": 1},
                    ]
                ),
            )
        elif defect == "vaultAddress":
            body["vaultAddress"] = rng.choice([1, True, [], {}, "0x12", "0x" + "g" * 40, "0x" + "1" * 40 + "\n"])
        else:
            body["expiresAfter"] = rng.choice([True, 1.5, "soon", [], {}, "1"])
        return body

    def _signed(self, action: object, nonce: int | None = None, expires: int | None = None) -> dict:
        nonce = fresh_nonce() if nonce is None else nonce
        try:
            sig = sign_l1_action(WALLET, action, None, nonce, expires, False)
        except Exception:  # noqa: BLE001 - the SDK cannot encode every malformed action; send it unsigned
            sig = DUMMY_SIGNATURE
        return {"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None, "expiresAfter": expires}


def ws_url(running) -> str:
    return running.url.replace("http", "ws") + "/ws"


def assert_exchange_refusal(status: int, text: str, request: object) -> None:
    """HTTP 422/400 with axum's text (cannot deserialize), or an ok-HTTP ``{"status": "err"}``."""
    shown = json.dumps(request, default=str)[:400]
    assert status != 500, f"500 for {shown}: {text[:300]}"
    if status in (400, 422):
        assert text.startswith((DESERIALIZE, BAD_JSON)), f"{status} {text[:300]} for {shown}"
        return
    assert status == 200, f"HTTP {status} for {shown}"
    answer = json.loads(text)
    assert answer["status"] == "err" and isinstance(answer["response"], str), f"{answer} for {shown}"


@pytest.fixture
def busy_sim(sim):
    """The simulator with a resting order, a filled position and a scheduled cancel, so a refused
    request has state to disturb."""
    ex = exchange_for(sim)
    assert ex.order("ETH", True, 0.01, 1990.0, {"limit": {"tif": "Gtc"}})["status"] == "ok"
    assert ex.market_open("ETH", True, 0.02)["status"] == "ok"
    assert ex.schedule_cancel(int(time.time() * 1000) + 3_600_000)["status"] == "ok"  # due long after the test
    assert sim.call(lambda: bool(sim.server.engine.schedule))
    return sim


def test_malformed_exchange_requests_are_refused_whole_and_change_nothing(busy_sim):
    fuzz = Fuzzer(SEED)
    kinds: Counter[int] = Counter()
    for _ in range(400):
        body = fuzz.body()
        before = state_fingerprint(busy_sim)
        r = requests.post(busy_sim.url + "/exchange", data=json.dumps(body), timeout=10)
        assert_exchange_refusal(r.status_code, r.text, body)
        assert state_fingerprint(busy_sim) == before, f"state changed by {json.dumps(body)[:400]}"
        kinds[r.status_code] += 1
    assert kinds[422] > 300  # the generator mostly produces undeserializable bodies…
    assert kinds[200] > 20  # …and some the exchange refuses in JSON (bad signature, unknown asset)
    assert busy_sim.server.internal_errors == 0


def test_malformed_requests_over_the_websocket_post_path_are_refused_and_change_nothing(busy_sim):
    fuzz = Fuzzer(SEED + 1)
    bodies = [fuzz.body() for _ in range(120)]
    info_bodies = [InfoFuzzer(SEED + 1).body() for _ in range(60)]
    before = state_fingerprint(busy_sim)

    async def main() -> list:
        answers = []
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(busy_sim)) as ws:
            await ws.receive(timeout=10)  # greeting
            requests_ = [("action", b) for b in bodies] + [("info", b) for b in info_bodies]
            for i, (kind, payload) in enumerate(requests_):
                await ws.send_str(
                    json.dumps({"method": "post", "id": i, "request": {"type": kind, "payload": payload}})
                )
                while True:
                    frame = json.loads((await ws.receive(timeout=10)).data)
                    if frame.get("channel") == "post":
                        break
                assert frame["data"]["id"] == i
                answers.append((kind, payload, frame["data"]["response"]))
            await ws.send_str(json.dumps({"method": "ping"}))
            assert json.loads((await ws.receive(timeout=10)).data) == {"channel": "pong"}
        return answers

    for kind, payload, response in asyncio.run(main()):
        shown = json.dumps(payload, default=str)[:300]
        if response["type"] == "error":
            assert response["payload"].startswith(DESERIALIZE), f"{response} for {shown}"
        elif kind == "action":
            assert response["type"] == "action" and response["payload"]["status"] == "err", f"{response} for {shown}"
        else:
            assert response["type"] == "info", f"{response} for {shown}"
    assert state_fingerprint(busy_sim) == before
    assert busy_sim.server.internal_errors == 0


JUNK = [
    None,
    True,
    1,
    -1,
    1.5,
    "",
    "x",
    "0x" + "g" * 40,
    "0x" + "1" * 40 + "\n",
    [],
    {},
    ["ETH"],
    {"coin": "ETH"},
    "1E+999999999",
    2**64,
]
INFO_FIELDS = {"user": "0x" + "ab" * 20, "coin": "ETH", "startTime": 0, "endTime": None, "oid": 1, "interval": "1m"}
INFO_TYPES = [
    "meta",
    "spotMeta",
    "metaAndAssetCtxs",
    "l2Book",
    "allMids",
    "clearinghouseState",
    "openOrders",
    "frontendOpenOrders",
    "userFills",
    "userFillsByTime",
    "userFunding",
    "orderStatus",
    "candleSnapshot",
    "fundingHistory",
]


class InfoFuzzer:
    """``/info`` bodies of every type with one field replaced by junk."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def body(self) -> object:
        rng = self.rng
        if rng.random() < 0.1:
            return rng.choice(JUNK)
        kind = rng.choice([*INFO_TYPES, None, 1, [], "noSuchThing"])
        fields = dict(INFO_FIELDS)
        fields[rng.choice(list(fields))] = rng.choice(JUNK)
        if kind == "candleSnapshot":
            req = {k: fields[k] for k in ("coin", "interval", "startTime", "endTime")}
            return {"type": kind, "req": req if rng.random() < 0.9 else rng.choice(JUNK)}
        return {"type": kind, **fields}


def test_malformed_info_requests_answer_200_or_422_never_500(busy_sim):
    fuzz = InfoFuzzer(SEED)
    before = state_fingerprint(busy_sim)
    for _ in range(300):
        body = fuzz.body()
        r = requests.post(busy_sim.url + "/info", data=json.dumps(body), timeout=10)
        shown = json.dumps(body, default=str)[:300]
        assert r.status_code in (200, 422), f"HTTP {r.status_code} {r.text[:300]} for {shown}"
        if r.status_code == 422:
            assert r.text.startswith(DESERIALIZE), f"{r.text[:300]} for {shown}"
        else:
            r.json()
    assert state_fingerprint(busy_sim) == before
    assert busy_sim.server.internal_errors == 0


def test_malformed_subscriptions_get_error_frames_and_the_connection_survives(busy_sim):
    rng = random.Random(SEED)
    subs = []
    for _ in range(150):
        sub = {
            "type": rng.choice(
                [
                    "l2Book",
                    "trades",
                    "bbo",
                    "candle",
                    "allMids",
                    "orderUpdates",
                    "userFills",
                    "userEvents",
                    "activeAssetCtx",
                    "webData2",
                    None,
                    1,
                    [],
                ]
            ),
            "coin": "ETH",
            "interval": "1m",
            "user": "0x" + "ab" * 20,
        }
        sub[rng.choice(["type", "coin", "interval", "user"])] = rng.choice(JUNK)
        subs.append(sub if rng.random() < 0.9 else rng.choice(JUNK))

    async def main() -> list:
        frames = []
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(busy_sim)) as ws:
            await ws.receive(timeout=10)
            for sub in subs:
                await ws.send_str(json.dumps({"method": rng.choice(["subscribe", "unsubscribe"]), "subscription": sub}))
                await ws.send_str(json.dumps({"method": "ping"}))
                while True:  # everything up to this request's pong
                    frame = json.loads((await ws.receive(timeout=10)).data)
                    if frame == {"channel": "pong"}:
                        break
                    frames.append((sub, frame))
        return frames

    for sub, frame in asyncio.run(main()):
        assert frame["channel"] in ("error", "subscriptionResponse", "userFills"), f"{frame} for {sub}"
        if frame["channel"] == "error":
            assert isinstance(frame["data"], str) and not frame["data"].startswith("Simulator internal error")
    assert busy_sim.server.internal_errors == 0
