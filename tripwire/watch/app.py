"""The Textual app: panels over a :class:`WatchState`, fed by two workers (the event stream and
an API poll), and keys that go through the API's command routes (hence the hot path's risk
checks). A read key sees the controls disabled, with the reason."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static

from tripwire.watch.client import ApiClient, ApiFailure, EventStream, Identity
from tripwire.watch.state import FEATURE_COLUMNS, WatchState

HELP = """\
q quit · p pause/resume · f flatten (confirm) · k cancel all orders (confirm)
r reset the simulator session · ctrl+s save it (demo/sim only)
1-9 focus a coin (again: all coins) · / filter triggers and trades · ? this help"""

SIM_MODES = ("demo", "sim")  # where a simulator session exists (the API's /sim routes)
READ_ONLY = "read-only key: controls need a key with the 'trade' scope"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.1f}ms"


def _num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    try:
        return f"{float(v):,.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


class Confirm(ModalScreen[bool]):
    """Yes / no before a command that changes positions or orders."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label(self.question, id="question")
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class WatchApp(App[None]):
    TITLE = "tripwire watch"
    AUTO_FOCUS = None  # keys go to the app's bindings; only `/` focuses the filter box
    CSS = """
    Grid#panels { grid-size: 4 3; grid-rows: 1fr 1fr 1fr; }
    .panel { border: round $accent; height: 100%; }
    #coins, #triggers, #positions, #orders { column-span: 2; }
    #status { dock: bottom; height: 3; background: $panel; }
    #filter { dock: bottom; display: none; }
    #filter.shown { display: block; }
    #confirm { width: 60; height: auto; border: thick $error; background: $surface; padding: 1 2; }
    Confirm { align: center middle; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("p", "pause", "pause/resume"),
        Binding("f", "flatten", "flatten"),
        Binding("k", "cancel_all", "cancel all"),
        Binding("r", "reset_session", "reset sim"),
        Binding("ctrl+s", "save_session", "save sim"),
        Binding("slash", "filter", "filter"),
        Binding("question_mark", "help", "help"),
        *(Binding(str(i), f"focus_coin({i})", show=False) for i in range(1, 10)),
    ]

    def __init__(self, api: ApiClient, events_address: str, *, poll_s: float = 1.0) -> None:
        super().__init__()
        self.api, self.events_address, self.poll_s = api, events_address, poll_s
        self.state = WatchState()
        self.identity: Identity | None = None
        self.focus_coin: str | None = None
        self.text_filter = ""
        self.last_message = ""

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Grid(id="panels"):
            yield DataTable(id="coins", classes="panel")
            yield Static(id="risk", classes="panel")
            yield DataTable(id="closed", classes="panel")
            yield DataTable(id="triggers", classes="panel")
            yield DataTable(id="positions", classes="panel")
            yield DataTable(id="orders", classes="panel")
            yield Static(id="book", classes="panel")
            yield DataTable(id="trades", classes="panel")
        yield Input(placeholder="filter (rule, coin, trigger id); enter to apply", id="filter")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        titles = {
            "coins": "coins",
            "book": "order book",
            "triggers": "triggers",
            "positions": "positions",
            "orders": "open orders",
            "trades": "trades",
            "closed": "closed trades",
            "risk": "risk",
        }
        for wid, title in titles.items():
            self.query_one(f"#{wid}").border_title = title
        self._columns("coins", "#", "coin", *(label for _, label in FEATURE_COLUMNS))
        self._columns("triggers", "time", "rule", "coin", "side", "verdict", "source")
        self._columns("positions", "coin", "size", "entry", "mark", "uPnL", "TP", "SL")
        self._columns("orders", "coin", "leg", "side", "px", "trigger", "size", "state")
        self._columns("trades", "coin", "side", "px", "size")
        self._columns("closed", "trigger", "PnL", "fees", "fills")
        self.listen_events()
        self.poll_api()
        self.set_interval(0.5, self.refresh_panels)

    def _columns(self, wid: str, *names: str) -> None:
        table = self.query_one(f"#{wid}", DataTable)
        table.add_columns(*names)
        table.cursor_type = "none"

    # -- feeds ----------------------------------------------------------------------------------

    @work(exclusive=True, group="events")
    async def listen_events(self) -> None:
        stream = EventStream(self.events_address)
        ch = self.state.events
        try:
            while True:
                got = await stream.recv(2000)
                if got is None:
                    ch.down(f"nothing for 2 s on {self.events_address}")
                    continue
                self.state.apply_event(got[0], got[1], time.time_ns())
                self.state.gaps = stream.gaps
        finally:
            stream.close()

    @work(exclusive=True, group="api")
    async def poll_api(self) -> None:
        history_loaded = False
        while True:
            try:
                if self.identity is None:
                    self.identity = await self.api.whoami()
                    self.refresh_bindings()
                mode = self.state.mode
                self.state.apply_status(await self.api.status(), time.time_ns())
                if self.state.mode != mode:  # the simulator's keys depend on it
                    self.refresh_bindings()
                if not history_loaded:
                    try:
                        self.state.apply_triggers(await self.api.triggers())
                    except ApiFailure:
                        pass  # no store attached: history starts with what we see fire
                    history_loaded = True
            except ApiFailure as e:
                self.state.api.down(str(e))
            await asyncio.sleep(self.poll_s)

    # -- drawing --------------------------------------------------------------------------------

    def refresh_panels(self) -> None:
        s, now = self.state, time.time_ns()
        coins = self.query_one("#coins", DataTable)
        coins.clear()
        for i, coin in enumerate(s.coins, 1):
            f = s.features.get(coin) or {}
            mark = "▶" if coin == self.focus_coin else str(i)
            coins.add_row(
                mark, coin, *(_num(f.get(name), 4 if name == "book_imbalance" else 2) for name, _ in FEATURE_COLUMNS)
            )
        shown = [self.focus_coin] if self.focus_coin else s.coins
        self.query_one("#book", Static).update(self._book(shown[0] if shown else None))
        trig = self.query_one("#triggers", DataTable)
        trig.clear()
        for r in s.trigger_rows(self.focus_coin, self.text_filter)[:50]:
            t = time.strftime("%H:%M:%S", time.gmtime(r.fired_ns / 1e9)) if r.fired_ns else "-"
            trig.add_row(t, r.rule, r.coin, r.side, r.verdict or "pending", r.source or "-")
        pos = self.query_one("#positions", DataTable)
        pos.clear()
        for coin, p in s.positions.items():
            if self.focus_coin and coin != self.focus_coin:
                continue
            legs = s.legs_of(coin)
            pos.add_row(
                coin,
                _num(p.get("szi"), 5),
                _num(p.get("entry_px")),
                _num(s.mark(coin)),
                _num(s.unrealized(coin)),
                _num(legs.get("tp")),
                _num(legs.get("sl")),
            )
        orders = self.query_one("#orders", DataTable)
        orders.clear()
        for o in s.open_orders:
            if not self.focus_coin or o.get("coin") == self.focus_coin:
                orders.add_row(
                    o.get("coin"),
                    o.get("leg"),
                    o.get("side"),
                    _num(o.get("px")),
                    _num(o.get("trigger_px")),
                    _num(o.get("sz"), 5),
                    o.get("state"),
                )
        trades = self.query_one("#trades", DataTable)
        trades.clear()
        for tr in list(s.trades)[:30]:
            if (not self.focus_coin or tr.get("coin") == self.focus_coin) and (
                not self.text_filter or self.text_filter.lower() in str(tr.get("coin", "")).lower()
            ):
                side = "buy" if tr.get("side") == "B" else "sell"
                trades.add_row(tr.get("coin"), side, _num(tr.get("px")), _num(tr.get("sz"), 5))
        closed = self.query_one("#closed", DataTable)
        closed.clear()
        for tid, c in s.closed.items():
            closed.add_row(tid, _num(c.get("pnl"), 4), _num(c.get("fees"), 4), str(c.get("fills")))
        self.query_one("#risk", Static).update(self._risk(now))
        self.query_one("#status", Static).update(self._status(now))

    def _book(self, coin: str | None) -> Text:
        book = self.state.books.get(coin or "") if coin else None
        out = Text()
        if not book:
            return Text("no book yet")
        asks, bids = (book.get("asks") or [])[:6], (book.get("bids") or [])[:6]
        biggest = max([float(s) for _, s in asks + bids] or [1.0])
        for px, sz in reversed(asks):
            out.append(f"{float(px):>12,.2f} {float(sz):>9.4f} ", "red")
            out.append("█" * max(1, int(14 * float(sz) / biggest)) + "\n", "red")
        out.append(f"{coin} mid {_num(book.get('mid'))}\n", "bold")
        for px, sz in bids:
            out.append(f"{float(px):>12,.2f} {float(sz):>9.4f} ", "green")
            out.append("█" * max(1, int(14 * float(sz) / biggest)) + "\n", "green")
        return out

    def _risk(self, now_ns: int) -> Text:
        s, r = self.state, self.state.risk
        out = Text()
        state = str(r.get("state", "?"))
        out.append(f"state {state}", "bold green" if state == "ACTIVE" else "bold red")
        if r.get("paused_by"):
            out.append(f" (paused by {r['paused_by']})")
        out.append(f"\nstale data {_num(r.get('stale_data'))}\n")
        breakers = r.get("breakers") or {}
        out.append("breakers: " + (", ".join(f"{n} → {b.get('action')}" for n, b in breakers.items()) or "none") + "\n")
        refusals = r.get("refusals") or {}
        out.append("refusals: " + (", ".join(f"{k} {v}" for k, v in refusals.items()) or "none") + "\n")
        for name, used, allowed in s.limit_use():
            share = used / allowed
            out.append(f"{name} {used:,.4g} / {allowed:,.4g} ")
            out.append("█" * min(10, round(10 * share)) + "░" * max(0, 10 - round(10 * share)), _use_style(share))
            out.append("\n")
        left = s.deadman_left_s(now_ns // 1_000_000)
        out.append(f"dead man's switch: {'off' if left is None else f'{left:,.0f} s'}\n")
        a = s.account
        out.append(
            f"realized {_num(a.get('realized_pnl'), 4)} · fees {_num(a.get('fees'), 4)} · day {_num(a.get('day_pnl'), 4)}"
        )
        return out

    def _status(self, now_ns: int) -> Text:
        s = self.state
        out = Text()
        for ch in (s.events, s.api):
            age = ch.age_s(now_ns)
            out.append(f"{ch.name} ", "bold")
            out.append("●" if ch.connected else "○", "green" if ch.connected else "red")
            out.append(f" {ch.rate(now_ns):.0f}/s last {'-' if age is None else f'{age:.1f}s'}  ")
        p50, p99 = s.tick_to_order_s
        out.append(f"feed {s.feed_state} · tick→order p50 {_ms(p50)} p99 {_ms(p99)} · gaps {s.gaps} · ")
        out.append(f"equity {_num(s.account.get('equity'))} · mode {s.mode}")
        who = self.identity
        out.append(f"\nkey {who.name} ({who.scope})" if who else "\nkey ?")
        refusal = self.control_refusal("flatten")
        if who is not None and refusal:
            out.append(f" · controls disabled: {refusal}", "yellow")
        if not (s.events.connected and s.api.connected):
            bad = s.api if not s.api.connected else s.events
            out.append(f"\n{bad.name}: {bad.detail}", "red")
        elif self.last_message:
            out.append(f"\n{self.last_message}")
        return out

    # -- controls -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Controls greyed out (None) for a read key, and the simulator's session keys outside
        demo/sim mode; Textual shows them disabled in the footer."""
        if action in ("pause", "flatten", "cancel_all", "reset_session", "save_session"):
            return True if self.control_refusal(action) is None else None
        return True

    def control_refusal(self, action: str) -> str | None:
        """Why a control is disabled, or None when it may be used."""
        if self.identity is None:
            return "not connected to the API yet"
        if not self.identity.may_trade:
            return READ_ONLY
        if action in ("reset_session", "save_session") and self.state.mode not in SIM_MODES:
            if self.state.mode == "?":
                return "the mode is not known yet (reset and save are for demo and sim)"
            return f"mode {self.state.mode}: no simulator session (reset and save are for demo and sim)"
        return None

    def _say(self, text: str, severity: str = "information") -> None:
        self.last_message = text
        self.notify(text, severity=severity)  # type: ignore[arg-type]

    async def _run_command(self, name: str, body: dict[str, Any] | None = None) -> None:
        try:
            result = await self.api.command(name, body)
            self._say(f"{name}: done {result.get('result') if isinstance(result, dict) else result}")
        except ApiFailure as e:
            self._say(f"{name}: {e}", "error")

    async def action_pause(self) -> None:
        paused = self.state.risk.get("paused_by") is not None
        await self._run_command("resume" if paused else "pause", None if paused else {"reason": "tripwire watch"})

    def _confirmed(self, name: str, question: str) -> None:
        body = {"coin": self.focus_coin} if self.focus_coin else None

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._run_command(name, body)
            else:
                self._say(f"{name}: not sent")

        self.push_screen(Confirm(question), answered)

    def action_flatten(self) -> None:
        what = self.focus_coin or "every coin"
        self._confirmed(
            "flatten", f"Flatten positions of {what}? Closing orders go through the hot path's risk checks."
        )

    def action_cancel_all(self) -> None:
        what = self.focus_coin or "every coin"
        self._confirmed("cancel_all", f"Cancel all open orders of {what}? Positions lose their TP/SL legs.")

    async def _run_sim(self, action: str) -> None:
        try:
            result = (await self.api.sim(action)).get("result", {})
            done = (
                f"session {result.get('session')!r} saved to {result.get('file')} ({result.get('accounts')} accounts)"
                if action == "save"
                else f"account {result.get('user')} reset to {result.get('balance')} USDC"
            )
            self._say(f"{action}: {done}")
        except ApiFailure as e:
            self._say(f"{action}: {e}", "error")

    def action_reset_session(self) -> None:
        if (why := self.control_refusal("reset_session")) is not None:
            self._say(f"reset: {why}", "warning")
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._run_sim("reset")
            else:
                self._say("reset: not sent")

        self.push_screen(
            Confirm(
                "Reset the simulator account to its starting deposit? Its positions and orders are "
                "gone (no closing trades)."
            ),
            answered,
        )

    async def action_save_session(self) -> None:
        if (why := self.control_refusal("save_session")) is not None:
            self._say(f"save: {why}", "warning")
            return
        await self._run_sim("save")

    def action_focus_coin(self, n: int) -> None:
        coins = self.state.coins
        if n <= len(coins):
            coin = coins[n - 1]
            self.focus_coin = None if self.focus_coin == coin else coin
            self.refresh_panels()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.text_filter = event.value
        event.input.remove_class("shown")
        self.set_focus(None)
        self.refresh_panels()

    def action_help(self) -> None:
        refusal = self.control_refusal("flatten")
        self.notify(HELP + (f"\ncontrols disabled: {refusal}" if refusal else ""), title="keys", timeout=10)

    async def on_unmount(self) -> None:
        await self.api.close()


def _use_style(share: float) -> str:
    """Green well inside a limit, yellow past three quarters, red at it."""
    return "red" if share >= 1.0 else "yellow" if share >= 0.75 else "green"
