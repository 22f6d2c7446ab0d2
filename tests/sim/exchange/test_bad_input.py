"""Every class of bad input gets the exchange's answer and leaves the simulator's state as it was."""

from __future__ import annotations

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


@pytest.mark.parametrize("changes, message", [
    ({"p": "1990.123"}, "Price must be divisible by tick size."),      # 7 significant figures
    ({"p": "0.0000001"}, "Price must be divisible by tick size."),     # more than 6 - 4 decimals
    ({"s": "0.00001"}, "Order has invalid size."),                     # finer than 10^-4 ETH
    ({"s": "0"}, "Order has invalid size."),
])
def test_bad_tick_or_lot_is_refused_per_order_and_places_nothing(sim, changes, message):
    before = state_fingerprint(sim)
    resp = post(sim, signed(order_action(**changes))).json()
    assert resp == {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"error": message}]}}}
    after = state_fingerprint(sim)
    # the action was accepted (its nonce is used, as on the exchange) but no order or balance changed
    import json
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k != "nonces"}  # noqa: E731
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
    state = requests.post(sim.url + "/info", json={"type": "clearinghouseState", "user": address(KEY_B)},
                          timeout=10).json()
    assert state["marginSummary"]["accountValue"] == "500.0"
