"""coins: a list checked against the exchange's meta, or [all] resolved from it."""

from __future__ import annotations

import pytest

from tripwire.config.settings import load_settings
from tripwire.hotpath.feed.universe import UnknownCoins, listed_coins, resolve_coins
from tripwire.sim.exchange.markets import Universe


def test_all_resolves_to_every_perpetual_the_simulators_meta_lists():
    assert resolve_coins(("all",), Universe().meta()) == ("BTC", "ETH", "SOL")


def test_all_leaves_out_delisted_perpetuals():
    meta = {"universe": [{"name": "BTC", "szDecimals": 5}, {"name": "OLD", "szDecimals": 0, "isDelisted": True}]}
    assert listed_coins(meta) == ("BTC",)
    assert resolve_coins(("all",), meta) == ("BTC",)


def test_a_list_is_kept_in_its_order_when_the_exchange_lists_every_coin():
    assert resolve_coins(("SOL", "BTC"), Universe().meta()) == ("SOL", "BTC")


def test_an_unknown_coin_is_named_with_a_suggestion():
    with pytest.raises(UnknownCoins, match=r"'ETC' \(did you mean 'ETH'\?\) not listed.*lists BTC, ETH, SOL"):
        resolve_coins(("BTC", "ETC"), Universe().meta())


def test_a_meta_answer_without_a_universe_is_a_clear_error():
    with pytest.raises(ValueError, match="no usable universe"):
        resolve_coins(("all",), {"oops": 1})


def test_settings_accept_all_alone_and_refuse_it_mixed_or_a_coin_twice():
    assert load_settings("config/settings.yaml", coins=("all",)).coins == ("all",)
    with pytest.raises(Exception, match="give it alone"):
        load_settings("config/settings.yaml", coins=("all", "BTC"))
    with pytest.raises(Exception, match="lists a coin twice: BTC"):
        load_settings("config/settings.yaml", coins=("BTC", "BTC"))
