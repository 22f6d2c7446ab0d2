"""Every class of bad input gets the exchange's answer and leaves the simulator's state as it was."""

from __future__ import annotations

import json
import time

import eth_account
import pytest
import requests
from hyperliquid.utils.signing import sign_l1_action

from tests.sim.exchange.conftest import ETH, KEY_A, KEY_B, address, state_fingerprint

GOOD_ORDER = {"a": ETH, "b": True, "p": "1990", "s": "0.01", "r": False, "t": {"limit": {"tif": "Gtc"}}}


def order_action(**changes) -> dict:
    return {"type": "order", "orders": [{**GOOD_ORDER, **changes}], "grouping": "na"}


_last_nonce = [0]


def fresh_nonce() -> int:
    _last_nonce[0] = max(int(time.time() * 1000), _last_nonce[0] + 1)
    return _last_nonce[0]


def signed(action: dict, key: str = KEY_A, nonce: int | None = None) -> dict:
    nonce = fresh_nonce() if nonce is None else nonce
    sig = sign_l1_action(eth_account.Account.from_key(key), action, None, nonce, None, False)
    return {"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None, "expiresAfter": None}


def post(sim, body) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else None
    return requests.post(sim.url + "/exchange", data=data, json=None if data is not None else body, timeout=10)


def test_a_valid_order_is_accepted_so_the_refusals_below_are_about_the_input(sim):
    assert "resting" in post(sim, signed(order_action())).json()["response"]["data"]["statuses"][0]


def test_unfunded_signer_is_told_to_deposit_and_nothing_changes(sim):
    before = state_fingerprint(sim)
    resp = post(sim, signed(order_action(), key=KEY_B)).json()
    assert resp == {"status": "err", "response": f"Must deposit before performing actions. User: {address(KEY_B)}"}
    assert state_fingerprint(sim) == before


def test_signature_over_other_bytes_recovers_a_stranger_who_has_not_deposited(sim):
    body = signed(order_action())
    body["action"]["orders"][0]["p"] = "1991"  # tampered after signing
    before = state_fingerprint(sim)
    resp = post(sim, body).json()
    assert resp["status"] == "err"
    assert resp["response"].startswith("Must deposit before performing actions. User: 0x")
    assert address(KEY_A) not in resp["response"]
    assert state_fingerprint(sim) == before


def test_reused_nonce_is_refused_and_the_second_order_is_not_placed(sim):
    body = signed(order_action())
    assert post(sim, body).json()["status"] == "ok"
    before = state_fingerprint(sim)
    resp = post(sim, body).json()
    assert resp == {"status": "err", "response": f"Invalid nonce: duplicate nonce {body['nonce']}"}
    assert state_fingerprint(sim) == before


@pytest.mark.parametrize("offset_ms", [-3 * 24 * 3600 * 1000, 2 * 24 * 3600 * 1000])
def test_nonce_outside_the_time_window_is_refused(sim, offset_ms):
    before = state_fingerprint(sim)
    resp = post(sim, signed(order_action(), nonce=int(time.time() * 1000) + offset_ms)).json()
    assert resp["status"] == "err" and resp["response"].startswith("Invalid nonce")
    assert state_fingerprint(sim) == before


def test_nonce_below_the_hundred_highest_is_refused(sim):
    base = fresh_nonce()
    for i in range(100):
        assert post(sim, signed({"type": "noop"}, nonce=base + 1 + i)).json()["status"] == "ok"
    _last_nonce[0] = base + 101
    before = state_fingerprint(sim)
    resp = post(sim, signed(order_action(), nonce=base)).json()
    assert resp["status"] == "err" and resp["response"].startswith("Invalid nonce")
    assert state_fingerprint(sim) == before


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"p": "1990.123"}, "Price must be divisible by tick size."),  # 7 significant figures
        ({"p": "0.0000001"}, "Price must be divisible by tick size."),  # more than 6 - 4 decimals
        ({"s": "0.00001"}, "Order has invalid size."),  # finer than 10^-4 ETH
        ({"s": "0"}, "Order has invalid size."),
    ],
)
def test_bad_tick_or_lot_is_refused_per_order_and_places_nothing(sim, changes, message):
    before = state_fingerprint(sim)
    resp = post(sim, signed(order_action(**changes))).json()
    assert resp == {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"error": message}]}}}
    after = state_fingerprint(sim)
    # the action was accepted (its nonce is used, as on the exchange) but no order or balance changed
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k != "nonces"}
    assert strip(after) == strip(before)


def test_unknown_asset_refuses_the_whole_request(sim):
    before = state_fingerprint(sim)
    resp = post(sim, signed(order_action(a=999))).json()
    assert resp == {"status": "err", "response": "Unknown asset 999"}
    assert state_fingerprint(sim) == before


def test_malformed_json_is_a_400_and_a_wrong_shape_a_422(sim):
    before = state_fingerprint(sim)
    r = post(sim, b"{not json")
    assert r.status_code == 400 and r.text.startswith("Failed to parse the request body as JSON")
    r = post(sim, {"action": {"type": "order"}, "nonce": "soon", "signature": {}})
    assert r.status_code == 422 and r.text.startswith("Failed to deserialize the JSON body into the target type")
    body = signed(order_action())
    body["action"]["orders"][0]["p"] = 1990  # a number where the wire wants a string
    r = post(sim, body)
    assert r.status_code == 422
    r = requests.post(sim.url + "/info", json={"type": "noSuchThing"}, timeout=10)
    assert r.status_code == 422
    assert state_fingerprint(sim) == before


def test_body_over_one_megabyte_is_refused_with_413(sim):
    before = state_fingerprint(sim)
    body = signed(order_action())
    body["padding"] = "x" * (1024 * 1024 + 1)
    assert post(sim, body).status_code == 413
    assert state_fingerprint(sim) == before


def test_auto_fund_credits_a_new_signer_like_a_faucet(sim):
    sim.server.api.auto_fund_usdc = __import__("decimal").Decimal(500)
    resp = post(sim, signed(order_action(), key=KEY_B)).json()
    assert resp["status"] == "ok"
    state = requests.post(
        sim.url + "/info", json={"type": "clearinghouseState", "user": address(KEY_B)}, timeout=10
    ).json()
    assert state["marginSummary"]["accountValue"] == "500.0"


# -- numbers: every price and size field, alone or inside a batch ------------------------------

DESERIALIZE = "Failed to deserialize the JSON body into the target type"
MALFORMED_NUMBERS = [
    "1E+999999999",
    "-1E+999999999",
    "1e-999999999",
    "1e18",
    "99999999999999999999",
    "NaN",
    "-Infinity",
    "Infinity",
    " 1990",
    "1_990",
    "\u0661\u0669\u0669\u0660",
    "0x7c6",
    "",
    "1e",
    True,
    None,
    1990,
    1990.5,
]


def trigger_order(trigger_px: object) -> dict:
    return {**GOOD_ORDER, "r": True, "t": {"trigger": {"isMarket": True, "triggerPx": trigger_px, "tpsl": "sl"}}}


@pytest.mark.parametrize("value", MALFORMED_NUMBERS)
@pytest.mark.parametrize("field", ["p", "s", "triggerPx"])
def test_a_malformed_number_anywhere_in_a_batch_refuses_the_whole_batch_and_spends_no_nonce(sim, field, value):
    # Before: "1E+999999999" answered a plain-text 500 after the first order had rested and the
    # nonce was spent. The exchange cannot deserialize such a request, so nothing of it happens.
    bad = trigger_order(value) if field == "triggerPx" else {**GOOD_ORDER, field: value}
    action = {"type": "order", "orders": [GOOD_ORDER, bad], "grouping": "na"}
    before = state_fingerprint(sim)
    body = signed(action)
    r = post(sim, body)
    assert r.status_code == 422 and r.text.startswith(DESERIALIZE), r.text
    assert f"`{field}`" in r.text
    assert state_fingerprint(sim) == before
    # the nonce is still free: a valid request may use it
    assert post(sim, signed(order_action(), nonce=body["nonce"])).json()["status"] == "ok"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("p", "-0", "Price must be divisible by tick size."),
        ("p", "-1990", "Price must be divisible by tick size."),
        ("s", "-0.01", "Order has invalid size."),
        ("s", "-0", "Order has invalid size."),
    ],
)
def test_a_well_formed_but_impossible_number_is_a_per_order_rejection_as_on_the_exchange(sim, field, value, message):
    resp = post(
        sim, signed({"type": "order", "orders": [{**GOOD_ORDER, field: value}, GOOD_ORDER], "grouping": "na"})
    ).json()
    first, second = resp["response"]["data"]["statuses"]
    assert first == {"error": message} and "resting" in second


def test_a_huge_size_is_refused_for_margin_not_by_a_crash(sim):
    resp = post(sim, signed(order_action(s="999999999999999999"))).json()
    assert resp["response"]["data"]["statuses"] == [{"error": "Insufficient margin to place order."}]


@pytest.mark.parametrize(
    "action",
    [
        {"type": "cancel", "cancels": [{"a": ETH, "o": 1}, {"a": ETH, "o": True}]},
        {"type": "cancel", "cancels": [{"a": ETH, "o": 1}, {"a": ETH, "o": -1}]},
        {"type": "cancelByCloid", "cancels": [{"asset": ETH, "cloid": "0x" + "1" * 32 + "\n"}]},
        {"type": "modify", "oid": 1, "order": {**GOOD_ORDER, "s": "1E+999999999"}},
        {
            "type": "batchModify",
            "modifies": [{"oid": 1, "order": GOOD_ORDER}, {"oid": 1, "order": {**GOOD_ORDER, "p": "NaN"}}],
        },
        {
            "type": "batchModify",
            "modifies": [{"oid": 1, "order": {**GOOD_ORDER, "a": 999}}, {"oid": "0x12", "order": GOOD_ORDER}],
        },
        {"type": "updateLeverage", "asset": 999, "isCross": "yes", "leverage": 5},
        {"type": "scheduleCancel", "time": 1.5e12},
    ],
)
def test_every_action_refuses_malformed_input_whole_and_changes_nothing(sim, action):
    before = state_fingerprint(sim)
    r = post(sim, signed(action))
    assert r.status_code == 422 and r.text.startswith(DESERIALIZE), r.text
    assert state_fingerprint(sim) == before


def test_a_vault_address_that_is_not_an_address_cannot_deserialize(sim):
    body = signed(order_action())
    body["vaultAddress"] = "0x" + "zz" * 20
    before = state_fingerprint(sim)
    assert post(sim, body).status_code == 422
    assert state_fingerprint(sim) == before


# -- /info -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"type": ["meta"]},  # unhashable type
        {"type": "candleSnapshot", "req": {"coin": "ETH", "interval": "1m", "startTime": 0, "endTime": "zz"}},
        {"type": "userFillsByTime", "user": "0x" + "1" * 40, "startTime": 0, "endTime": [1]},
        {"type": "userFunding", "user": "0x" + "1" * 40, "startTime": 0, "endTime": True},
        {"type": "fundingHistory", "coin": "ETH", "startTime": 0, "endTime": 1.5},
        {"type": "clearinghouseState", "user": "0x" + "z" * 40},
        {"type": "orderStatus", "user": "0x" + "1" * 40, "oid": "0x12"},
        {"type": "orderStatus", "user": "0x" + "1" * 40, "oid": -1},
    ],
)
def test_info_refuses_malformed_bodies_with_422_never_500(sim, body):
    r = requests.post(sim.url + "/info", json=body, timeout=10)
    assert r.status_code == 422 and r.text.startswith(DESERIALIZE), r.text


# -- /sim/fund and /sim/reset ----------------------------------------------------------------

GOOD_USER = "0x" + "ab" * 20


@pytest.mark.parametrize(
    "body",
    [
        {"user": GOOD_USER, "usdc": "-5"},
        {"user": GOOD_USER, "usdc": -5},
        {"user": GOOD_USER, "usdc": "0"},
        {"user": GOOD_USER, "usdc": "-0"},
        {"user": GOOD_USER, "usdc": "NaN"},
        {"user": GOOD_USER, "usdc": "Infinity"},
        {"user": GOOD_USER, "usdc": "1E+999999999"},
        {"user": GOOD_USER, "usdc": "1e20"},
        {"user": GOOD_USER, "usdc": 1e13},
        {"user": GOOD_USER, "usdc": True},
        {"user": GOOD_USER, "usdc": None},
        {"user": GOOD_USER, "usdc": ["5"]},
        {"user": GOOD_USER},
        {"usdc": "5"},
        {"user": "x" * 42, "usdc": "5"},
        {"user": "0x" + "g" * 40, "usdc": "5"},
        {"user": GOOD_USER[:-1], "usdc": "5"},
        {"user": GOOD_USER + "\n", "usdc": "5"},
        {"user": 12, "usdc": "5"},
        [GOOD_USER, "5"],
        "fund me",
        None,
    ],
)
@pytest.mark.parametrize("route", ["/sim/fund", "/sim/reset"])
def test_sim_routes_refuse_bad_amounts_and_addresses_in_json_and_change_nothing(sim, route, body):
    if route == "/sim/reset" and isinstance(body, dict) and body.get("usdc") in ("0", "-0"):
        pytest.skip("a reset may leave the account at zero")
    before = state_fingerprint(sim)
    r = requests.post(sim.url + route, data=json.dumps(body), timeout=10)  # json=None would send no body
    assert r.status_code == 422, r.text
    answer = r.json()
    assert answer["status"] == "err" and isinstance(answer["response"], str) and answer["response"]
    assert state_fingerprint(sim) == before


def test_sim_routes_answer_json_to_a_body_that_is_not_json(sim):
    r = requests.post(sim.url + "/sim/fund", data=b"{nope", timeout=10)
    assert r.status_code == 400 and r.json()["response"].startswith("Failed to parse the request body as JSON")


def test_sim_routes_accept_sane_amounts_and_reset_accepts_zero(sim):
    r = requests.post(
        sim.url + "/sim/fund", json={"user": GOOD_USER.upper().replace("0X", "0x"), "usdc": 1000}, timeout=10
    ).json()
    assert r == {"status": "ok", "user": GOOD_USER, "balance": "1000.0"}
    r = requests.post(sim.url + "/sim/fund", json={"user": GOOD_USER, "usdc": "1e12"}, timeout=10).json()
    assert r["balance"] == "1000000001000.0"
    r = requests.post(sim.url + "/sim/reset", json={"user": GOOD_USER, "usdc": "0"}, timeout=10).json()
    assert r == {"status": "ok", "user": GOOD_USER, "balance": "0.0"}


# -- the catch-all: a simulator bug still answers JSON, and is counted -----------------------


def test_an_unexpected_exception_answers_json_in_the_exchange_shape_and_is_counted(sim, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(sim.server.api, "handle", broken)
    monkeypatch.setattr("tripwire.sim.exchange.server.handle_info", broken)
    for route in ("/exchange", "/info"):
        r = requests.post(sim.url + route, json={"type": "meta"}, timeout=10)
        assert r.status_code == 500 and r.headers["Content-Type"].startswith("application/json")
        assert r.json() == {"status": "err", "response": "Simulator internal error: RuntimeError: simulated bug"}
    assert sim.server.internal_errors == 2
