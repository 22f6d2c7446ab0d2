"""The systemd units in ops/systemd: valid for systemd, and running commands that exist.

``systemd-analyze verify`` also checks that every ``Exec*=`` binary exists and is executable,
which /opt/tripwire/.venv/bin/tripwire is not on a development machine. So the test verifies
a copy of each unit whose ``Exec*=`` binaries are replaced by an existing one (``true``,
arguments kept), and fails on *any* complaint about the unit's own lines: systemd only warns
about an unknown key or a bad value ("…, ignoring") and still exits 0, so the exit code alone
would let a typo through. What the real ExecStart runs is checked apart, against the CLI.
"""

import re
import shutil
import subprocess

import pytest

from tests.fixtures import REPO
from tripwire.cli import COMMANDS

UNITS = sorted((REPO / "ops" / "systemd").glob("*.service"))
EXEC = re.compile(r"^(Exec(?:Start|StartPre|StartPost|Reload|Stop|StopPost)=)([-@:+!]*)(\S+)(.*)$", re.M)
INSTALL_PREFIX = "/opt/tripwire/.venv/bin/"


def test_every_service_is_there():
    assert {u.name for u in UNITS} == {
        "tripwire-hotpath.service",
        "tripwire-flows-serve.service",
        "tripwire-dispatch.service",
        "tripwire-recorder.service",
        "tripwire-api.service",
        "prefect-server.service",
    }


def with_existing_binaries(text: str, binary: str) -> str:
    return EXEC.sub(lambda m: f"{m.group(1)}{m.group(2)}{binary}{m.group(4)}", text)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_accepts_the_unit_without_a_warning(unit, tmp_path):
    copy = tmp_path / unit.name
    copy.write_text(with_existing_binaries(unit.read_text(), shutil.which("true")))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (r.stdout + r.stderr).splitlines() if unit.name in line]
    assert r.returncode == 0 and complaints == [], r.stdout + r.stderr


def test_a_typo_in_a_unit_would_be_caught(tmp_path):
    """The check above must see warnings systemd exits 0 on."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    bad = tmp_path / "bad.service"
    bad.write_text(f"[Service]\nExecStart={shutil.which('true')}\nWatchdogSecs=10\nNice=-50\n")
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(bad)], capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert "Unknown key" in out and "Nice priority out of range" in out


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_exec_start_runs_an_installed_command_that_exists(unit):
    starts = [m for m in EXEC.finditer(unit.read_text()) if m.group(1) == "ExecStart="]
    assert len(starts) == 1
    binary, args = starts[0].group(3), starts[0].group(4).split()
    assert binary.startswith(INSTALL_PREFIX)
    if binary.endswith("/tripwire"):
        assert args[0] in COMMANDS, f"{unit.name}: 'tripwire {args[0]}' is not a command"
    else:
        assert binary.endswith("/prefect") and args[:2] == ["server", "start"]


def test_hot_path_unit_pins_and_watches_the_process():
    text = (REPO / "ops/systemd/tripwire-hotpath.service").read_text()
    for line in ("Type=notify", "Restart=on-failure", "LimitMEMLOCK=infinity", "CPUAffinity=2 3", "Nice=-10"):
        assert line in text.splitlines()
    assert re.search(r"^WatchdogSec=\d+s?$", text, re.M)
    exec_start = next(m for m in EXEC.finditer(text) if m.group(1) == "ExecStart=")
    assert "hotpath run --cpus 2,3" in exec_start.group(4)  # the same cores as CPUAffinity=


def test_every_unit_reads_the_environment_file_the_template_documents():
    template = (REPO / "ops/systemd/tripwire.env.example").read_text()
    for unit in UNITS:
        assert "EnvironmentFile=/etc/tripwire/tripwire.env" in unit.read_text()
    for var in (
        "TRIPWIRE_PRIVATE_KEY=",
        "PREFECT_API_URL=",
        "MONGODB_URI=",
        "N8N_WEBHOOK_URL=",
        "TRIPWIRE_API_KEY_READ=",
    ):
        assert var in template
    # placeholders only: no value that looks like a real 32-byte key
    assert not re.search(r"=0x[0-9a-fA-F]{64}\b", template)


def _seconds(unit: str, key: str) -> float:
    m = re.search(rf"^{key}=(\d+)s?$", (REPO / "ops/systemd" / unit).read_text(), re.M)
    assert m, f"{unit}: no {key}="
    return float(m.group(1))


def test_systemd_waits_for_the_recorders_drain_before_killing_it():
    """The recorder drains within recorder.drain_timeout_s and then reports what it lost;
    systemd must not SIGKILL it first (one write may still take SQLite's busy timeout)."""
    from tripwire.flows.recording import RecorderConfig
    from tripwire.flows.store.sqlite import SqliteStore

    busy_timeout_s = SqliteStore.__init__.__kwdefaults__["busy_timeout_ms"] / 1000
    stop_s = _seconds("tripwire-recorder.service", "TimeoutStopSec")
    assert stop_s >= RecorderConfig().drain_timeout_s + busy_timeout_s + 2
