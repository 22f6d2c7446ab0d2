"""Signing Hyperliquid L1 actions (orders, cancels, leverage...) fast, and recovering the signer.

Byte-identical to ``hyperliquid.utils.signing.sign_l1_action`` / ``recover_agent_or_user_from_l1_action``
(tests compare them on hundreds of random actions). Per action the SDK builds the EIP-712
typed-data structure and walks it through eth_account (~230 µs even with coincurve); this
module does the same arithmetic directly:

    connection_id = keccak(msgpack(action) ‖ nonce u64 BE ‖ 0x00 | 0x01‖vault ‖ [0x00‖expiresAfter u64 BE])
    struct_hash   = keccak(AGENT_TYPEHASH ‖ keccak("a" mainnet | "b" testnet) ‖ connection_id)
    digest        = keccak(0x19 0x01 ‖ DOMAIN_SEPARATOR ‖ struct_hash)      # domain: Exchange/1/1337/0x0
    signature     = secp256k1 ECDSA (RFC 6979, low s) of digest -> {"r": hex, "s": hex, "v": 27|28}

Everything but the three keccaks, one msgpack and one signature is precomputed. Keccak goes
straight to pycryptodome's C core through cffi with a reused per-thread state (~1 µs instead of
~3.5 µs through ``Crypto.Hash.keccak``); the ECDSA is libsecp256k1 via coincurve. Scratch state
is per thread, so a :class:`Signer` and the module functions may be used from several threads.

Formatting matches the SDK's ``eth_utils.to_hex(int)``: ``r``/``s`` are ``0x`` + lowercase hex
without leading zeros (a 31-byte r is 62 hex digits), ``v`` is an int.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import coincurve
import msgpack

__all__ = [
    "DOMAIN_SEPARATOR",
    "KECCAK_BACKEND",
    "SignatureError",
    "Signer",
    "action_hash",
    "keccak256",
    "l1_digest",
    "recover_l1_signer",
    "recover_user_signed_signer",
]


class SignatureError(ValueError):
    """A signature that is malformed or recovers to no public key."""


# --- keccak-256 -------------------------------------------------------------------------------
# pycryptodome ships a C Keccak; its Python wrapper allocates a state and several cffi objects per
# hash. We keep one state per thread and only reset/absorb/digest it. If pycryptodome runs on its
# ctypes backend (no cffi) we fall back to the public wrapper.

try:
    from Crypto.Hash.keccak import _raw_keccak_lib as _klib  # type: ignore[attr-defined]  # private: not in stubs
    from Crypto.Util._raw_api import backend as _kbackend
    from Crypto.Util._raw_api import ffi as _kffi
except ImportError:  # pragma: no cover - pycryptodome layout changed
    _kbackend = "none"

if _kbackend == "cffi":
    KECCAK_BACKEND = "pycryptodome C core via cffi (reused state)"

    class _Keccak256:
        __slots__ = ("_state", "_out", "_buf")

        def __init__(self) -> None:
            holder = _kffi.new("void *[1]")
            # capacity 64 bytes = keccak-256; 24 rounds
            if _klib.keccak_init(holder, 64, 24):
                raise RuntimeError("keccak_init failed")
            self._state = _kffi.gc(holder[0], _klib.keccak_destroy)
            self._out = _kffi.new("uint8_t[32]")
            self._buf = _kffi.buffer(self._out)

        # The C functions are bound as defaults: a local lookup instead of an attribute one.
        def __call__(
            self,
            data: bytes,
            _reset: Any = _klib.keccak_reset,
            _absorb: Any = _klib.keccak_absorb,
            _digest: Any = _klib.keccak_digest,
        ) -> bytes:
            state = self._state
            # padding 0x01 is Keccak (Ethereum), not SHA-3's 0x06
            if _reset(state) or _absorb(state, data, len(data)) or _digest(state, self._out, 32, 1):
                raise RuntimeError("keccak failed")
            digest: bytes = self._buf[:]  # cffi is untyped; slicing its buffer copies out bytes
            return digest
else:  # pragma: no cover - exercised only without cffi
    from Crypto.Hash import keccak as _keccak_mod

    KECCAK_BACKEND = "pycryptodome Crypto.Hash.keccak"

    class _Keccak256:  # type: ignore[no-redef]  # the stand-in for the cffi class above
        __slots__ = ()

        def __call__(self, data: bytes, _new: Callable[..., _keccak_mod.Keccak_Hash] = _keccak_mod.new) -> bytes:
            return _new(digest_bits=256, data=data).digest()


class _Scratch:
    """Per-thread reusable state: a keccak state and a msgpack packer."""

    __slots__ = ("keccak", "pack")

    def __init__(self) -> None:
        self.keccak = _Keccak256()
        # Same defaults as msgpack.packb (use_bin_type=True), the SDK's serialiser.
        self.pack: Callable[[Any], bytes] = msgpack.Packer().pack


_local = threading.local()


def _scratch() -> _Scratch:
    try:
        scratch: _Scratch = _local.scratch
        return scratch
    except AttributeError:
        scratch = _local.scratch = _Scratch()
        return scratch


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak-256 of ``data``."""
    return _scratch().keccak(data)


# --- EIP-712 constants ------------------------------------------------------------------------


def _eip712_constants() -> tuple[bytes, dict[bool, bytes]]:
    k = _Keccak256()
    domain_typehash = k(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    domain_separator = k(
        domain_typehash + k(b"Exchange") + k(b"1") + (1337).to_bytes(32, "big") + bytes(32)
    )  # verifyingContract 0x0 as a 32-byte word
    agent_typehash = k(b"Agent(string source,bytes32 connectionId)")
    struct_prefix = {True: agent_typehash + k(b"a"), False: agent_typehash + k(b"b")}
    return domain_separator, struct_prefix


DOMAIN_SEPARATOR, _STRUCT_PREFIX = _eip712_constants()
_DIGEST_PREFIX = b"\x19\x01" + DOMAIN_SEPARATOR
_NO_VAULT = b"\x00"


@lru_cache(maxsize=64)
def _vault_suffix(vault_address: str) -> bytes:
    hex_part = vault_address[2:] if vault_address.startswith("0x") else vault_address
    try:
        raw = bytes.fromhex(hex_part)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise ValueError(f"vault_address must be a 20-byte hex address, got {vault_address!r}")
    return b"\x01" + raw


def _connection_bytes(
    scratch: _Scratch, action: Any, vault_address: str | None, nonce: int, expires_after: int | None
) -> bytes:
    data = (
        scratch.pack(action)
        + nonce.to_bytes(8, "big")
        + (_NO_VAULT if vault_address is None else _vault_suffix(vault_address))
    )
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return data


def action_hash(action: Any, vault_address: str | None, nonce: int, expires_after: int | None) -> bytes:
    """The SDK's ``action_hash`` (same argument order): the phantom agent's ``connectionId``."""
    scratch = _scratch()
    return scratch.keccak(_connection_bytes(scratch, action, vault_address, nonce, expires_after))


def l1_digest(action: Any, nonce: int, vault_address: str | None, expires_after: int | None, is_mainnet: bool) -> bytes:
    """The 32-byte EIP-712 digest that is ECDSA-signed for an L1 action."""
    scratch = _scratch()
    keccak = scratch.keccak
    connection_id = keccak(_connection_bytes(scratch, action, vault_address, nonce, expires_after))
    return keccak(_DIGEST_PREFIX + keccak(_STRUCT_PREFIX[is_mainnet] + connection_id))


# --- signing ----------------------------------------------------------------------------------

_PRIVATE_KEY_RE = re.compile(r"(?:0x)?[0-9a-fA-F]{64}")


class Signer:
    """Signs L1 actions with one private key for one network.

    ``address`` is the key's address in lowercase ``0x`` hex, which is how Hyperliquid compares
    addresses and what :func:`recover_l1_signer` returns. The key itself is never exposed:
    not in ``repr``/``str``, not in error messages, and a Signer refuses to be pickled or copied.
    """

    __slots__ = ("_key", "_struct_prefix", "address", "is_mainnet")

    def __init__(self, private_key: str, is_mainnet: bool):
        if type(is_mainnet) is not bool:
            # A truthy base URL or "testnet" string must not silently select mainnet.
            raise TypeError(f"is_mainnet must be a bool, got {type(is_mainnet).__name__}")
        if not (isinstance(private_key, str) and _PRIVATE_KEY_RE.fullmatch(private_key)):
            raise ValueError("private_key must be 64 hex digits, optionally prefixed with 0x")
        try:
            key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
        except ValueError:
            raise ValueError("private_key is not a valid secp256k1 secret (zero or >= curve order)") from None
        self._key = key
        self._struct_prefix = _STRUCT_PREFIX[is_mainnet]
        self.is_mainnet = is_mainnet
        self.address = _address_of(key.public_key)

    def sign_l1_action(
        self, action: dict[str, Any], nonce: int, vault_address: str | None = None, expires_after: int | None = None
    ) -> dict[str, Any]:
        """``{"r": "0x..", "s": "0x..", "v": 27|28}``, identical to the SDK's ``sign_l1_action``.

        ``nonce`` is the request's nonce (ms timestamp); ``vault_address`` and ``expires_after``
        as in the exchange request (the SDK's ``active_pool`` / ``expires_after``).
        """
        scratch = _scratch()
        keccak = scratch.keccak
        connection_id = keccak(_connection_bytes(scratch, action, vault_address, nonce, expires_after))
        digest = keccak(_DIGEST_PREFIX + keccak(self._struct_prefix + connection_id))
        sig = self._key.sign_recoverable(digest, hasher=None)  # r(32) ‖ s(32) ‖ recovery id
        return {
            "r": hex(int.from_bytes(sig[:32], "big")),
            "s": hex(int.from_bytes(sig[32:64], "big")),
            "v": 27 + sig[64],
        }

    def sign_user_signed_action(
        self, action: dict[str, Any], sign_types: list[dict[str, str]], primary_type: str
    ) -> dict[str, Any]:
        """Sign a user-signed action (a transfer such as ``usdClassTransfer``) as the SDK's
        ``sign_user_signed_action`` does: it first sets ``action["signatureChainId"]`` to
        ``0x66eee`` and ``action["hyperliquidChain"]`` to this signer's network, in place."""
        action["signatureChainId"] = "0x66eee"
        action["hyperliquidChain"] = "Mainnet" if self.is_mainnet else "Testnet"
        sig = self._key.sign_recoverable(user_signed_digest(action, sign_types, primary_type), hasher=None)
        return {
            "r": hex(int.from_bytes(sig[:32], "big")),
            "s": hex(int.from_bytes(sig[32:64], "big")),
            "v": 27 + sig[64],
        }

    def __repr__(self) -> str:
        return f"Signer(address={self.address}, network={'mainnet' if self.is_mainnet else 'testnet'})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> Any:
        raise TypeError("Signer holds a private key and cannot be pickled or copied")


def _address_of(public_key: coincurve.PublicKey) -> str:
    return "0x" + keccak256(public_key.format(compressed=False)[1:])[-20:].hex()


# --- recovery ---------------------------------------------------------------------------------

_SIG_HEX_RE = re.compile(r"0x[0-9a-fA-F]{1,64}")


def _parse_signature(signature: Any) -> bytes:
    """r ‖ s ‖ recovery id (65 bytes) from ``{"r": hex, "s": hex, "v": 27|28}``."""
    if not isinstance(signature, dict):
        raise SignatureError(f"signature must be an object with r, s and v, got {type(signature).__name__}")
    try:
        r, s, v = signature["r"], signature["s"], signature["v"]
    except KeyError as missing:
        raise SignatureError(f"signature is missing {missing}") from None
    for name, value in (("r", r), ("s", s)):
        if not (isinstance(value, str) and _SIG_HEX_RE.fullmatch(value)):
            raise SignatureError(f"signature {name} must be 0x-prefixed hex of at most 32 bytes, got {value!r}")
    if type(v) is not int or v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v!r}")
    return int(r, 16).to_bytes(32, "big") + int(s, 16).to_bytes(32, "big") + bytes((v - 27,))


def recover_l1_signer(
    action: Any, signature: Any, nonce: int, vault_address: str | None, expires_after: int | None, is_mainnet: bool
) -> str:
    """The lowercase ``0x`` address that signed this L1 action (SDK ``recover_agent_or_user_from_l1_action``).

    A signature over a different action, nonce, vault, expiry or network recovers to some
    other address, so compare the result with the expected signer. Raises :class:`SignatureError`
    for malformed r/s/v or values outside the curve order (r or s zero or >= n). Like the SDK,
    a high-s signature is accepted.
    """
    if type(is_mainnet) is not bool:
        raise TypeError(f"is_mainnet must be a bool, got {type(is_mainnet).__name__}")
    sig = _parse_signature(signature)
    digest = l1_digest(action, nonce, vault_address, expires_after, is_mainnet)
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None)
    except ValueError as err:
        raise SignatureError(f"signature does not recover to a public key ({err})") from None
    return _address_of(public_key)


# --- user-signed actions (transfers) -----------------------------------------------------------
# Transfers such as ``usdClassTransfer`` are not L1 actions: the wallet signs the action's own
# fields as EIP-712 typed data under the "HyperliquidSignTransaction" domain, with the chain id
# the client chose (``signatureChainId``) — the SDK's ``sign_user_signed_action``.

_USER_DOMAIN_TYPEHASH = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


def _encode_field(kind: str, value: Any) -> bytes:
    if kind == "string":
        if not isinstance(value, str):
            raise SignatureError(f"expected a string, got {type(value).__name__}")
        return keccak256(value.encode())
    if kind == "bool":
        if type(value) is not bool:
            raise SignatureError(f"expected a bool, got {type(value).__name__}")
        return int(value).to_bytes(32, "big")
    if kind in ("uint64", "uint256"):
        if type(value) is not int or value < 0 or value >= 1 << int(kind[4:]):
            raise SignatureError(f"expected a {kind}, got {value!r}")
        return value.to_bytes(32, "big")
    if kind == "address":
        if not (isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", value)):
            raise SignatureError(f"expected an address, got {value!r}")
        return bytes(12) + bytes.fromhex(value[2:])
    raise SignatureError(f"unsupported EIP-712 type {kind!r}")


def user_signed_digest(action: dict[str, Any], sign_types: list[dict[str, str]], primary_type: str) -> bytes:
    """The EIP-712 digest of a user-signed action (fields named by ``sign_types``, in order)."""
    chain_id = action.get("signatureChainId")
    if not (isinstance(chain_id, str) and re.fullmatch(r"0x[0-9a-fA-F]{1,16}", chain_id)):
        raise SignatureError(f"signatureChainId must be 0x-prefixed hex, got {chain_id!r}")
    domain = keccak256(
        keccak256(_USER_DOMAIN_TYPEHASH)
        + keccak256(b"HyperliquidSignTransaction")
        + keccak256(b"1")
        + int(chain_id, 16).to_bytes(32, "big")
        + bytes(32)
    )
    fields = ",".join(t["type"] + " " + t["name"] for t in sign_types)
    type_string = f"{primary_type}({fields})"
    struct = keccak256(type_string.encode()) + b"".join(
        _encode_field(t["type"], action.get(t["name"])) for t in sign_types
    )
    return keccak256(b"\x19\x01" + domain + keccak256(struct))


def recover_user_signed_signer(
    action: dict[str, Any], signature: Any, sign_types: list[dict[str, str]], primary_type: str
) -> str:
    """The lowercase ``0x`` address that signed a user-signed action (SDK ``recover_user_from_user_signed_action``).

    Raises :class:`SignatureError` for a malformed signature or a field of the wrong type."""
    sig = _parse_signature(signature)
    digest = user_signed_digest(action, sign_types, primary_type)
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None)
    except ValueError as err:
        raise SignatureError(f"signature does not recover to a public key ({err})") from None
    return _address_of(public_key)
