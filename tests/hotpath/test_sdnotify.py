"""sd_notify over a real AF_UNIX datagram socket, as systemd provides it."""

import os
import socket

import pytest

from tripwire.hotpath.sdnotify import Notifier, notify, socket_address

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX")


@pytest.fixture
def listener(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    yield path, s
    s.close()


def test_ready_and_watchdog_reach_a_path_socket(listener):
    path, s = listener
    n = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready(status="replaying BTC")
    assert s.recv(4096) == b"READY=1\nSTATUS=replaying BTC"
    assert n.watchdog()
    assert s.recv(4096) == b"WATCHDOG=1"
    assert n.stopping()
    assert s.recv(4096) == b"STOPPING=1"
    n.close()


def test_abstract_namespace_address_with_at_sign():
    name = f"tripwire-test-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(b"\0" + name.encode())
    except OSError as e:
        s.close()
        pytest.skip(f"abstract AF_UNIX sockets unavailable: {e}")
    s.settimeout(5)
    try:
        assert notify("READY=1", env={"NOTIFY_SOCKET": "@" + name})
        assert s.recv(4096) == b"READY=1"
    finally:
        s.close()


def test_no_notify_socket_is_a_silent_no_op():
    n = Notifier.from_env({})
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False
    assert notify("READY=1", env={}) is False


def test_a_missing_socket_is_reported_once_not_raised(tmp_path, caplog):
    n = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with caplog.at_level("WARNING", logger="tripwire.hotpath.sdnotify"):
        assert n.watchdog() is False
        assert n.watchdog() is False
    assert caplog.text.count("sd_notify to") == 1
    n.close()


def test_watchdog_interval_is_half_the_timeout_for_this_process_only():
    me = str(os.getpid())
    assert Notifier.from_env({"WATCHDOG_USEC": "10000000"}).watchdog_interval_s() == 5.0
    assert Notifier.from_env({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": me}).watchdog_interval_s() == 5.0
    assert Notifier.from_env({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}).watchdog_interval_s() is None
    assert Notifier.from_env({"WATCHDOG_USEC": "soon"}).watchdog_interval_s() is None
    assert Notifier.from_env({}).watchdog_interval_s() is None


def test_socket_address_forms():
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abc") == b"\0abc"
