"""config/carry.yaml: the shipped file loads; bad values are refused naming file, key and reason."""

from __future__ import annotations

import pytest

from tests.fixtures import REPO
from tripwire.hotpath.carry.config import CarryConfigError, load_carry_config


def test_the_shipped_carry_config_loads_with_btc_hedged_by_ubtc():
    cfg = load_carry_config(REPO / "config" / "carry.yaml", ("BTC", "ETH", "SOL"))
    assert list(cfg.enabled()) == ["BTC"] and cfg.coins["BTC"].spot == "UBTC/USDC"
    p = cfg.params("BTC")
    assert p.entry_bps_per_hour > p.exit_bps_per_hour


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "coins: {BTC: {spot: UBTC/USDC, notional_usd: 100, entry_bps_per_hour: 1, exit_bps_per_hour: 2}}",
            "coins.BTC: Value error, exit_bps_per_hour (2.0) is above entry_bps_per_hour (1.0)",
        ),
        (
            "coins: {BTC: {spot: UBTC/USDC, notional_usd: -5, entry_bps_per_hour: 2, exit_bps_per_hour: 0}}",
            "coins.BTC.notional_usd: Input should be greater than 0",
        ),
        ("hold_hours: 0", "hold_hours: Input should be greater than 0"),
        ("hold_hour: 24", "hold_hour: unknown setting"),
        ("fees: {perp_taker: 0.5}", "fees.perp_taker: Input should be less than or equal to 0.01"),
        (
            "coins: {BTC: {notional_usd: 100, entry_bps_per_hour: 2, exit_bps_per_hour: 0}}",
            "coins.BTC.spot: Field required",
        ),
        ("slippage_bps: .inf", "slippage_bps"),
    ],
)
def test_a_bad_value_is_refused_naming_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "carry.yaml"
    path.write_text(text + "\n")
    with pytest.raises(CarryConfigError) as e:
        load_carry_config(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_an_enabled_coin_the_market_does_not_have_is_refused(tmp_path):
    path = tmp_path / "carry.yaml"
    path.write_text(
        "coins:\n  DOGE: {enabled: true, spot: UDOGE/USDC, notional_usd: 100, entry_bps_per_hour: 2, exit_bps_per_hour: 0}\n"
    )
    with pytest.raises(CarryConfigError, match=r"coins\.DOGE: enabled, but the market has only BTC, ETH, SOL"):
        load_carry_config(path, ("BTC", "ETH", "SOL"))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CarryConfigError, match="carry setting file not found"):
        load_carry_config(tmp_path / "nope.yaml")
