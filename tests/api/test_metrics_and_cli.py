"""Prometheus metrics of the API, and the ``tripwire api`` command's loopback rule."""

from __future__ import annotations

import pytest

from tripwire.cli import main
from tripwire.commands.api import is_loopback


def test_requests_are_counted_by_route_template_method_and_status(stack):
    stack.read.get("/triggers/some-id-1")
    stack.read.get("/triggers/some-id-2")
    stack.anon.get("/status")
    text = stack.read.get("/metrics").text
    assert ('tripwire_api_requests_total{method="GET",route="/triggers/{trigger_id}",status="404"} 2.0') in text
    assert 'tripwire_api_requests_total{method="GET",route="/status",status="401"}' in text
    assert 'tripwire_api_request_duration_seconds_count{route="/triggers/{trigger_id}"} 2.0' in text
    assert "some-id" not in text


def test_unmatched_paths_share_one_label(stack):
    stack.read.get("/no/such/route")
    assert 'route="unmatched",status="404"' in stack.read.get("/metrics").text


@pytest.mark.parametrize(
    "host,loopback",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("api.example.com", False),
    ],
)
def test_loopback_hosts_are_recognised(host, loopback):
    assert is_loopback(host) is loopback


def test_binding_a_public_address_is_refused_without_allow_remote(capsys):
    assert main(["api", "--host", "0.0.0.0", "--port", "8123"]) == 2
    err = capsys.readouterr().err
    assert "refusing to bind 0.0.0.0" in err and "--allow-remote" in err
