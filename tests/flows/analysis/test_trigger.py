"""The analysis reads the contract's TriggerFired, checked once at the edge."""

from __future__ import annotations

import pytest

from tests.flows.analysis.samples import BRACKET, SQUEEZE_UP_STRONG, squeeze_up
from tripwire.contracts.events import TriggerFired
from tripwire.flows.analysis.errors import InvalidTrigger
from tripwire.flows.analysis.trigger import TriggerInput


def test_an_event_becomes_the_contracts_trigger_and_round_trips():
    event = squeeze_up("t-9")
    t = TriggerInput.from_event(event)
    assert isinstance(t, TriggerFired)
    assert t.to_dict() == event
    assert t.bracket() == BRACKET[1] and t.side_sign == 1


def test_a_stored_document_keeps_its_fields_and_drops_its_own_keys():
    doc = {**squeeze_up("t-9"), "_id": "t-9", "ts": 1_700_000_000_000}
    assert TriggerInput.from_event(doc).to_dict() == squeeze_up("t-9")


def test_a_trigger_built_off_the_hot_path_may_lack_times_and_actions():
    t = TriggerInput.from_event(
        {"trigger_id": "api-1", "rule": "squeeze_up", "coin": "BTC", "side": "long", "features": SQUEEZE_UP_STRONG}
    )
    assert (t.exch_ts_ns, t.recv_ts_ns, t.fired_ts_ns, t.bracket()) == (0, 0, 0, None)


def test_a_hot_path_trigger_object_is_accepted_as_is():
    ev = TriggerFired("t-1", "squeeze_up", "BTC", "short", {"mid": 1.0, "x": None}, [BRACKET])
    t = TriggerInput.from_event(ev)
    assert t.side_sign == -1 and t.present() == {"mid": 1.0}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"exch_ts_ns": "1700000000"}, "exch_ts_ns"),
        ({"features": {"mid": "42000"}}, "mid"),
        ({"actions": [{"name": "place_bracket"}]}, "params"),
        ({"trigger_id": ""}, "trigger_id"),
    ],
)
def test_the_contracts_types_are_checked_strictly(change, field):
    with pytest.raises(InvalidTrigger, match=field):
        TriggerInput.from_event({**squeeze_up(), **change})
