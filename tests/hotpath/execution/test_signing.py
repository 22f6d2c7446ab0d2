"""The fast signer against the official SDK: same signatures, same recovered signer."""

from __future__ import annotations

import copy
import pickle
import random
import threading

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak as eth_keccak
from hyperliquid.utils import signing as sdk

from tripwire.hotpath.execution.wire import order_action, order_wire
from tripwire.hyperliquid.signing import (
    DOMAIN_SEPARATOR,
    SignatureError,
    Signer,
    action_hash,
    keccak256,
    recover_l1_signer,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
NONCE = 1_700_000_000_000


# --- random actions of every L1 type the gateway sends --------------------------------------


def cloid(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(128):032x}"


def random_wire(rng: random.Random) -> dict:
    if rng.random() < 0.6:
        order_type = {"limit": {"tif": rng.choice(["Gtc", "Ioc", "Alo"])}}
    else:
        order_type = {
            "trigger": {
                "triggerPx": round(rng.uniform(0.01, 100_000), rng.randrange(0, 3)),
                "isMarket": rng.random() < 0.5,
                "tpsl": rng.choice(["tp", "sl"]),
            }
        }
    return order_wire(
        rng.randrange(0, 200),
        rng.random() < 0.5,
        round(rng.uniform(0.01, 100_000), rng.randrange(0, 3)),
        round(rng.uniform(0.001, 100), rng.randrange(0, 4)),
        rng.random() < 0.3,
        order_type,
        cloid(rng) if rng.random() < 0.5 else None,
    )


def random_action(rng: random.Random) -> dict:
    kind = rng.choice(
        ["order", "order", "cancel", "cancelByCloid", "modify", "batchModify", "scheduleCancel", "updateLeverage"]
    )
    if kind == "order":
        builder = {"b": "0x" + rng.randbytes(20).hex(), "f": rng.randrange(1, 100)} if rng.random() < 0.3 else None
        return order_action(
            [random_wire(rng) for _ in range(rng.randrange(1, 4))],
            grouping=rng.choice(["na", "normalTpsl", "positionTpsl"]),
            builder=builder,
        )
    if kind == "cancel":
        return {
            "type": "cancel",
            "cancels": [{"a": rng.randrange(0, 200), "o": rng.getrandbits(40)} for _ in range(rng.randrange(1, 4))],
        }
    if kind == "cancelByCloid":
        return {"type": "cancelByCloid", "cancels": [{"asset": rng.randrange(0, 200), "cloid": cloid(rng)}]}
    if kind == "modify":
        oid = rng.getrandbits(40) if rng.random() < 0.5 else cloid(rng)
        return {"type": "modify", "oid": oid, "order": random_wire(rng)}
    if kind == "batchModify":
        return {
            "type": "batchModify",
            "modifies": [{"oid": rng.getrandbits(40), "order": random_wire(rng)} for _ in range(rng.randrange(1, 3))],
        }
    if kind == "scheduleCancel":
        return (
            {"type": "scheduleCancel", "time": NONCE + rng.randrange(5_000, 10**8)}
            if rng.random() < 0.5
            else {"type": "scheduleCancel"}
        )
    return {
        "type": "updateLeverage",
        "asset": rng.randrange(0, 200),
        "isCross": rng.random() < 0.5,
        "leverage": rng.randrange(1, 51),
    }


def random_case(rng: random.Random) -> tuple:
    """(key, action, nonce, vault_address, expires_after, is_mainnet)"""
    key = "0x" + rng.randbytes(32).hex()
    vault = "0x" + rng.randbytes(20).hex() if rng.random() < 0.5 else None
    expires_after = NONCE + rng.randrange(1, 10**6) if rng.random() < 0.5 else None
    return key, random_action(rng), NONCE + rng.randrange(0, 10**9), vault, expires_after, rng.random() < 0.5


CASES = [random_case(random.Random(i)) for i in range(400)]


# --- signatures ------------------------------------------------------------------------------


def test_signatures_are_identical_to_the_sdk():
    kinds, combos = set(), set()
    for key, action, nonce, vault, expires_after, is_mainnet in CASES:
        ours = Signer(key, is_mainnet).sign_l1_action(action, nonce, vault, expires_after)
        ref = sdk.sign_l1_action(Account.from_key(key), action, vault, nonce, expires_after, is_mainnet)
        assert ours == ref, (action, nonce, vault, expires_after, is_mainnet)
        assert type(ours["v"]) is int
        kinds.add(action["type"] + ("+time" if "time" in action else ""))
        combos.add((vault is None, expires_after is None, is_mainnet))
    assert len(kinds) == 8 and len(combos) == 8  # every action kind and every option combination ran


def test_signatures_match_the_sdk_pure_python_backend(monkeypatch):
    # The SDK's default without coincurve: eth_keys' own RFC 6979 implementation.
    monkeypatch.setenv("ECC_BACKEND_CLASS", "eth_keys.backends.NativeECCBackend")
    for key, action, nonce, vault, expires_after, is_mainnet in CASES[:12]:
        ours = Signer(key, is_mainnet).sign_l1_action(action, nonce, vault, expires_after)
        assert ours == sdk.sign_l1_action(Account.from_key(key), action, vault, nonce, expires_after, is_mainnet)


@pytest.mark.parametrize("part", ["r", "s"])
def test_leading_zeros_are_trimmed_like_the_sdk(part):
    """r or s below 2**248 is printed with fewer than 64 hex digits, as eth_utils.to_hex does."""
    key = "0x" + random.Random(1).randbytes(32).hex()
    signer, wallet = Signer(key, True), Account.from_key(key)
    action = {"type": "scheduleCancel"}
    nonce = next(n for n in range(NONCE, NONCE + 20_000) if len(signer.sign_l1_action(action, n)[part]) < 2 + 62)
    ours = signer.sign_l1_action(action, nonce)
    assert ours == sdk.sign_l1_action(wallet, action, None, nonce, None, True)
    assert not ours[part].startswith("0x0")


def test_action_hash_matches_the_sdk():
    for _, action, nonce, vault, expires_after, _ in CASES[:100]:
        assert action_hash(action, vault, nonce, expires_after) == sdk.action_hash(action, vault, nonce, expires_after)
    # Vault without 0x and in upper case hashes to the same bytes, as in the SDK.
    vault = "0x" + "Ab" * 20
    noop = {"type": "noop"}
    assert action_hash(noop, vault[2:], NONCE, None) == sdk.action_hash(noop, vault, NONCE, None)


@pytest.mark.parametrize("vault", ["0x1234", "0x" + "zz" * 20, ""])
def test_bad_vault_address_raises(vault):
    with pytest.raises(ValueError, match="vault_address must be a 20-byte hex address"):
        action_hash({"type": "noop"}, vault, NONCE, None)


def test_domain_separator_is_eth_accounts():
    phantom = sdk.construct_phantom_agent(bytes(32), True)
    assert encode_typed_data(full_message=sdk.l1_payload(phantom)).header == DOMAIN_SEPARATOR


@pytest.mark.parametrize("length", [0, 1, 31, 32, 135, 136, 137, 300, 1000])
def test_keccak256_is_ethereums(length):
    data = random.Random(length).randbytes(length)
    assert keccak256(data) == eth_keccak(data)


def test_signing_from_several_threads_gives_the_same_signatures():
    signer = Signer("0x" + "11" * 32, False)
    cases = CASES[:40]
    expected = [signer.sign_l1_action(a, n, v, e) for _, a, n, v, e, _ in cases]
    results: dict[int, list] = {}

    def work(t: int) -> None:
        results[t] = [[signer.sign_l1_action(a, n, v, e) for _, a, n, v, e, _ in cases] for _ in range(5)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(run == expected for runs in results.values() for run in runs)


# --- the signer object -------------------------------------------------------------------------


def test_signer_address_is_the_lowercase_eth_address():
    for key, *_ in CASES[:20]:
        assert Signer(key, True).address == Account.from_key(key).address.lower()
        assert Signer(key[2:], False).address == Account.from_key(key).address.lower()


def test_private_key_never_shows():
    key = "0x" + random.Random(2).randbytes(32).hex()
    signer = Signer(key, True)
    for text in (repr(signer), str(signer), f"{signer}"):
        assert key[2:] not in text.lower()
        assert signer.address in text and "mainnet" in text
    with pytest.raises(TypeError):
        vars(signer)  # __slots__: no __dict__ for a debugger or logger to dump
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)
    with pytest.raises(TypeError, match="cannot be pickled"):
        copy.copy(signer)


@pytest.mark.parametrize("key", ["0x" + "00" * 32, "0x" + "ff" * 32, "0x1234", "zz" * 32, "0x" + "ab" * 33])
def test_bad_private_key_raises_without_echoing_it(key):
    with pytest.raises(ValueError) as err:
        Signer(key, True)
    assert key[2:] not in str(err.value)


def test_is_mainnet_must_be_a_bool():
    with pytest.raises(TypeError, match="is_mainnet must be a bool"):
        Signer("0x" + "11" * 32, "https://api.hyperliquid-testnet.xyz")


# --- recovery ----------------------------------------------------------------------------------


def test_recover_returns_the_signer_like_the_sdk():
    for key, action, nonce, vault, expires_after, is_mainnet in CASES[:150]:
        signature = Signer(key, is_mainnet).sign_l1_action(action, nonce, vault, expires_after)
        recovered = recover_l1_signer(action, signature, nonce, vault, expires_after, is_mainnet)
        assert recovered == Account.from_key(key).address.lower()
        assert (
            recovered
            == sdk.recover_agent_or_user_from_l1_action(
                action, signature, vault, nonce, expires_after, is_mainnet
            ).lower()
        )


def test_tampering_recovers_someone_else():
    key, action, nonce, vault, expires_after, is_mainnet = next(c for c in CASES if c[1]["type"] == "order")
    signer = Signer(key, is_mainnet)
    signature = signer.sign_l1_action(action, nonce, vault, expires_after)
    tampered_action = copy.deepcopy(action)
    tampered_action["orders"][0]["b"] = not tampered_action["orders"][0]["b"]
    reordered = dict(reversed(list(action.items())))  # same content, different msgpack bytes
    variants = [
        (tampered_action, nonce, vault, expires_after, is_mainnet),
        (reordered, nonce, vault, expires_after, is_mainnet),
        (action, nonce + 1, vault, expires_after, is_mainnet),
        (action, nonce, "0x" + "01" * 20 if vault is None else None, expires_after, is_mainnet),
        (action, nonce, vault, 1 if expires_after is None else None, is_mainnet),
        (action, nonce, vault, expires_after, not is_mainnet),
    ]
    for args in variants:
        assert recover_l1_signer(args[0], signature, *args[1:]) != signer.address


def test_high_s_twin_recovers_the_same_signer_like_the_sdk():
    key, action, nonce, vault, expires_after, is_mainnet = CASES[0]
    signature = Signer(key, is_mainnet).sign_l1_action(action, nonce, vault, expires_after)
    twin = {"r": signature["r"], "s": hex(SECP256K1_N - int(signature["s"], 16)), "v": 55 - signature["v"]}
    address = Account.from_key(key).address.lower()
    assert recover_l1_signer(action, twin, nonce, vault, expires_after, is_mainnet) == address
    assert (
        sdk.recover_agent_or_user_from_l1_action(action, twin, vault, nonce, expires_after, is_mainnet).lower()
        == address
    )


GOOD = {"r": "0x" + "12" * 32, "s": "0x" + "34" * 32, "v": 27}


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "0x" + "12" * 65,
        {"r": GOOD["r"], "s": GOOD["s"]},  # no v
        {**GOOD, "v": 29},
        {**GOOD, "v": 0},
        {**GOOD, "v": True},
        {**GOOD, "v": "27"},
        {**GOOD, "r": "12" * 32},  # no 0x
        {**GOOD, "r": "0x"},
        {**GOOD, "r": "0x" + "12" * 33},
        {**GOOD, "r": "0xzz"},
        {**GOOD, "r": "0x1_2"},
        {**GOOD, "s": 0x1234},
        {**GOOD, "s": " 0x12"},
        {**GOOD, "r": "0x0"},
        {**GOOD, "s": "0x0"},  # zero
        {**GOOD, "s": hex(SECP256K1_N)},
        {**GOOD, "r": "0x" + "ff" * 32},  # >= curve order
    ],
)
def test_malformed_signatures_raise(signature):
    with pytest.raises(SignatureError):
        recover_l1_signer({"type": "noop"}, signature, NONCE, None, None, True)
