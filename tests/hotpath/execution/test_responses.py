"""Exchange answers → typed results, on plain data: no sockets, no simulator."""

from tripwire.hotpath.execution.responses import (
    ExchangeResult,
    action_batch_len,
    parse_exchange_response,
    parse_http_answer,
    parse_order_status,
    parse_ws_answer,
)


def test_a_whole_request_error_is_parsed_from_the_err_status():
    r = parse_exchange_response({"status": "err", "response": "Must deposit before performing actions."})
    assert not r.ok and r.error.startswith("Must deposit") and r.error_count == 1
    w = parse_exchange_response(
        {
            "status": "ok",
            "response": {"type": "order", "data": {"statuses": ["waitingForTrigger", {"resting": {"oid": 7}}]}},
        }
    )
    assert [s.kind for s in w.statuses] == ["waitingForTrigger", "resting"]


def test_fills_carry_size_and_price_and_unknown_statuses_are_errors():
    r = parse_exchange_response(
        {
            "status": "ok",
            "response": {
                "type": "order",
                "data": {"statuses": [{"filled": {"oid": 9, "totalSz": "0.5", "avgPx": "2000.0"}}, {"what": 1}]},
            },
        }
    )
    filled, odd = r.statuses
    assert (filled.kind, filled.oid, filled.total_sz, filled.avg_px) == ("filled", 9, 0.5, 2000.0)
    assert odd.kind == "error" and "unrecognised" in odd.error and r.error_count == 1


def test_refused_cancels_of_orders_already_gone_are_not_counted_as_errors():
    r = parse_exchange_response(
        {
            "status": "ok",
            "response": {
                "type": "cancel",
                "data": {"statuses": [{"error": "Order was never placed, already canceled, or filled."}]},
            },
        }
    )
    assert r.ok and r.statuses[0].kind == "error" and r.error_count == 0


def test_http_answers_that_are_not_200_or_not_json_are_whole_request_errors():
    assert parse_http_answer(429, b"rate limited") == ExchangeResult(False, error="HTTP 429: rate limited")
    bad = parse_http_answer(200, b"<html>")
    assert not bad.ok and bad.error.startswith("answer is not JSON")
    assert parse_http_answer(200, b'{"status": "ok", "response": {"type": "default"}}').ok


def test_a_refused_websocket_post_quotes_its_payload():
    ok = parse_ws_answer({"type": "action", "payload": {"status": "ok", "response": {"type": "default"}}})
    refused = parse_ws_answer({"type": "error", "payload": "bad signature"})
    assert ok.ok and not refused.ok and refused.error == "post refused: 'bad signature'"


def test_order_status_maps_exchange_states_and_knows_when_the_order_is_unknown():
    st = parse_order_status({"status": "order", "order": {"order": {"oid": 5, "cloid": "0xab"}, "status": "open"}})
    assert (st.kind, st.oid, st.cloid) == ("resting", 5, "0xab")
    assert parse_order_status({"status": "unknownOid"}) is None


def test_batch_length_counts_orders_cancels_or_modifies():
    assert action_batch_len({"type": "order", "orders": [{}, {}, {}]}) == 3
    assert action_batch_len({"type": "cancel", "cancels": [{}]}) == 1
    assert action_batch_len({"type": "scheduleCancel"}) == 1


def test_a_post_only_refusal_and_a_modify_of_a_filled_order_are_races_not_order_errors():
    body = {
        "status": "ok",
        "response": {
            "type": "order",
            "data": {
                "statuses": [
                    {"error": "Post only order would have immediately matched, bbo was 42800.0@42801.0."},
                    {"error": "Cannot modify canceled or filled order"},
                    {"error": "Order has invalid size."},
                ]
            },
        },
    }
    r = parse_exchange_response(body)
    assert [s.kind for s in r.statuses] == ["error", "error", "error"]
    assert r.error_count == 1  # only the invalid size is a fault
