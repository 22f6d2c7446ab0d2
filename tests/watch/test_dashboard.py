"""The dashboard driven by Textual's pilot against a running simulator + hot path + API."""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import KEYS
from tests.watch.conftest import System
from tripwire.watch.app import READ_ONLY, Confirm, WatchApp
from tripwire.watch.client import ApiClient

SIZE = (180, 48)


async def until(pilot, pred: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if pred():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def svg_text(svg: str) -> str:
    """The characters an SVG screenshot shows, lines joined (Textual writes spaces as &#160;)."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def app_for(system: System, scope: str) -> WatchApp:
    return WatchApp(ApiClient(system.api.url, KEYS[scope]), system.events, poll_s=0.3)


def test_a_trade_key_sees_triggers_fire_and_positions_open_then_flattens_behind_a_confirm(system, tmp_path):
    async def go() -> None:
        app = app_for(system, "trade")
        async with app.run_test(size=SIZE) as pilot:
            s = app.state
            await until(pilot, lambda: app.identity is not None and s.api.connected, "the API")
            assert app.identity.may_trade
            done = system.start_replay(300)
            await until(pilot, lambda: s.triggers and s.positions and s.books, "a trigger and a position", 90)
            await until(pilot, lambda: done(), "the replay's end", 90)
            # a trigger fired by hand, then decided by an operator: the verdict and its source show
            with system.client("trade") as http:
                fired = http.post("/triggers/manual", json={"rule": "squeeze_down", "coin": "BTC"})
                assert fired.status_code == 200, fired.text
                tid = fired.json()["trigger_id"]
                await until(pilot, lambda: tid in s.triggers, "the manual trigger's event")
                decided = http.post(
                    "/decisions",
                    json={
                        "trigger_id": tid,
                        "go": False,
                        "sA": -0.4,
                        "confA": 0.6,
                        "prob_cont": 0.3,
                        "reason": "test: operator says no",
                        "source": "operator",
                    },
                )
                assert decided.status_code == 200, decided.text
            await until(pilot, lambda: s.triggers[tid].verdict is not None, "the decision event")
            assert s.triggers[tid].source == "operator"
            await until(pilot, lambda: bool(s.positions), "the position in /status")
            await pilot.pause(0.6)  # a redraw
            svg = app.export_screenshot()
            shown = svg_text(svg)
            assert "squeeze_down" in shown and "operator" in shown, "the fired trigger, its verdict's source"
            assert "breakout_continuation" in shown, "the replay's triggers"
            assert "waitingForTrigger" in shown, "the position's resting TP/SL legs"
            coin = next(iter(s.positions))
            legs = s.legs_of(coin)
            assert legs.get("tp") and legs.get("sl"), "the position's TP/SL legs are shown"
            # TRIPWIRE_WATCH_SCREENSHOTS=docs regenerates the example in docs/WATCH.md
            out = Path(os.environ.get("TRIPWIRE_WATCH_SCREENSHOTS") or tmp_path)
            (out / "watch-trade-key.svg").write_text(svg)

            # cancel all, answered no: nothing sent, the orders stay
            orders_before = len(s.open_orders)
            await pilot.press("k")
            await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirm dialog")
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, Confirm), "the dialog to close")
            assert app.last_message == "cancel_all: not sent"
            await pilot.pause(1.0)
            assert len(s.open_orders) == orders_before > 0

            # flatten, answered yes: through the API and the hot path's risk checks; the position goes
            await pilot.press("f")
            await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirm dialog")
            await pilot.press("y")
            await until(pilot, lambda: app.last_message.startswith("flatten: done"), "flatten's answer")
            await until(pilot, lambda: not s.positions, "the position to close", 30)

    asyncio.run(go())


def test_a_read_key_sees_the_controls_disabled_with_the_reason(system):
    async def go() -> None:
        app = app_for(system, "read")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.identity is not None, "the API")
            assert not app.identity.may_trade
            assert app.control_refusal("flatten") == READ_ONLY
            assert app.check_action("flatten", ()) is None  # shown disabled in the footer
            await pilot.press("f")
            await pilot.press("k")
            await pilot.press("p")
            await pilot.pause(0.5)
            assert not isinstance(app.screen, Confirm)
            assert app.last_message == ""  # nothing was sent
            app.refresh_panels()
            svg = app.export_screenshot()
            assert f"controls disabled: {READ_ONLY}" in svg_text(svg)
            out = os.environ.get("TRIPWIRE_WATCH_SCREENSHOTS")
            if out:
                (Path(out) / "watch-read-key.svg").write_text(svg)

            # looking needs no scope: focus a coin, filter, help
            await until(pilot, lambda: bool(app.state.coins), "the coins")
            await pilot.press("1")
            assert app.focus_coin == app.state.coins[0]
            await pilot.press("1")
            assert app.focus_coin is None
            await pilot.press("slash")
            await pilot.press(*"squeeze", "enter")
            assert app.text_filter == "squeeze"
            assert all("squeeze" in r.rule for r in app.state.trigger_rows(None, app.text_filter))
            await pilot.press("question_mark")
            await pilot.press("q")

    asyncio.run(go())


def test_a_trade_key_saves_and_resets_the_simulator_session(system, tmp_path):
    from tripwire.sim.exchange.sessions import load_session

    sessions = tmp_path / "sessions.json"
    sim = system.rig.sim
    sim.call(lambda: setattr(sim.server, "session", (sessions, "watch")))  # as --accounts-file would

    async def go() -> None:
        app = app_for(system, "trade")
        async with app.run_test(size=SIZE) as pilot:
            s = app.state
            await until(pilot, lambda: app.identity is not None and s.mode in ("demo", "sim"), "the API and the mode")
            assert app.check_action("save_session", ()) is True and app.check_action("reset_session", ()) is True

            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.last_message.startswith("save:"), "save's answer")
            assert f"session 'watch' saved to {sessions}" in app.last_message, app.last_message
            assert load_session(sessions, "watch"), "the accounts are in the session file"

            # reset, answered no: nothing sent
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirm dialog")
            await pilot.press("n")
            await until(pilot, lambda: app.last_message == "reset: not sent", "the dialog to close")

            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, Confirm), "the confirm dialog")
            await pilot.press("y")
            await until(pilot, lambda: app.last_message.startswith("reset:"), "reset's answer")
            assert app.last_message.startswith("reset: account 0x"), app.last_message
            user = app.last_message.split()[2]
            fund = system.api.app.state.simulator.fund_usdc
            assert sim.call(lambda: sim.server.engine.accounts[user].balance) == fund
            assert not sim.call(lambda: sim.server.engine.accounts[user].positions)

    asyncio.run(go())


def test_outside_demo_and_sim_the_session_keys_are_disabled_with_the_reason():
    from tripwire.watch.client import Identity

    app = WatchApp(ApiClient("http://127.0.0.1:9", KEYS["trade"]), "ipc:///nowhere")
    app.identity = Identity("trade-key", "trade")
    app.state.mode = "live"
    why = "mode live: no simulator session (reset and save are for demo and sim)"
    assert app.control_refusal("reset_session") == app.control_refusal("save_session") == why
    assert app.check_action("reset_session", ()) is None and app.check_action("save_session", ()) is None
    assert app.check_action("flatten", ()) is True  # the other controls are the hot path's: any mode
    app.state.mode = "sim"
    assert app.check_action("save_session", ()) is True
    app.identity = Identity("read-key", "read")
    assert app.control_refusal("save_session") == READ_ONLY
