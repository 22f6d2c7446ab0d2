import asyncio
import copy
import time

import orjson
import pytest
import uvloop
import zmq

from tests.bus.conftest import ServerThread
from tripwire.bus import (
    AsyncCommandClient,
    CommandClient,
    CommandError,
    CommandRefused,
    CommandServer,
    CommandTimeout,
    default_addresses,
)
from tripwire.contracts.events import CommandErrorCode, Decision


class FakeHotPath:
    """Just enough hot-path state to see whether a command changed anything."""

    def __init__(self):
        self.state = {"paused": False, "features": {}, "decisions": [], "open_triggers": {"t1"}, "reloads": 0}

    def register(self, server: CommandServer) -> None:
        server.register(
            "status", lambda a: {"paused": self.state["paused"], "open_triggers": self.state["open_triggers"]}
        )
        server.register("pause", self.pause)
        server.register("resume", lambda a: self.state.update(paused=False))
        server.register("set_feature", self.set_feature)
        server.register("apply_decision", self.apply_decision)
        server.register("reload_triggers", self.reload_triggers)

    def pause(self, args):
        self.state["paused"] = True
        return {"reason": args.reason}

    def set_feature(self, args):
        self.state["features"][(args.coin, args.name)] = args.value
        return None

    def apply_decision(self, d: Decision):
        if d.trigger_id not in self.state["open_triggers"]:
            raise CommandRefused("stale_decision", f"trigger {d.trigger_id!r} is already closed")
        self.state["decisions"].append(d)
        return {"trigger_id": d.trigger_id, "kind": d.kind}

    def reload_triggers(self, args):
        raise RuntimeError(f"cannot read {args.path}")


@pytest.fixture(params=["ipc", "tcp"])
def served(request, run_dir):
    address = default_addresses(run_dir).commands if request.param == "ipc" else "tcp://127.0.0.1:*"
    hot = FakeHotPath()
    server = CommandServer(address)
    hot.register(server)
    with ServerThread(server), CommandClient(server.endpoint) as client:
        yield hot, client


DECISION = {
    "trigger_id": "t1",
    "go": True,
    "sA": 0.4,
    "confA": 0.8,
    "prob_cont": 0.6,
    "tp_atr": 2.0,
    "sl_atr": 1.0,
    "source": "llm",
}


def test_a_valid_command_returns_its_handlers_result(served):
    hot, client = served
    assert client.call("pause", {"reason": "maintenance"}) == {"reason": "maintenance"}
    assert client.call("status") == {"paused": True, "open_triggers": ["t1"]}
    assert client.call("resume") is None and hot.state["paused"] is False


def test_apply_decision_hands_the_handler_a_validated_decision(served):
    hot, client = served
    assert client.call("apply_decision", Decision(**DECISION)) == {"trigger_id": "t1", "kind": "adjust"}
    assert hot.state["decisions"] == [Decision(**DECISION)]


@pytest.mark.parametrize(
    "cmd, args, code",
    [
        ("launch_rockets", {}, CommandErrorCode.UNKNOWN_COMMAND),
        ("set_feature", {"coin": "BTC", "name": "sm_bias", "value": "very long"}, CommandErrorCode.INVALID_ARGS),
        ("set_feature", {"coin": "BTC", "name": "sm_bias", "value": 0.3, "typo": 1}, CommandErrorCode.INVALID_ARGS),
        ("apply_decision", {**DECISION, "sl_atr": 0.5}, CommandErrorCode.INVALID_ARGS),
        ("apply_decision", {**DECISION, "trigger_id": "gone"}, "stale_decision"),
        ("pause", {"reason": "x" * 501}, CommandErrorCode.INVALID_ARGS),
        ("reload_triggers", {"path": "config/nope.yaml"}, CommandErrorCode.HANDLER_ERROR),
    ],
)
def test_a_refused_command_gets_a_clear_error_and_changes_nothing(served, cmd, args, code):
    hot, client = served
    before = copy.deepcopy(hot.state)
    with pytest.raises(CommandError) as e:
        client.call(cmd, args)
    assert e.value.code == code and e.value.message
    assert hot.state == before


def test_errors_name_what_was_wrong(served):
    _, client = served
    with pytest.raises(CommandError, match="args.sl_atr"):
        client.call("apply_decision", {**DECISION, "sl_atr": 0.5})
    with pytest.raises(CommandError, match="'launch_rockets'.*known: apply_decision"):
        client.call("launch_rockets")
    with pytest.raises(CommandError, match="RuntimeError: cannot read config/nope.yaml"):
        client.call("reload_triggers", {"path": "config/nope.yaml"})


def test_the_server_keeps_answering_after_a_handler_raises(served):
    _, client = served
    with pytest.raises(CommandError):
        client.call("reload_triggers", {})
    assert client.call("status")["paused"] is False


def raw_call(address: str, body: bytes) -> dict:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    try:
        sock.send(body)
        assert sock.poll(5000), "no reply"
        return orjson.loads(sock.recv())
    finally:
        sock.close()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2, 3]",
        b'{"id": "r1"}',
        b'{"id": "r1", "cmd": "pause", "args": [1]}',
    ],
)
def test_a_malformed_request_gets_a_bad_request_reply(served, body):
    hot, client = served
    before = copy.deepcopy(hot.state)
    reply = raw_call(client.address, body)
    assert reply["ok"] is False and reply["error"]["code"] == CommandErrorCode.BAD_REQUEST
    assert reply["id"] in ("", "r1")
    assert hot.state == before


def test_a_request_read_after_its_deadline_is_refused_not_applied(served):
    hot, client = served
    body = orjson.dumps({"id": "late", "cmd": "pause", "args": {}, "expires_at_ns": time.time_ns() - 5_000_000_000})
    reply = raw_call(client.address, body)
    assert reply == {"id": "late", "ok": False, "error": {"code": "expired", "message": reply["error"]["message"]}}
    assert hot.state["paused"] is False


def test_a_req_socket_is_answered_too(served):
    _, client = served
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(client.address)
    try:
        sock.send(orjson.dumps({"id": "q", "cmd": "status"}))
        assert sock.poll(5000)
        assert orjson.loads(sock.recv())["ok"] is True
    finally:
        sock.close()


def test_a_call_with_no_server_times_out_and_the_next_call_works_once_one_is_up(run_dir):
    address = default_addresses(run_dir).commands
    hot = FakeHotPath()
    with CommandClient(address, timeout_s=0.2) as client:
        with pytest.raises(CommandTimeout, match="not sent"):
            client.call("pause", {"reason": "nobody home"})
        server = CommandServer(address)
        hot.register(server)
        with ServerThread(server):
            assert client.call("status", timeout_s=5.0)["paused"] is False
    assert hot.state["paused"] is False  # the timed-out pause was never delivered later


def test_a_call_whose_reply_never_comes_times_out_and_the_client_recovers(run_dir):
    address = default_addresses(run_dir).commands
    server = CommandServer(address)  # bound but not serving: requests are read by nobody
    try:
        with CommandClient(address) as client:
            with pytest.raises(CommandTimeout, match="may or may not"):
                client.call("status", timeout_s=0.2)
            hot = FakeHotPath()
            hot.register(server)
            with ServerThread(server):
                assert client.call("status", timeout_s=5.0)["paused"] is False
    finally:
        server.close()


def test_handle_pending_never_blocks_when_nothing_is_waiting(run_dir):
    with CommandServer(default_addresses(run_dir).commands) as server:
        assert server.handle_pending(16) == 0


# -- asyncio: the hot path's way of serving ---------------------------------------------------


def test_the_server_serves_inside_an_asyncio_loop_alongside_other_work(run_dir):
    address = default_addresses(run_dir).commands
    hot = FakeHotPath()

    async def flatten(args):  # handlers may be async when served by serve()
        await asyncio.sleep(0)
        return {"flattened": args.coin or "all"}

    async def main():
        ticks = 0

        async def market_loop():  # stands in for the hot path's tick processing
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        with CommandServer(address) as server:
            hot.register(server)
            server.register("flatten", flatten)
            tasks = [asyncio.create_task(server.serve()), asyncio.create_task(market_loop())]
            client = AsyncCommandClient(address)
            try:
                paused = await client.call("pause", {"reason": "async"})
                flat = await client.call("flatten", {"coin": "BTC"})
                with pytest.raises(CommandError) as e:
                    await client.call("set_feature", {"coin": "BTC", "name": "Bad Name", "value": 1})
                results = await asyncio.gather(*(client.call("status") for _ in range(5)))
            finally:
                client.close()
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return paused, flat, e.value.code, results, ticks

    paused, flat, code, results, ticks = uvloop.run(main())
    assert paused == {"reason": "async"} and flat == {"flattened": "BTC"}
    assert code == CommandErrorCode.INVALID_ARGS and hot.state["features"] == {}
    assert all(r["paused"] is True for r in results)
    assert ticks > 0


def test_an_async_handler_is_refused_when_polled_synchronously(run_dir):
    address = default_addresses(run_dir).commands

    async def flatten(args):
        return "done"

    server = CommandServer(address)
    server.register("flatten", flatten)
    with ServerThread(server), CommandClient(address) as client, pytest.raises(CommandError, match="serve"):
        client.call("flatten")


def test_the_async_client_times_out_then_recovers(run_dir):
    address = default_addresses(run_dir).commands
    hot = FakeHotPath()

    async def main():
        client = AsyncCommandClient(address, timeout_s=0.2)
        try:
            with pytest.raises(CommandTimeout):
                await client.call("pause")
            with CommandServer(address) as server:
                hot.register(server)
                task = asyncio.create_task(server.serve())
                try:
                    return await client.call("status", timeout_s=5.0)
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
        finally:
            client.close()

    assert asyncio.run(main())["paused"] is False
    assert hot.state["paused"] is False
