"""Bus addresses: given, else configured, else ipc:// under the run directory."""

import pytest

from tripwire.bus import BusAddressError, configured_address, configured_addresses
from tripwire.config.settings import BusSettings


def test_a_given_address_wins_over_settings_and_the_default(tmp_path):
    bus = BusSettings(run_dir=tmp_path, events="tcp://127.0.0.1:5555")
    assert configured_address(bus, "events", "tcp://127.0.0.1:6666") == "tcp://127.0.0.1:6666"
    assert configured_address(bus, "events") == "tcp://127.0.0.1:5555"


def test_an_unset_address_is_an_ipc_socket_under_the_run_dir(tmp_path):
    bus = BusSettings(run_dir=tmp_path / "run", commands="tcp://127.0.0.1:5556")
    a = configured_addresses(bus)
    assert a.events == f"ipc://{tmp_path / 'run' / 'events.sock'}"
    assert a.commands == "tcp://127.0.0.1:5556"
    assert (tmp_path / "run").is_dir()


def test_another_run_dir_can_be_given(tmp_path):
    bus = BusSettings(run_dir=tmp_path / "unused")
    a = configured_addresses(bus, run_dir=tmp_path / "other")
    assert a.commands == f"ipc://{tmp_path / 'other' / 'commands.sock'}"


def test_a_default_socket_path_too_long_for_linux_is_refused_by_name(tmp_path):
    bus = BusSettings(run_dir=tmp_path / ("d" * 120))
    with pytest.raises(BusAddressError, match="choose a shorter run directory or tcp://"):
        configured_address(bus, "events")
    assert configured_address(bus, "events", "tcp://127.0.0.1:5555") == "tcp://127.0.0.1:5555"
