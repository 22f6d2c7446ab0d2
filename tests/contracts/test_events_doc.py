"""docs/EVENTS.md and the payload types in tripwire.contracts say the same thing, field by field."""

from __future__ import annotations

import pytest

from tests.contracts.events_doc import Page, fields_of, named_types, read_page, render
from tripwire.contracts.events import TOPIC_PAYLOADS, Topics, topic_pattern


@pytest.fixture(scope="module")
def page() -> Page:
    return read_page()


def referenced_types() -> dict[str, type]:
    """Every payload type and every type they refer to, by name."""
    out: dict[str, type] = {}
    todo = list(TOPIC_PAYLOADS.values())
    while todo:
        tp = todo.pop()
        if tp.__name__ in out:
            continue
        out[tp.__name__] = tp
        for annotation in fields_of(tp).values():
            todo.extend(named_types(annotation))
    return out


def test_the_overview_table_lists_every_topic_with_its_payload_type(page):
    assert page.overview == {topic: tp.__name__ for topic, tp in TOPIC_PAYLOADS.items()}


def test_every_topic_has_a_section_naming_its_payload_type(page):
    documented = {s.topic: name for name, s in page.sections.items() if s.topic is not None}
    assert documented == {topic: tp.__name__ for topic, tp in TOPIC_PAYLOADS.items()}


def test_every_type_is_documented_and_every_documented_type_exists(page):
    assert set(page.sections) == set(referenced_types())


@pytest.mark.parametrize("name", sorted(referenced_types()))
def test_each_section_has_exactly_the_fields_and_types_of_its_type(page, name):
    tp = referenced_types()[name]
    section = page.sections[name]
    want = [(field, render(annotation)) for field, annotation in fields_of(tp).items()]
    assert section.fields == want, f"docs/EVENTS.md section {name} differs from {tp.__module__}"


def test_feed_status_documents_previous_the_field_the_hot_path_sends(page):
    assert [f for f, _ in page.sections["FeedStatusData"].fields] == ["state", "previous", "reconnects"]


@pytest.mark.parametrize(
    "topic, pattern",
    [
        (Topics.HEARTBEAT, "heartbeat"),
        (Topics.md_trade("BTC"), "md.trade.<coin>"),
        (Topics.md_book("BTC"), "md.book.<coin>"),
        (Topics.md_ctx("BTC"), "md.ctx.<coin>"),
        (Topics.md_candle("BTC"), "md.candle.<coin>"),
        (Topics.md_features("BTC"), "md.features.<coin>"),
        (Topics.trigger_fired("squeeze_up", "BTC"), "trigger.fired.<rule>.<coin>"),
        (Topics.order("filled", "BTC"), "order.<state>.<coin>"),
        (Topics.order("refused", "BTC"), "order.refused.<coin>"),
        (Topics.fill("BTC"), "fill.<coin>"),
        (Topics.position("BTC"), "position.<coin>"),
        (Topics.ACCOUNT, "account"),
        (Topics.decision("squeeze_up.BTC.1704112789990.1"), "decision.<trigger_id>"),
        (Topics.RISK_STATE, "risk.state"),
        (Topics.risk_breaker("latency"), "risk.breaker.<name>"),
        (Topics.FEED_STATUS, "feed.status"),
    ],
)
def test_every_topic_builder_maps_to_its_documented_pattern(topic, pattern):
    assert topic_pattern(topic) == pattern


def test_a_topic_nobody_publishes_has_no_pattern():
    assert topic_pattern("md.tape.BTC") is None and topic_pattern("risk") is None
