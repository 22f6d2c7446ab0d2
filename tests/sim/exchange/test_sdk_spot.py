"""The unmodified SDK on the simulator's spot markets: spotMeta, usdClassTransfer, spot orders,
balances and fees as spotClearinghouseState reports them (docs/SIMULATOR.md "Spot")."""

from __future__ import annotations

from decimal import Decimal

from tests.sim.exchange.conftest import address, exchange_for, info_for

SPOT_TAKER = Decimal("0.0007")


def statuses(resp: dict) -> list:
    assert resp["status"] == "ok", resp
    return resp["response"]["data"]["statuses"]


def balances(sim) -> dict[str, dict]:
    return {b["coin"]: b for b in info_for(sim).spot_user_state(address())["balances"]}


def test_spot_meta_lists_a_u_token_pair_per_perp_and_the_sdk_maps_names_to_10000_plus_index(sim):
    info = info_for(sim)
    meta = info.spot_meta()
    assert [t["name"] for t in meta["tokens"]] == ["USDC", "UBTC", "UETH", "USOL"]
    assert meta["universe"][1] == {"tokens": [2, 0], "name": "@1", "index": 1, "isCanonical": False}
    assert info.name_to_asset("UETH/USDC") == 10001 and info.name_to_asset("@1") == 10001
    assert info.asset_to_sz_decimals[10001] == 4
    spot_meta, ctxs = info.spot_meta_and_asset_ctxs()
    assert spot_meta == meta
    # ETH's book mid is 1999.5; the pair's is 1 bp below, on the spot tick
    assert ctxs[1]["coin"] == "@1" and ctxs[1]["midPx"] == "1999.3"
    bids, asks = info.l2_snapshot("@1")["levels"]
    assert bids[0] == {"px": "1998.8", "sz": "1.0", "n": 1} and asks[0] == {"px": "1999.8", "sz": "1.0", "n": 1}


def test_usd_class_transfer_moves_usdc_between_perp_margin_and_spot(sim):
    ex = exchange_for(sim)
    assert balances(sim) == {}
    assert ex.usd_class_transfer(2500.0, to_perp=False) == {"status": "ok", "response": {"type": "default"}}
    assert balances(sim)["USDC"]["total"] == "2500.0"
    assert info_for(sim).user_state(address())["marginSummary"]["accountValue"] == "7500.0"
    assert ex.usd_class_transfer(500.0, to_perp=True)["status"] == "ok"
    assert balances(sim)["USDC"]["total"] == "2000.0"
    assert info_for(sim).user_state(address())["marginSummary"]["accountValue"] == "8000.0"
    refused = ex.usd_class_transfer(5000.0, to_perp=True)
    assert refused == {"status": "err", "response": "Insufficient balance for transfer."}
    assert balances(sim)["USDC"]["total"] == "2000.0"


def test_a_spot_ioc_buy_through_the_sdk_walks_the_pair_book_and_pays_the_spot_fee_in_usdc(sim):
    ex = exchange_for(sim)
    ex.usd_class_transfer(5000.0, to_perp=False)
    [filled] = statuses(ex.order("UETH/USDC", True, 1.5, 2001.0, {"limit": {"tif": "Ioc"}}))
    assert filled["filled"]["totalSz"] == "1.5"
    notional = Decimal("1999.8") * 1 + Decimal("2000.8") * Decimal("0.5")
    b = balances(sim)
    assert Decimal(b["UETH"]["total"]) == Decimal("1.5")
    assert Decimal(b["UETH"]["entryNtl"]) == notional
    assert Decimal(b["USDC"]["total"]) == Decimal(5000) - notional - notional * SPOT_TAKER
    fills = info_for(sim).user_fills(address())
    assert {f["coin"] for f in fills} == {"@1"} and {f["dir"] for f in fills} == {"Buy"}
    assert sum(Decimal(f["fee"]) for f in fills) == notional * SPOT_TAKER
    # the perp side is untouched: no position, the margin only lost the transfer
    state = info_for(sim).user_state(address())
    assert state["assetPositions"] == [] and state["marginSummary"]["accountValue"] == "5000.0"

    [sold] = statuses(ex.order("UETH/USDC", False, 1.0, 1990.0, {"limit": {"tif": "Ioc"}}))
    assert sold["filled"] == {"totalSz": "1.0", "avgPx": "1998.8", "oid": sold["filled"]["oid"]}
    [sell_fill] = [f for f in info_for(sim).user_fills(address()) if f["dir"] == "Sell"]
    cost = notional / Decimal("1.5")
    assert Decimal(sell_fill["closedPnl"]) == (Decimal("1998.8") - cost).quantize(Decimal("0.000001"))
    assert Decimal(balances(sim)["UETH"]["total"]) == Decimal("0.5")


def test_resting_spot_orders_hold_their_usdc_and_post_only_that_would_cross_is_refused(sim):
    ex = exchange_for(sim)
    ex.usd_class_transfer(1000.0, to_perp=False)
    [alo] = statuses(ex.order("UETH/USDC", True, 0.01, 2000.0, {"limit": {"tif": "Alo"}}))
    assert alo == {"error": "Post only order would have immediately matched, bbo was 1998.8@1999.8."}
    [rest] = statuses(ex.order("UETH/USDC", True, 0.25, 1990.0, {"limit": {"tif": "Gtc"}}))
    assert "resting" in rest
    assert Decimal(balances(sim)["USDC"]["hold"]) > Decimal("497.5")  # 0.25 × 1990 and its fee
    [too_big] = statuses(ex.order("UETH/USDC", True, 0.3, 1990.0, {"limit": {"tif": "Gtc"}}))
    assert too_big == {"error": "Insufficient spot balance."}
    [no_tokens] = statuses(ex.order("UETH/USDC", False, 0.01, 2100.0, {"limit": {"tif": "Gtc"}}))
    assert no_tokens == {"error": "Insufficient spot balance."}
    [o] = info_for(sim).open_orders(address())
    assert o["coin"] == "@1" and o["limitPx"] == "1990.0"
    assert statuses(ex.cancel("UETH/USDC", rest["resting"]["oid"])) == ["success"]
    assert balances(sim)["USDC"]["hold"] == "0.0"


def _signed_transfer(amount: str, to_perp: bool, nonce: int, is_mainnet: bool = False) -> tuple[dict, dict]:
    import eth_account
    from hyperliquid.utils.signing import sign_usd_class_transfer_action

    from tests.sim.exchange.conftest import KEY_A

    action = {"type": "usdClassTransfer", "amount": amount, "toPerp": to_perp, "nonce": nonce}
    sig = sign_usd_class_transfer_action(eth_account.Account.from_key(KEY_A), action, is_mainnet)
    return action, sig


def test_a_transfer_is_authenticated_by_its_user_signature_network_and_nonce(sim):
    import time

    import requests

    def post(action: dict, sig: dict, nonce: int) -> dict:
        body = {"action": action, "nonce": nonce, "signature": sig, "vaultAddress": None}
        return requests.post(sim.url + "/exchange", json=body, timeout=10).json()

    nonce = int(time.time() * 1000)
    action, sig = _signed_transfer("100.0", False, nonce)
    tampered = {**action, "amount": "9000.0"}  # the signature covers 100: it recovers a stranger
    answer = post(tampered, sig, nonce)
    assert answer["status"] == "err" and answer["response"].startswith("Must deposit before performing actions.")
    mainnet_action, mainnet_sig = _signed_transfer("100.0", False, nonce + 1, is_mainnet=True)
    assert post(mainnet_action, mainnet_sig, nonce + 1) == {
        "status": "err",
        "response": "Invalid hyperliquidChain: expected Testnet",
    }
    assert post(action, sig, nonce + 5)["response"].startswith("Invalid nonce")  # the action names another
    assert balances(sim) == {}
    assert post(action, sig, nonce) == {"status": "ok", "response": {"type": "default"}}
    assert balances(sim)["USDC"]["total"] == "100.0"


def test_spot_balances_survive_the_accounts_file():
    from tripwire.sim.exchange.accounts import Account
    from tripwire.sim.exchange.spot import SpotBalance

    acct = Account("0x" + "ab" * 20, balance=Decimal(5))
    acct.spot.balances = {"USDC": SpotBalance(Decimal("12.5")), "UBTC": SpotBalance(Decimal("0.01"), Decimal("428"))}
    back = Account.from_json(acct.address, acct.to_json())
    assert back.spot.balances == acct.spot.balances
