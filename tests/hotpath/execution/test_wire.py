"""Action builders against the official SDK (the reference for every byte we send)."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import msgpack
import pytest
from hyperliquid.utils import signing as sdk
from hyperliquid.utils.types import Cloid

from tripwire.hotpath.execution.wire import float_to_wire, order_action, order_wire, round_px, round_sz


def sdk_float_to_wire(x: float) -> str | tuple:
    try:
        return sdk.float_to_wire(x)
    except ValueError as err:
        return ("raises", err.args)


def ours_float_to_wire(x: float) -> str | tuple:
    try:
        return float_to_wire(x)
    except ValueError as err:
        return ("raises", err.args)


def random_floats(rng: random.Random, n: int) -> list[float]:
    out = []
    for _ in range(n):
        kind = rng.randrange(6)
        if kind == 0:  # a typical price/size with at most 8 decimals
            out.append(round(rng.uniform(0, 10 ** rng.randrange(-4, 7)), rng.randrange(0, 9)))
        elif kind == 1:  # too many decimals: must raise like the SDK
            out.append(rng.uniform(0, 1000))
        elif kind == 2:  # integers, including huge ones past Decimal's 28-digit context
            out.append(float(rng.randrange(0, 10 ** rng.randrange(1, 32))))
        elif kind == 3:  # negatives and values near the 1e-12 tolerance
            out.append(-round(rng.uniform(0, 100), rng.randrange(0, 9)))
        elif kind == 4:
            out.append(rng.randrange(0, 10**8) / 1e8 + rng.choice([0, 1e-13, -1e-13, 5e-12, 2e-9]))
        else:
            out.append(rng.choice([0.0, -0.0, 1e-8, 5e-9, 4.9e-9, -4e-9, 1e15, 1e16 + 2, 123456789.12345678]))
    return out


def test_float_to_wire_matches_sdk_including_errors():
    rng = random.Random(11)
    for x in random_floats(rng, 20_000):
        assert ours_float_to_wire(x) == sdk_float_to_wire(x), x


@pytest.mark.parametrize(
    "x, wire",
    [(1.0, "1"), (0.1, "0.1"), (100.0, "100"), (0.0, "0"), (1e-8, "0.00000001"), (65000.5, "65000.5"), (-0.0, "-0")],
)
def test_float_to_wire_examples(x, wire):
    assert float_to_wire(x) == wire


def test_float_to_wire_rejects_values_the_sdk_rejects():
    with pytest.raises(ValueError, match="causes rounding"):
        float_to_wire(0.123456789)


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf])
def test_float_to_wire_rejects_non_finite(x):
    # Deliberate difference: the SDK would put "NaN"/"Infinity" on the wire.
    with pytest.raises(ValueError, match="not a finite number"):
        float_to_wire(x)


def random_order_type(rng: random.Random) -> dict:
    if rng.random() < 0.6:
        return {"limit": {"tif": rng.choice(["Gtc", "Ioc", "Alo"])}}
    return {
        "trigger": {
            "triggerPx": round(rng.uniform(1, 100_000), rng.randrange(0, 5)),
            "isMarket": rng.random() < 0.5,
            "tpsl": rng.choice(["tp", "sl"]),
        }
    }


def random_order_args(rng: random.Random) -> tuple:
    cloid = f"0x{rng.getrandbits(128):032x}" if rng.random() < 0.5 else None
    return (
        rng.randrange(0, 20_000),
        rng.random() < 0.5,
        round(rng.uniform(0.0001, 100_000), rng.randrange(0, 7)),
        round(rng.uniform(0.001, 1000), rng.randrange(0, 6)),
        rng.random() < 0.3,
        random_order_type(rng),
        cloid,
    )


def sdk_order_wire(asset, is_buy, px, sz, reduce_only, order_type, cloid):
    request = {
        "coin": "X",
        "is_buy": is_buy,
        "sz": sz,
        "limit_px": px,
        "order_type": order_type,
        "reduce_only": reduce_only,
    }
    if cloid is not None:
        request["cloid"] = Cloid.from_str(cloid)
    return sdk.order_request_to_order_wire(request, asset)


def test_order_wire_matches_sdk_bytes_and_key_order():
    rng = random.Random(5)
    for _ in range(2000):
        args = random_order_args(rng)
        ours, ref = order_wire(*args), sdk_order_wire(*args)
        assert ours == ref
        assert list(ours) == list(ref)
        assert list(ours["t"][next(iter(ours["t"]))]) == list(ref["t"][next(iter(ref["t"]))])
        assert msgpack.packb(ours) == msgpack.packb(ref)


def test_order_wire_keys_are_a_b_p_s_r_t_c():
    wire = order_wire(3, True, 1.5, 2.0, False, {"limit": {"tif": "Gtc"}}, "0x" + "ab" * 16)
    assert list(wire) == ["a", "b", "p", "s", "r", "t", "c"]
    assert wire["p"] == "1.5" and wire["s"] == "2"
    assert "c" not in order_wire(3, True, 1.5, 2.0, False, {"limit": {"tif": "Gtc"}}, None)


def test_order_wire_rejects_ints_for_bools():
    # msgpack packs 1 and True differently, so this would silently change the signed bytes.
    with pytest.raises(TypeError, match="is_buy must be a bool"):
        order_wire(0, 1, 1.0, 1.0, False, {"limit": {"tif": "Gtc"}}, None)
    with pytest.raises(TypeError, match="reduce_only must be a bool"):
        order_wire(0, True, 1.0, 1.0, 0, {"limit": {"tif": "Gtc"}}, None)


@pytest.mark.parametrize("cloid", ["0x1234", "ab" * 17, "0x" + "zz" * 16, "0x" + "ab" * 17])
def test_order_wire_rejects_bad_cloid(cloid):
    with pytest.raises(ValueError, match="cloid must be"):
        order_wire(0, True, 1.0, 1.0, False, {"limit": {"tif": "Gtc"}}, cloid)


def test_order_wire_rejects_unknown_order_type_and_unrounded_price():
    with pytest.raises(ValueError, match="'limit' or a 'trigger'"):
        order_wire(0, True, 1.0, 1.0, False, {"market": {}}, None)
    with pytest.raises(ValueError, match="causes rounding"):
        order_wire(0, True, 1.123456789, 1.0, False, {"limit": {"tif": "Gtc"}}, None)


def test_order_action_matches_sdk_with_grouping_and_builder():
    rng = random.Random(9)
    for _ in range(300):
        wires = [order_wire(*random_order_args(rng)) for _ in range(rng.randrange(1, 5))]
        grouping = rng.choice(["na", "normalTpsl", "positionTpsl"])
        builder_address = "0x" + rng.randbytes(20).hex().upper()
        builder = {"b": builder_address, "f": rng.randrange(0, 100)} if rng.random() < 0.5 else None
        ours = order_action(wires, grouping=grouping, builder=builder)
        sdk_builder = None
        if builder:  # what Exchange.bulk_orders does before building the action
            sdk_builder = dict(builder)
            sdk_builder["b"] = sdk_builder["b"].lower()
        ref = sdk.order_wires_to_order_action(wires, sdk_builder, grouping)
        assert msgpack.packb(ours) == msgpack.packb(ref)
        if builder:
            assert builder["b"] == builder_address  # the caller's dict is not modified


def test_order_action_rejects_unknown_grouping():
    with pytest.raises(ValueError, match="grouping must be one of"):
        order_action([], grouping="tpsl")


# --- rounding -------------------------------------------------------------------------------


def is_valid_px(px: float, sz_decimals: int, is_perp: bool) -> bool:
    """The exchange's rule (HYPERLIQUID.md TICK/LOT), written independently of round_px."""
    d = Decimal(repr(px)).normalize()
    decimals = max(0, -d.as_tuple().exponent)
    if d == d.to_integral_value():
        return True
    significant = len(d.as_tuple().digits)
    return significant <= 5 and decimals <= (6 if is_perp else 8) - sz_decimals


@pytest.mark.parametrize(
    "px, sz_decimals, is_perp, expected",
    [
        (1.2345678, 0, True, 1.2346),  # the SDK example's OP price
        (1234.56, 0, True, 1234.6),  # 5 significant figures
        (0.0012345, 0, True, 0.001234),  # 6 decimals for perps (0.0012345 is not exact in binary)
        (0.00012345, 0, True, 0.000123),
        (0.00012345, 1, False, 0.0001234),  # spot: 8 - 1 decimals
        (0.00012345, 3, False, 0.00012),  # spot: 8 - 3 decimals
        (97123.45, 5, True, 97123.0),  # BTC (szDecimals 5): 1 decimal allowed, 5 sig figs bind
        (3.14159, 4, True, 3.14),  # 6 - 4 decimals
        (123456.7, 0, True, 123457.0),  # above 100k: any integer is valid
        (100000.4, 0, True, 100000.0),
        (99999.99, 0, True, 100000.0),
    ],
)
def test_round_px_examples(px, sz_decimals, is_perp, expected):
    assert round_px(px, sz_decimals, is_perp) == expected


def test_round_px_always_gives_a_valid_wire_price():
    rng = random.Random(3)
    for _ in range(20_000):
        is_perp = rng.random() < 0.7
        sz_decimals = rng.randrange(0, 6 if is_perp else 8)
        px = 10 ** rng.uniform(-(6 if is_perp else 8) + sz_decimals + 1, 7)
        rounded = round_px(px, sz_decimals, is_perp)
        assert is_valid_px(rounded, sz_decimals, is_perp), (px, sz_decimals, is_perp, rounded)
        float_to_wire(rounded)
        if px <= 100_000:  # otherwise nearest integer
            assert rounded == round(float(f"{px:.5g}"), (6 if is_perp else 8) - sz_decimals)
        assert abs(rounded - px) / px < 0.06  # 5 sig figs, or a coarse tick for tiny prices


@pytest.mark.parametrize(
    "px, sz_decimals", [(0.0, 0), (-1.0, 0), (math.nan, 0), (math.inf, 0), (1.0, 7), (1.0, -1), (1e-9, 0)]
)
def test_round_px_rejects_bad_input(px, sz_decimals):
    with pytest.raises(ValueError):
        round_px(px, sz_decimals)


def test_round_sz():
    assert round_sz(12.345678, 2) == 12.35
    assert round_sz(12.345678, 0) == 12.0
    assert round_sz(0.0004, 3) == 0.0
    assert math.copysign(1.0, round_sz(-0.0, 2)) == 1.0  # never "-0" on the wire
    assert float_to_wire(round_sz(0.1 + 0.2, 5)) == "0.3"
    with pytest.raises(ValueError):
        round_sz(-1.0, 2)
    with pytest.raises(ValueError):
        round_sz(1.0, -1)
