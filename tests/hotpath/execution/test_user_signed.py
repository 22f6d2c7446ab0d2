"""User-signed actions (transfers): our signer and recovery against the SDK's, byte for byte."""

from __future__ import annotations

import random

import eth_account
import pytest
from hyperliquid.utils.signing import USD_CLASS_TRANSFER_SIGN_TYPES, sign_usd_class_transfer_action

from tripwire.hyperliquid.signing import SignatureError, Signer, recover_user_signed_signer

PRIMARY = "HyperliquidTransaction:UsdClassTransfer"
KEY = "0x" + "5e" * 32


@pytest.mark.parametrize("is_mainnet", [False, True])
def test_usd_class_transfer_signatures_equal_the_sdks_and_recover_the_signer(is_mainnet):
    rng = random.Random(7)
    wallet = eth_account.Account.from_key(KEY)
    signer = Signer(KEY, is_mainnet)
    for _ in range(50):
        amount = f"{rng.uniform(0.01, 1e6):.2f}"
        base = {
            "type": "usdClassTransfer",
            "amount": amount,
            "toPerp": rng.random() < 0.5,
            "nonce": rng.getrandbits(42),
        }
        ours, theirs = dict(base), dict(base)
        sig = signer.sign_user_signed_action(ours, USD_CLASS_TRANSFER_SIGN_TYPES, PRIMARY)
        assert sig == sign_usd_class_transfer_action(wallet, theirs, is_mainnet)
        assert ours == theirs  # the same fields added to the action
        assert recover_user_signed_signer(ours, sig, USD_CLASS_TRANSFER_SIGN_TYPES, PRIMARY) == signer.address


def test_a_field_of_the_wrong_type_or_a_bad_chain_id_is_a_signature_error():
    signer = Signer(KEY, False)
    action = {"type": "usdClassTransfer", "amount": "1", "toPerp": True, "nonce": 1}
    sig = signer.sign_user_signed_action(action, USD_CLASS_TRANSFER_SIGN_TYPES, PRIMARY)
    with pytest.raises(SignatureError, match="expected a bool"):
        recover_user_signed_signer({**action, "toPerp": "yes"}, sig, USD_CLASS_TRANSFER_SIGN_TYPES, PRIMARY)
    with pytest.raises(SignatureError, match="signatureChainId"):
        recover_user_signed_signer({**action, "signatureChainId": 5}, sig, USD_CLASS_TRANSFER_SIGN_TYPES, PRIMARY)
    tampered = {**action, "amount": "2"}
    assert recover_user_signed_signer(tampered, sig, USD_CLASS_TRANSFER_SIGN_TYPES, PRIMARY) != signer.address
