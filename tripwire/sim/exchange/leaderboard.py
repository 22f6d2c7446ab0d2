"""The leaderboard of the simulator's accounts, in the shape of Hyperliquid's stats server.

``GET /leaderboard`` answers what ``https://stats-data.hyperliquid.xyz/Mainnet/leaderboard``
answers (values as strings, ROI a fraction)::

    {"leaderboardRows": [{"ethAddress", "accountValue", "windowPerformances":
        [["day", {"pnl", "roi", "vlm"}], ["week", …], ["month", …], ["allTime", …]],
        "prize", "displayName"}]}

Every number is derived from the account's own state, so a row agrees with what
``clearinghouseState`` and ``userFills`` say about the same account:

* ``accountValue`` is ``clearinghouseState.marginSummary.accountValue`` at the same moment;
* a window's ``pnl`` is the change of (account value − net deposits) since the window began:
  deposits are not profit. Before the account's first sample it had value 0 and no deposits,
  so a window longer than the account's life (and ``allTime``) gives value − net deposits;
* ``roi`` is that PnL over the capital the window started with plus what was deposited during
  it (0 when that is not positive);
* ``vlm`` is the notional (px × sz) of the account's fills inside the window.

The window's starting point comes from :class:`EquityHistory`, sampled once a minute of market
time (the engine's ``advance``); the exchange's own PnL history is finer, so a window edge here
is good to a minute. Hyperliquid does not document how it computes ``roi``; this is our rule.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tripwire.sim.exchange.wire import ZERO, fmt, fmt_usd

if TYPE_CHECKING:
    from tripwire.sim.exchange.accounts import Account

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# (window, length in ms; None: all time), in the order the stats server lists them
WINDOWS: tuple[tuple[str, int | None], ...] = (
    ("day", DAY_MS),
    ("week", 7 * DAY_MS),
    ("month", 30 * DAY_MS),
    ("allTime", None),
)
RECENT_SAMPLES = 25 * 60  # a minute apart: the last 25 hours
HOURLY_SAMPLES = 31 * 24  # an hour apart: the last 31 days
ROI_QUANTUM = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class Sample:
    time_ms: int
    value: Decimal  # account value at the marks of the moment
    net_deposits: Decimal


class EquityHistory:
    """Each account's value and net deposits over time: a sample a minute for the last 25 hours
    and one an hour for 31 days (bounded memory for any run length)."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[Sample]] = {}
        self._hourly: dict[str, deque[Sample]] = {}
        self._minute: int | None = None

    def observe(self, now_ms: int, accounts: dict[str, Account], marks: dict[str, Decimal]) -> None:
        """Sample every account once per minute of market time (the first call of a minute)."""
        minute = now_ms // MINUTE_MS
        if self._minute is not None and minute <= self._minute:
            return  # this minute is sampled; or the clock stepped back (a replay that ended)
        self._minute = minute
        for address, acct in accounts.items():
            s = Sample(now_ms, acct.account_value(marks), acct.net_deposits)
            self._recent.setdefault(address, deque(maxlen=RECENT_SAMPLES)).append(s)
            hourly = self._hourly.setdefault(address, deque(maxlen=HOURLY_SAMPLES))
            if not hourly or hourly[-1].time_ms // HOUR_MS != now_ms // HOUR_MS:
                hourly.append(s)

    def forget(self, address: str) -> None:
        self._recent.pop(address, None)
        self._hourly.pop(address, None)

    def at(self, address: str, time_ms: int) -> Sample | None:
        """The latest sample at or before ``time_ms`` (None: the account had none then)."""
        for samples in (self._recent.get(address), self._hourly.get(address)):
            if samples and samples[0].time_ms <= time_ms:
                found = None
                for s in samples:  # ≤ 1,500 samples, asked once per window per leaderboard row
                    if s.time_ms > time_ms:
                        break
                    found = s
                return found
        return None  # before the account's first sample: it had no value and no deposits yet


def window_performance(
    acct: Account, value: Decimal, start: Sample | None, fills_since_ms: int | None
) -> dict[str, str]:
    """``{"pnl", "roi", "vlm"}`` of one window (see the module doc for the rules)."""
    v0, d0 = (start.value, start.net_deposits) if start is not None else (ZERO, ZERO)
    pnl = (value - acct.net_deposits) - (v0 - d0)
    capital = v0 + (acct.net_deposits - d0)
    roi = (pnl / capital).quantize(ROI_QUANTUM) if capital > 0 else ZERO
    vlm = sum(
        (
            Decimal(f["px"]) * Decimal(f["sz"])
            for f in acct.fills
            if fills_since_ms is None or f["time"] > fills_since_ms
        ),
        ZERO,
    )
    return {"pnl": fmt_usd(pnl), "roi": fmt(roi), "vlm": fmt_usd(vlm)}


def leaderboard(
    accounts: dict[str, Account],
    marks: dict[str, Decimal],
    history: EquityHistory,
    now_ms: int,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ``/leaderboard`` answer for every account, largest account value first."""
    names = names or {}
    rows = []
    for address, acct in accounts.items():
        value = acct.account_value(marks)
        perf = [
            [
                window,
                window_performance(
                    acct,
                    value,
                    history.at(address, now_ms - span) if span is not None else None,
                    now_ms - span if span is not None else None,
                ),
            ]
            for window, span in WINDOWS
        ]
        rows.append(
            (
                value,
                {
                    "ethAddress": address,
                    "accountValue": fmt_usd(value),
                    "windowPerformances": perf,
                    "prize": 0,
                    "displayName": names.get(address),
                },
            )
        )
    rows.sort(key=lambda r: (-r[0], r[1]["ethAddress"]))
    return {"leaderboardRows": [row for _value, row in rows]}
