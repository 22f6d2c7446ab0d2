"""The hot path core over real ZeroMQ sockets: events out, every command in."""

import orjson
import pytest

from tests.fixtures import RECORDING
from tripwire.bus.client import Subscriber
from tripwire.bus.commands import CommandClient, CommandError, CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.config.settings import load_settings
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import REDUCING, RiskManager
from tripwire.hotpath.service import HotPath
from tripwire.sim.replay.runner import replay_stream

SETTINGS = load_settings("config/settings.yaml")


@pytest.fixture(scope="module")
def frames():
    return [orjson.dumps(m) for m in replay_stream([RECORDING], synthetic=True, seed=7)]


@pytest.fixture
def wired(tmp_path):
    pub = Publisher(f"ipc://{tmp_path}/ev.sock", heartbeat_interval_s=0.05)
    server = CommandServer(f"ipc://{tmp_path}/cmd.sock")
    hp = HotPath(SETTINGS, RiskManager(load_risk_config("config/risk.yaml")), publisher=pub)
    hp.register_commands(server)
    sub = Subscriber(f"ipc://{tmp_path}/ev.sock", topics=["trigger.", "decision.", "risk."])
    client = CommandClient(f"ipc://{tmp_path}/cmd.sock", timeout_s=2.0)
    yield hp, pub, server, sub, client
    client.close()
    sub.close()
    server.close()
    pub.close()


def call(server, client, cmd, args=None):
    """Serve the one request on this thread while the client waits (DEALER queues it)."""
    import threading

    out = {}

    def go():
        try:
            out["r"] = client.call(cmd, args)
        except Exception as e:  # noqa: BLE001 - handed back to the test
            out["e"] = e

    t = threading.Thread(target=go)
    t.start()
    while t.is_alive():
        server.handle_pending()
        t.join(0.005)
    if "e" in out:
        raise out["e"]
    return out["r"]


def wait_subscribed(pub, sub, hp):
    # XPUB sees the subscription once it arrives; publish heartbeats until the SUB has one
    import time

    for _ in range(200):
        pub.maybe_heartbeat(time.time_ns())
        if sub.recv(timeout_ms=10) is not None or sub.publishers:
            return
    raise AssertionError("subscriber never connected")


def run_until_first_trigger(hp, frames):
    for f in frames:
        fired = hp.on_frame(f, 1)
        if fired:
            return fired[0]
    raise AssertionError("no trigger fired on the real hour")


def test_fired_trigger_is_published_with_its_features(wired, frames):
    hp, pub, _, sub, _ = wired
    wait_subscribed(pub, sub, hp)
    ev = run_until_first_trigger(hp, frames)
    got = None
    for _ in range(100):
        e = sub.recv(timeout_ms=50)
        if e is not None and e.topic.startswith("trigger.fired."):
            got = e
            break
    assert got is not None and got.topic == f"trigger.fired.{ev.rule}.BTC"
    assert got.data["trigger_id"] == ev.trigger_id and got.data["features"]["atr_bps"] > 0


def test_status_reports_mode_risk_and_books(wired, frames):
    hp, _, server, _, client = wired
    for f in frames[:500]:
        hp.on_frame(f, 1)
    st = call(server, client, "status")
    assert st["mode"] == "demo" and st["risk"]["state"] == "ACTIVE"
    assert st["coins"]["BTC"]["book_problem"] is None and st["coins"]["BTC"]["mid"] > 40_000


def test_pause_and_resume_change_the_trading_state(wired):
    hp, _, server, _, client = wired
    assert call(server, client, "pause", {"reason": "operator"}) == {"state": REDUCING}
    assert call(server, client, "resume") == {"state": "ACTIVE"}


def test_decision_applies_once_and_stale_ones_are_refused(wired, frames):
    hp, _, server, _, client = wired
    ev = run_until_first_trigger(hp, frames)
    d = {
        "trigger_id": ev.trigger_id,
        "go": False,
        "sA": -0.4,
        "confA": 0.7,
        "prob_cont": 0.3,
        "reason": "test",
        "source": "operator",
    }
    assert call(server, client, "apply_decision", d)["kind"] == "cancel"
    assert ev.trigger_id not in hp.active_triggers()
    with pytest.raises(CommandError) as e:
        call(server, client, "apply_decision", d)
    assert e.value.code == "stale_decision"
    with pytest.raises(CommandError) as e:
        call(server, client, "apply_decision", {**d, "trigger_id": "nope"})
    assert e.value.code == "stale_decision"
    assert list(hp.decisions) == [ev.trigger_id]


def test_invalid_decision_is_refused_and_changes_nothing(wired, frames):
    hp, _, server, _, client = wired
    ev = run_until_first_trigger(hp, frames)
    with pytest.raises(CommandError) as e:
        call(
            server,
            client,
            "apply_decision",
            {"trigger_id": ev.trigger_id, "go": True, "sA": 3.0, "confA": 0.5, "prob_cont": 0.5},
        )
    assert e.value.code == "invalid_args"
    assert hp.decisions == {} and ev.trigger_id in hp.active_triggers()


def test_set_feature_sets_external_features_only(wired):
    hp, _, server, _, client = wired
    call(server, client, "set_feature", {"coin": "BTC", "name": "smart_money_bias", "value": 0.4})
    assert hp.pipeline.coins["BTC"].features.values["smart_money_bias"] == 0.4
    with pytest.raises(CommandError) as e:
        call(server, client, "set_feature", {"coin": "BTC", "name": "mid", "value": 1.0})
    assert e.value.code == "invalid_args" and "smart_money_bias" in str(e.value)
    assert "mid" not in hp.pipeline.coins["BTC"].features.values


def test_set_feature_for_a_coin_not_traded_is_refused_and_creates_no_state(wired):
    hp, _, server, _, client = wired
    with pytest.raises(CommandError) as e:
        call(server, client, "set_feature", {"coin": "DOGE", "name": "ls_ratio", "value": 2.0})
    assert e.value.code == "invalid_args" and "unknown coin 'DOGE'" in str(e.value)
    assert "DOGE" not in hp.pipeline.coins


def test_reload_with_a_bad_file_keeps_the_old_rules(wired, tmp_path):
    hp, _, server, _, client = wired
    before = hp.pipeline.triggers.ruleset
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  x:\n    side: long\n    when_all: [{cvd_slop_1m_gt: 1}]\n    actions: [{place_bracket: {}}]\n"
    )
    with pytest.raises(CommandError) as e:
        call(server, client, "reload_triggers", {"path": str(bad)})
    assert e.value.code == "invalid_config" and "did you mean 'cvd_slope_1m'" in str(e.value)
    assert hp.pipeline.triggers.ruleset is before
    ok = call(server, client, "reload_triggers")
    assert "squeeze_up" in ok["rules"]


def test_reload_model_refuses_a_bad_file_and_keeps_the_old(wired, tmp_path):
    hp, _, server, _, client = wired
    good = tmp_path / "m.json"
    good.write_text('{"version": 1, "families": {}}')
    assert call(server, client, "reload_model", {"path": str(good)})["version"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(CommandError) as e:
        call(server, client, "reload_model", {"path": str(bad)})
    assert e.value.code == "invalid_config"
    assert hp.model_path == str(good)


def test_unknown_command_is_refused(wired):
    _, _, server, _, client = wired
    with pytest.raises(CommandError) as e:
        call(server, client, "self_destruct")
    assert e.value.code == "unknown_command"


class RecordingExecution:
    """An order layer that only records what the hot path hands it."""

    def __init__(self):
        self.user_records, self.triggers = [], []

    def on_trigger(self, ev):
        self.triggers.append(ev)

    def on_user_record(self, rec):
        self.user_records.append(rec)

    def status(self):
        return {}


ORDER_UPDATE = orjson.dumps(
    {
        "channel": "orderUpdates",
        "data": [
            {
                "order": {
                    "coin": "BTC",
                    "side": "B",
                    "limitPx": "100",
                    "sz": "1",
                    "origSz": "1",
                    "oid": 7,
                    "timestamp": 1_000,
                },
                "status": "open",
                "statusTimestamp": 1_000,
            }
        ],
    }
)


def test_user_records_go_to_the_order_layer_and_market_records_do_not(frames):
    hp = HotPath(SETTINGS, RiskManager(load_risk_config("config/risk.yaml")))
    execution = RecordingExecution()
    hp.attach_execution(execution)
    assert hp.on_frame(ORDER_UPDATE, 1) == []
    assert [type(r).__name__ for r in execution.user_records] == ["OrderUpdates"]
    assert hp.coins() == {}  # no market state from our own orders
    for f in frames[:50]:
        hp.on_frame(f, 1)
    assert len(execution.user_records) == 1
    assert hp.message_counts()["orderUpdates"] == 1 and hp.message_counts()["l2Book"] > 0
    assert hp.mids()["BTC"] > 40_000


@pytest.mark.parametrize("command", ["flatten", "cancel_all"])
def test_a_coin_this_hot_path_does_not_trade_is_refused_not_done(wired, command):
    # before: {"coin": "ETHH"} answered ok with nothing done, so a typo looked like a flatten
    _, _, server, _, client = wired
    with pytest.raises(CommandError) as e:
        call(server, client, command, {"coin": "ETHH"})
    assert e.value.code == "invalid_args" and "ETHH" in str(e.value)
