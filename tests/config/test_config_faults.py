"""A bad config file is refused with its file, line, key and reason, by every loader.

Each case here was a failure before: a non-UTF-8 byte escaped as a ``UnicodeDecodeError``
traceback at start and as a 502 (``handler_error``) on a live rule reload; a key written twice
silently took its last value; ``.inf`` passed every ``gt=0`` bound and turned a breaker off;
``rules: {}`` silently removed every rule, at start and on reload.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tripwire.bus.commands import CommandClient, CommandError, CommandServer
from tripwire.config.settings import ConfigError, load_settings
from tripwire.flows.recording.config import recorder_config
from tripwire.flows.serve import read_deployments
from tripwire.hotpath.risk.config import RiskConfig, RiskConfigError, load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.service import HotPath
from tripwire.hotpath.triggers.dsl import load_rules
from tripwire.hotpath.triggers.errors import RuleConfigError
from tripwire.sim.backtest.latency import LatencySpecError, read_samples
from tripwire.sim.exchange.sessions import SessionFileError, load_session

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "config/settings.yaml"
RISK_FILE = ROOT / "config/risk.yaml"
TRIGGERS_FILE = ROOT / "config/triggers.yaml"

RULE = "    side: long\n    when_all: [{funding_bps_lt: 0}]\n"
DEPLOYMENT = "  - name: snap\n    entrypoint: tripwire/flows/scheduled/snapshot_market.py:snapshot_market\n"


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


# -- the loaders, at start ---------------------------------------------------------------------


def _settings(p):
    return load_settings(p)


def _risk(p):
    return load_risk_config(p)


def _rules(p):
    return load_rules(p)


def _deployments(p):
    return read_deployments(p)


LOADERS = {
    "settings": (_settings, ConfigError),
    "risk": (_risk, RiskConfigError),
    "triggers": (_rules, RuleConfigError),
    "prefect": (_deployments, ConfigError),
}

# (loader, file content, what the message must hold: line, key, reason)
NOT_UTF8 = [
    (
        "settings",
        b"mode: demo\nbook:\n  stale_after_ms: 3000  # caf\xe9\n",
        ":3",
        "book.stale_after_ms",
        "not UTF-8 text: byte 0xe9 at byte offset",
    ),
    (
        "risk",
        b'limits:\n  max_open_positions: 2\nbreakers:\n  drawdown: {max_drawdown_pct: "3\xff"}\n',
        ":4",
        "breakers.drawdown.max_drawdown_pct",
        "not UTF-8 text: byte 0xff",
    ),
    (
        "triggers",
        b'rules:\n  squeeze_up:\n    description: "caf\xe9"\n' + RULE.encode(),
        ":3",
        "rule 'squeeze_up': description",
        "not UTF-8 text: byte 0xe9",
    ),
    (
        "prefect",
        b"deployments:\n" + DEPLOYMENT.encode() + b'    description: "\xc3\x28"\n',
        ":4",
        "deployments[0].description",
        "not UTF-8 text: byte 0xc3",
    ),
]

DUPLICATES = [
    (
        "settings",
        "book:\n  stale_after_ms: 3000\n  stale_after_ms: 9000\n",
        ":3",
        "book.stale_after_ms",
        "duplicate key 'stale_after_ms' (first at line 2)",
    ),
    ("settings", "mode: demo\ncoins: [BTC]\nmode: live\n", ":3", "mode", "duplicate key 'mode' (first at line 1)"),
    (
        "risk",
        "limits:\n  max_open_positions: 2\n  max_open_positions: 9\n",
        ":3",
        "limits.max_open_positions",
        "duplicate key 'max_open_positions' (first at line 2)",
    ),
    (
        "risk",
        "breakers:\n  drawdown: {max_drawdown_pct: 3}\nlimits: {}\nbreakers:\n  latency: {}\n",
        ":4",
        "breakers",
        "duplicate key 'breakers' (first at line 1)",
    ),
    (
        "triggers",
        "rules:\n  squeeze_up:\n    side: long\n    side: short\n    when_all: [{funding_bps_lt: 0}]\n",
        ":4",
        "rule 'squeeze_up': side",
        "duplicate key 'side' (first at line 3)",
    ),
    (
        "prefect",
        "deployments:\n" + DEPLOYMENT + "    name: other\n",
        ":4",
        "deployments[0].name",
        "duplicate key 'name' (first at line 2)",
    ),
]

NON_FINITE = [
    (
        "risk",
        "breakers:\n  drawdown:\n    max_drawdown_pct: .inf\n",
        ":3",
        "breakers.drawdown.max_drawdown_pct",
        "'.inf' is not a finite number",
    ),
    (
        "risk",
        "breakers:\n  latency: {tick_to_trade_ms: .nan}\n",
        ":2",
        "breakers.latency.tick_to_trade_ms",
        "'.nan' is not a finite number",
    ),
    ("risk", 'limits:\n  daily_loss_limit_usd: "inf"\n', "", "limits.daily_loss_limit_usd", "finite number"),
    (
        "settings",
        "execution:\n  entry_slippage_bps: .inf\n",
        ":2",
        "execution.entry_slippage_bps",
        "not a finite number",
    ),
    ("settings", 'features:\n  depth_bps: "1e999"\n', "", "features.depth_bps", "finite number"),
    ("settings", "recorder:\n  retry_max_s: -.inf\n", ":2", "recorder.retry_max_s", "not a finite number"),
    (
        "triggers",
        "rules:\n  squeeze_up:\n    side: long\n    when_all: [{funding_bps_lt: .inf}]\n",
        ":4",
        "rule 'squeeze_up': when_all[0].funding_bps_lt",
        "not a finite number",
    ),
    (
        "prefect",
        "deployments:\n" + DEPLOYMENT + "    schedules: [{interval: .inf}]\n",
        ":4",
        "deployments[0].schedules[0].interval",
        "not a finite number",
    ),
]

EMPTY_RULES = [
    ("triggers", "rules: {}\n", "", "'rules' is empty", "allow_empty: true"),
    ("triggers", "max_active_triggers: 3\nrules:\n", "", "'rules' is empty", "allow_empty: true"),
    ("triggers", "allow_empty: yes\nrules: {}\n", "", "'allow_empty' must be true or false", "'yes'"),
]


@pytest.mark.parametrize("loader, content, line, key, reason", NOT_UTF8 + DUPLICATES + NON_FINITE + EMPTY_RULES)
def test_each_loader_refuses_a_bad_file_naming_file_line_key_and_reason(tmp_path, loader, content, line, key, reason):
    load, error = LOADERS[loader]
    p = write(tmp_path / f"{loader}.yaml", content)
    with pytest.raises(error) as e:
        load(p)
    msg = str(e.value)
    assert f"{p}{line}: " in msg and key in msg and reason in msg, msg


def test_the_duplicate_key_is_reported_where_it_is_written_twice_even_deep_in_a_list(tmp_path):
    p = write(
        tmp_path / "prefect.yaml",
        "deployments:\n" + DEPLOYMENT + "    schedules:\n      - {interval: 60, timezone: UTC, timezone: CET}\n",
    )
    with pytest.raises(
        ConfigError,
        match=r":5: deployments\[0\]\.schedules\[0\]\.timezone: "
        r"duplicate key 'timezone' \(first at line 5\)",
    ):
        read_deployments(p)


def test_a_merge_key_may_be_overridden_without_being_a_duplicate(tmp_path):
    p = write(tmp_path / "settings.yaml", "metrics:\n  <<: {hotpath_port: 0, host: 127.0.0.1}\n  hotpath_port: 9200\n")
    assert load_settings(p).metrics.hotpath_port == 9200


def test_a_risk_limit_built_in_code_is_refused_when_not_finite():
    with pytest.raises(ValueError, match="finite number"):
        RiskConfig.model_validate({"breakers": {"drawdown": {"max_drawdown_pct": float("inf")}}})


def test_an_infinite_setting_from_the_environment_names_the_variable(tmp_path, monkeypatch):
    p = write(tmp_path / "settings.yaml", "mode: demo\n")
    monkeypatch.setenv("TRIPWIRE_EXECUTION__ACCOUNT_REFRESH_S", "inf")
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    assert "environment variable TRIPWIRE_EXECUTION__ACCOUNT_REFRESH_S" in str(e.value)
    assert "execution.account_refresh_s" in str(e.value) and "finite number" in str(e.value)


def test_an_infinite_flows_setting_is_refused_by_its_section(tmp_path):
    p = write(tmp_path / "settings.yaml", "recorder:\n  retry_max_s: 'inf'\n")
    with pytest.raises(ConfigError, match=r"recorder\.retry_max_s: .*finite number"):
        recorder_config(load_settings(p), source=p)


def test_a_non_utf8_dotenv_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".env", b"TRIPWIRE_MODE=demo  # caf\xe9\n")
    with pytest.raises(ConfigError, match=r"^\.env:1: not UTF-8 text: byte 0xe9"):
        load_settings(SETTINGS_FILE)


def test_an_empty_rule_file_is_accepted_when_asked_for(tmp_path):
    p = write(tmp_path / "triggers.yaml", "allow_empty: true\nrules: {}\n")
    assert load_rules(p).rules == ()


# -- the simulator's files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, reason",
    [
        (b'{"version": 1, "sessions": {"a": {"accounts": {}}}, "sessions": {}}', "duplicate key 'sessions'"),
        (
            b'{"version": 1, "sessions": {"a": {"accounts": {"0xab": {"balance": "1"},\n'
            b' "0xab": {"balance": "1000000"}}}}}',
            "duplicate key '0xab'",
        ),
        (b'{"version": 1, "sessions": {"a": {"accounts": {"0xab": {"balance": NaN}}}}}', "NaN is not a number"),
        (
            b'{"version": 1, "sessions": {"a": {"accounts": {"0xab": {"balance": 1e999}}}}}',
            "1e999 is not a finite number",
        ),
        (b'{"version": 1,\n "sessions": {"caf\xe9": {}}}', ":2: not UTF-8 text: byte 0xe9"),
    ],
)
def test_a_bad_accounts_file_is_refused_naming_it(tmp_path, content, reason):
    p = write(tmp_path / "accounts.json", content)
    with pytest.raises(SessionFileError) as e:
        load_session(p, "a")
    assert str(e.value).startswith(str(p)) and reason in str(e.value)


def test_a_non_utf8_latency_file_is_refused_naming_the_line(tmp_path):
    p = write(tmp_path / "lat.txt", b"12\n15 # \xb5s\n")
    with pytest.raises(LatencySpecError, match=f"{p}:2: not UTF-8 text: byte 0xb5"):
        read_samples(p)


# -- at start, through the command line --------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, expect",
    [
        ("settings", b"mode: demo\ncoins: [BTC]  # \xff\n", "settings.yaml:2: coins: not UTF-8 text"),
        (
            "risk",
            b"limits:\n  max_open_positions: 2\n  max_open_positions: 9\n",
            "risk.yaml:3: limits.max_open_positions: duplicate key",
        ),
        (
            "risk",
            b"breakers:\n  drawdown: {max_drawdown_pct: .inf}\n",
            "risk.yaml:2: breakers.drawdown.max_drawdown_pct: '.inf' is not a finite number",
        ),
        ("triggers", b"rules: {}\n", "triggers.yaml: 'rules' is empty"),
    ],
)
def test_hotpath_run_stops_at_start_with_the_message(tmp_path, name, content, expect):
    files = {"settings": SETTINGS_FILE, "risk": RISK_FILE, "triggers": TRIGGERS_FILE}
    files[name] = write(tmp_path / f"{name}.yaml", content)
    # Addresses and metrics of this test's own, should the configuration be (wrongly) accepted.
    argv = [
        sys.executable,
        "-m",
        "tripwire.cli",
        "hotpath",
        "run",
        "--config",
        str(files["settings"]),
        "--triggers",
        str(files["triggers"]),
        "--risk",
        str(files["risk"]),
        "--metrics-port",
        "0",
        "--events",
        f"ipc://{tmp_path}/ev.sock",
        "--commands",
        f"ipc://{tmp_path}/cmd.sock",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIPWIRE_")}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert expect in done.stderr and "Traceback" not in done.stderr, done.stderr


# -- on reload ---------------------------------------------------------------------------------


@pytest.fixture
def reloadable(tmp_path):
    """A hot path whose rules come from a file of this test, and a command client to it."""
    rules = write(tmp_path / "triggers.yaml", "rules:\n  squeeze_up:\n" + RULE)
    hp = HotPath(load_settings(SETTINGS_FILE), RiskManager(load_risk_config(RISK_FILE)), triggers_path=rules)
    server = CommandServer(f"ipc://{tmp_path}/cmd.sock")
    hp.register_commands(server)
    client = CommandClient(f"ipc://{tmp_path}/cmd.sock", timeout_s=5.0)
    yield hp, server, client, rules
    client.close()
    server.close()


def call(server, client, cmd, args=None):
    """Serve the one request on this thread while the client waits (DEALER queues it)."""
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


@pytest.mark.parametrize(
    "content, expect",
    [
        (b"rules:\n  squeeze_up: # \xff\n" + RULE.encode(), ":2: rule 'squeeze_up': not UTF-8 text: byte 0xff"),
        (
            ("rules:\n  squeeze_up:\n" + RULE + "  squeeze_up:\n" + RULE).encode(),
            ":5: rule 'squeeze_up': duplicate key 'squeeze_up' (first at line 2)",
        ),
        (
            b"rules:\n  squeeze_up:\n    side: long\n    when_all: [{funding_bps_lt: .inf}]\n",
            ":4: rule 'squeeze_up': when_all[0].funding_bps_lt: '.inf' is not a finite number",
        ),
        (b"rules: {}\n", ": 'rules' is empty: no rule would ever fire"),
    ],
)
def test_reload_refuses_a_bad_file_with_the_message_and_keeps_the_old_rules(reloadable, tmp_path, content, expect):
    hp, server, client, _ = reloadable
    before = hp.pipeline.triggers.ruleset
    bad = write(tmp_path / "bad.yaml", content)
    with pytest.raises(CommandError) as e:
        call(server, client, "reload_triggers", {"path": str(bad)})
    # invalid_config is the API's 422 with the message; a handler error was its 502
    assert e.value.code == "invalid_config", e.value
    assert f"{bad}{expect}" in str(e.value)
    assert hp.pipeline.triggers.ruleset is before and before.names == ("squeeze_up",)


def test_reload_to_no_rules_works_when_asked_for(reloadable):
    hp, server, client, rules = reloadable
    write(rules, "allow_empty: true\nrules: {}\n")
    assert call(server, client, "reload_triggers")["rules"] == []
    assert hp.pipeline.triggers.ruleset.names == ()
