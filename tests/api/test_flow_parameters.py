"""Parameters of a deployment run started over the API, checked against the schema Prefect
records for the real flows (``parameter_openapi_schema``), without a Prefect server.

Before: the API passed any parameters through; ``settings_file`` / ``store_uri`` pointed a run
at another configuration or database, and unknown names were accepted (the run then failed
when the flow was called)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.utilities.callables import parameter_schema

from tripwire.api.flow_parameters import is_path_like, parameter_errors
from tripwire.flows.analyze import analyze_trigger
from tripwire.flows.scheduled.archive_data import archive_data
from tripwire.flows.scheduled.generate_signals import generate_signals


def schema(f: Any) -> dict[str, Any]:
    return parameter_schema(f.fn).model_dump_for_openapi()


ARCHIVE = schema(archive_data)


@flow
def exporter(out: Path, coins: list[str] | None = None) -> None:
    """A flow with a parameter declared as a path under an innocent name."""


def errors(
    params: dict[str, Any],
    s: dict[str, Any] | None = ARCHIVE,
    defaults: dict[str, Any] | None = None,
    allowed: tuple[str, ...] = (),
):
    return parameter_errors(params, s, defaults or {}, allowed)


def test_the_flows_own_parameters_of_the_right_types_pass():
    assert errors({"now_ms": 1_704_110_400_000, "archive_settings": {"collections": []}}) == []
    assert errors({}) == []


@pytest.mark.parametrize(
    "name,value", [("settings_file", "/tmp/other.yaml"), ("store_uri", "mongodb://elsewhere:27017/x")]
)
def test_paths_and_store_uris_are_refused_unless_settings_allow_them(name, value):
    (e,) = errors({name: value})
    assert e["type"] == "parameter_not_allowed" and e["loc"] == ["body", "parameters", name]
    assert "api.flow_path_parameters" in e["msg"]
    assert errors({name: value}, allowed=(name,)) == []
    # every scheduled flow takes settings_file
    (e,) = errors({"settings_file": "x.yaml"}, schema(generate_signals))
    assert e["type"] == "parameter_not_allowed"


def test_unknown_parameters_are_refused_naming_the_known_ones():
    (e,) = errors({"now": 1, "now_ms": 2})
    assert e["type"] == "unknown_parameter" and e["loc"] == ["body", "parameters", "now"]
    assert "now_ms" in e["msg"] and "store_uri" in e["msg"]
    (e,) = errors({"coin": "BTC"}, None)  # a deployment that declares no parameters
    assert e["type"] == "unknown_parameter" and "none" in e["msg"]


def test_wrong_types_are_refused_naming_the_parameter():
    found = errors({"now_ms": "soon", "archive_settings": [1, 2]})
    assert [e["loc"] for e in found] == [["body", "parameters", "archive_settings"], ["body", "parameters", "now_ms"]]
    assert all(e["type"] == "parameter_type" for e in found)
    assert "'soon'" in found[1]["msg"]


def test_a_required_parameter_without_a_default_is_named():
    s = schema(analyze_trigger)
    (e,) = errors({"published_ns": 1}, s)
    assert e["type"] == "missing" and e["loc"] == ["body", "parameters", "trigger"]
    assert errors({"published_ns": 1}, s, defaults={"trigger": {"rule": "r"}}) == []
    assert errors({"trigger": {"rule": "r"}}, s) == []


def test_a_parameter_declared_as_a_path_is_path_like_whatever_its_name():
    s = schema(exporter)
    (e,) = errors({"out": "/etc/cron.d/x", "coins": ["BTC"]}, s)
    assert e["type"] == "parameter_not_allowed" and e["loc"] == ["body", "parameters", "out"]
    assert [is_path_like(n, {}) for n in ("model_dir", "data_path", "x_uri", "file", "profile", "uri_count")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
