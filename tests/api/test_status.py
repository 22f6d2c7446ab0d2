"""/status, /ready and the hot path being down: a clear 503, never a hang."""

from __future__ import annotations

import zmq

from tests.api.conftest import make_settings, serve, short_dir
from tripwire.api.routers.status import status_from_reply


def test_status_reports_the_hot_paths_live_state(stack):
    st = stack.read.get("/status").json()
    assert st["mode"] == "demo" and st["trading_state"] == "ACTIVE" and st["breakers"] == {}
    assert st["coins"]["BTC"]["mid"] > 40_000 and st["coins"]["BTC"]["book_problem"] is None
    assert st["last_tick_age_s"] is not None and st["hotpath"]["messages"]["l2Book"] == 5587


def test_status_finds_orders_positions_and_connection_in_the_execution_layers_reply():
    reply = {
        "mode": "testnet",
        "risk": {
            "state": "HALTED",
            "paused_by": None,
            "breakers": {"latency": {"action": "halt", "detail": "p99 900 ms"}},
        },
        "connection": {"state": "connected", "reconnects": 2},
        "execution": {"open_orders": [{"leg": "sl", "coin": "BTC"}], "account": {"positions": {"BTC": {"szi": 0.01}}}},
    }
    st = status_from_reply(reply)
    assert st.trading_state == "HALTED" and st.breakers["latency"]["action"] == "halt"
    assert st.connection == {"state": "connected", "reconnects": 2}
    assert st.open_orders == [{"leg": "sl", "coin": "BTC"}]
    assert st.positions == {"BTC": {"szi": 0.01}}


def test_ready_checks_the_hot_path_and_the_store(stack):
    r = stack.read.get("/ready")
    assert r.status_code == 200 and r.json()["checks"]["hotpath"]["ok"]
    assert r.json()["checks"]["store"]["ok"]


def test_hot_path_not_running_is_a_503_that_says_so():
    run_dir = short_dir()
    api = serve(make_settings(run_dir))  # nothing binds the command socket
    try:
        with api.client("read") as c:
            r = c.get("/status")
            assert r.status_code == 503 and r.json()["code"] == "hotpath_unavailable"
            assert "not running" in r.json()["detail"] and "cmd.sock" in r.json()["detail"]
            assert r.headers["retry-after"]
            ready = c.get("/ready")
            assert ready.status_code == 503 and not ready.json()["ready"]
            assert "not running" in ready.json()["checks"]["hotpath"]["detail"]
    finally:
        api.stop()


def test_hot_path_that_never_answers_is_a_503_after_the_timeout():
    run_dir = short_dir()
    mute = zmq.Context.instance().socket(zmq.ROUTER)  # bound, reads nothing, answers nothing
    mute.bind(f"ipc://{run_dir}/cmd.sock")
    api = serve(make_settings(run_dir, hotpath_timeout_s=0.3))
    try:
        with api.client("trade") as c:
            r = c.post("/commands/pause", json={"reason": "x"})
            assert r.status_code == 503
            assert "did not answer 'pause'" in r.json()["detail"] and "0.3 s" in r.json()["detail"]
            assert c.get("/status").status_code == 503  # the next call is not stuck behind it
    finally:
        api.stop()
        mute.close(linger=0)
