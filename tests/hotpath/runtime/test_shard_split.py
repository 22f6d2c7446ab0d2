"""The shard split and shard addresses: deterministic, balanced by volume, and refusing what
cannot work with what to change."""

import pytest

from tripwire.bus.addresses import BusAddresses
from tripwire.hotpath.runtime.shards import ShardConfigError, ShardSpec, shard_addresses, split_coins, volume_weights


def test_every_coin_goes_to_exactly_one_shard_in_the_exchanges_order():
    coins = [f"C{i}" for i in range(11)]
    parts = split_coins(coins, 3)
    assert sorted(c for p in parts for c in p) == sorted(coins)
    assert [len(p) for p in parts] == [4, 4, 3]
    for p in parts:
        assert list(p) == [c for c in coins if c in p]


def test_the_busiest_coins_do_not_share_a_shard():
    coins = ["BTC", "ETH", "SOL", "DOGE", "PEPE", "WIF"]
    w = {"BTC": 1000.0, "ETH": 800.0, "SOL": 100.0, "DOGE": 50.0, "PEPE": 40.0, "WIF": 30.0}
    a, b = split_coins(coins, 2, w)
    assert ("BTC" in a) != ("ETH" in a)
    assert abs(sum(w[c] for c in a) - sum(w[c] for c in b)) <= 1000.0 - 800.0 + 30.0
    assert split_coins(coins, 2, w) == [a, b]  # the same inputs, the same split


def test_more_shards_than_coins_is_refused():
    with pytest.raises(ShardConfigError, match="3 shards for 2 coins"):
        split_coins(["BTC", "ETH"], 3)


def test_volume_weights_read_meta_and_asset_ctxs_and_give_nothing_for_an_odd_answer():
    answer = [{"universe": [{"name": "BTC"}, {"name": "ETH"}]}, [{"dayNtlVlm": "12.5"}, {"dayNtlVlm": None}]]
    assert volume_weights(answer) == {"BTC": 12.5, "ETH": 0.0}
    assert volume_weights({"error": "x"}) == {}


@pytest.mark.parametrize("text", ["2", "2/2", "-1/2", "a/b", "1/0"])
def test_a_bad_shard_spec_says_the_form(text):
    with pytest.raises(ShardConfigError, match="K/N"):
        ShardSpec.parse(text)


def test_shard_spec_parses_and_shard_0_owns_the_account():
    assert ShardSpec.parse(" 1 / 4 ") == ShardSpec(1, 4)
    assert ShardSpec.parse("0/2").owner and not ShardSpec.parse("1/2").owner


def test_each_shard_binds_its_own_ipc_sockets_and_tcp_needs_them_given():
    owner = BusAddresses("ipc:///run/tw/events.sock", "ipc:///run/tw/commands.sock")
    assert shard_addresses(owner, 0) == owner
    assert shard_addresses(owner, 2) == BusAddresses("ipc:///run/tw/events-2.sock", "ipc:///run/tw/commands-2.sock")
    with pytest.raises(ShardConfigError, match="--events"):
        shard_addresses(BusAddresses("tcp://10.0.0.1:5555", "tcp://10.0.0.1:5556"), 1)


def owner(split):
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.hotpath.risk.manager import RiskManager
    from tripwire.hotpath.runtime.shards import AccountOwner

    return AccountOwner(ShardSpec(0, len(split)), split, RiskManager(load_risk_config("config/risk.yaml")))


def test_the_owner_takes_a_shards_mids_for_its_own_coins_only():
    from tripwire.contracts.events import ShardMarketArgs

    o = owner([("BTC",), ("ETH", "SOL")])
    reply = o.cmd_shard_market(ShardMarketArgs(index=1, coins=["ETH", "SOL"], mids={"ETH": 2000.0, "BTC": 1.0}))
    assert o.mids() == {"ETH": 2000.0} and reply["owner_state"] == "ACTIVE"


def test_a_shard_whose_coins_a_restarted_owner_split_otherwise_is_told_to_stop():
    from tripwire.bus.commands import CommandRefused
    from tripwire.contracts.events import ShardMarketArgs

    o = owner([("BTC",), ("ETH", "SOL")])
    with pytest.raises(CommandRefused) as e:
        o.cmd_shard_market(ShardMarketArgs(index=1, coins=["ETH"], mids={}))
    assert e.value.code == "split_changed"


def test_a_trigger_for_a_coin_of_another_shard_is_refused():
    from tripwire.bus.commands import CommandRefused
    from tripwire.contracts.events import ShardTriggerArgs, TriggerFired

    o = owner([("BTC",), ("ETH",)])
    o.hp = object()  # type: ignore[assignment]  # refused before the hot path is used
    ev = TriggerFired("r.BTC.1.1", "r", "BTC", "long", {}, [("place_bracket", {})])
    with pytest.raises(CommandRefused) as e:
        o.cmd_shard_trigger(ShardTriggerArgs(index=1, trigger=dict(ev.to_dict())))
    assert e.value.code == "wrong_shard"
    with pytest.raises(CommandRefused) as e:
        o.cmd_shard_trigger(ShardTriggerArgs(index=1, trigger={"rule": "r"}))
    assert e.value.code == "bad_trigger"
