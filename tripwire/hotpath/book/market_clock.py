"""One coin's exchange time, judged against the local receive time of each message.

Exchange times decide everything downstream (book order, feature windows, cooldowns), so one
wrong time must not be trusted blindly: a single book stamped an hour ahead used to make the
book refuse every later snapshot as out of order, and a simulator looping its recording (time
moves back at each wrap) froze the book for minutes — silently, while trading stayed ACTIVE.

:class:`MarketClock` tells the caller, per timed message, which of three things it is:

* ``SANE``: on the coin's current timeline. Forward by no more than the local time elapsed
  since the newest message plus ``max_ahead_ms`` (a replay runs ahead of the wall clock, so
  the bound is loose), or backward by no more than ``max_behind_ms`` (a late trade, a book
  from a moment ago: the book still refuses it as out of order).
* ``TIME_JUMP``: neither. It is held as the *candidate* of a new timeline and not applied.
  The next message decides: if it continues the old timeline the candidate was a lone bad
  stamp and is forgotten; if it continues the candidate's, the clock really moved.
* ``NEW_TIMELINE``: the clock moved. The caller restarts everything keyed on the old times
  (book, features) and applies the held candidate (when :attr:`MarketClock.from_candidate`)
  and this message on the new timeline. A message whose time agrees with the wall clock
  (when the receive clock's offset to it is known) starts a new timeline at once: it is the
  old timeline that was off, as when a simulator's fast replay ends and its clock returns to
  the wall clock.

Judging against *local* elapsed time keeps this right under a paced or as-fast-as-possible
replay: a reconnect after a 10-minute outage is a 10-minute gap in both clocks.

The same clock measures the feed's lag without trusting absolute clocks: the receive delay
(local receive ms − exchange ms) has an unknown constant part (clock offsets, a rebased
replay); its running minimum is that constant plus the best network path, so the delay above
it is how far the hot path is behind the exchange. The minimum rises slowly
(:data:`LAG_BASELINE_RISE`), so one low sample (a stamp a little ahead) cannot read as lag
forever. A replay faster than real time only lowers the delay, so it never reads as lag; one
slower than real time (speed < 1) does.

Pure: times are passed in; the receive clock must be monotonic (the feed's).
"""

from __future__ import annotations

SANE = ""
TIME_JUMP = "time_jump"
NEW_TIMELINE = "new_timeline"

# Exchange time running ahead of local time by more than this is implausible. A minute leaves
# room for a replay at any speed over the ~1 s gaps of a real feed, and is far below the
# "+1 h" class of bad stamps.
MAX_AHEAD_MS = 60_000
# Further back than this is a clock that moved, not a late message. A late trade or a book
# from before a reconnect is seconds old at most.
MAX_BEHIND_MS = 10_000
# An exchange time this close to the wall clock at receipt is the real exchange's: latency and
# clock error are well under a second live (a backlog worth seconds has its own breaker). Kept
# well inside MAX_BEHIND_MS, so a late message on a timeline that follows the wall clock never
# passes for a new timeline.
WALL_SKEW_MS = 2_000
# How fast the lag baseline may rise, in ms per ms of local time: 10 ms a second. A backlog
# grows far faster (a hot path 20 % short of its feed rate falls ~200 ms behind a second), and
# a baseline set by one early sample is forgotten within minutes.
LAG_BASELINE_RISE = 0.01
_RISE_PER_NS = LAG_BASELINE_RISE * 1e-6


class MarketClock:
    __slots__ = (
        "wall_offset_ns",
        "max_ahead_ms",
        "max_behind_ms",
        "exch_ms",
        "recv_ns",
        "candidate_exch_ms",
        "candidate_recv_ns",
        "from_candidate",
        "lag_ms",
        "_baseline_ms",
        "_baseline_recv_ns",
    )

    def __init__(
        self,
        wall_offset_ns: int | None = None,
        max_ahead_ms: int = MAX_AHEAD_MS,
        max_behind_ms: int = MAX_BEHIND_MS,
    ) -> None:
        """``wall_offset_ns``: wall clock minus receive clock (None: unknown, as in a replay
        fed by hand or a backtest, whose receive times are made up)."""
        self.wall_offset_ns = wall_offset_ns
        self.max_ahead_ms = max_ahead_ms
        self.max_behind_ms = max_behind_ms
        self.exch_ms = 0  # newest exchange time on the current timeline (0: none yet)
        self.recv_ns = 0  # when it was received
        self.candidate_exch_ms = 0  # a jump waiting for the next message to decide (0: none)
        self.candidate_recv_ns = 0
        self.from_candidate = False  # the last NEW_TIMELINE began at the candidate
        self.lag_ms = 0.0  # the last measured lag (see measure_lag)
        self._baseline_ms: float | None = None
        self._baseline_recv_ns = 0

    @property
    def jumped(self) -> bool:
        """A time jump is waiting to be confirmed or forgotten: nothing is traded meanwhile."""
        return self.candidate_exch_ms != 0

    def observe(self, exch_ms: int, recv_ns: int) -> str:
        """Judge one message's exchange time; returns SANE, TIME_JUMP or NEW_TIMELINE."""
        ref = self.exch_ms
        if ref <= exch_ms <= ref + self.max_ahead_ms:  # the usual case, decided without elapsed time
            self.exch_ms, self.recv_ns = exch_ms, recv_ns
            self.candidate_exch_ms = 0
            return SANE
        if ref == 0 or self._continues(ref, self.recv_ns, exch_ms, recv_ns):
            self.candidate_exch_ms = 0
            self._advance(exch_ms, recv_ns)
            return SANE
        if self.jumped and self._continues(self.candidate_exch_ms, self.candidate_recv_ns, exch_ms, recv_ns):
            self._restart(self.candidate_exch_ms, self.candidate_recv_ns, from_candidate=True)
            self._advance(exch_ms, recv_ns)
            return NEW_TIMELINE
        if self._on_the_wall_clock(exch_ms, recv_ns):
            self._restart(exch_ms, recv_ns, from_candidate=False)
            return NEW_TIMELINE
        self.candidate_exch_ms, self.candidate_recv_ns = exch_ms, recv_ns
        return TIME_JUMP

    def measure_lag(self, exch_ms: int, recv_ns: int) -> float:
        """After a SANE book: how far behind the exchange it was received, in ms (≥ 0)."""
        delay = recv_ns * 1e-6 - exch_ms
        base = self._baseline_ms
        if base is None or delay <= base:
            base = delay
        else:  # let the baseline rise towards the delay, slowly (receive times never go back live)
            base += (recv_ns - self._baseline_recv_ns) * _RISE_PER_NS
            if base > delay:
                base = delay
        self._baseline_ms = base
        self._baseline_recv_ns = recv_ns
        lag = self.lag_ms = delay - base
        return lag

    def _continues(self, ref_ms: int, ref_recv_ns: int, exch_ms: int, recv_ns: int) -> bool:
        if exch_ms < ref_ms:
            return ref_ms - exch_ms <= self.max_behind_ms
        elapsed_ms = max(0, recv_ns - ref_recv_ns) // 1_000_000
        return exch_ms - ref_ms - elapsed_ms <= self.max_ahead_ms

    def _on_the_wall_clock(self, exch_ms: int, recv_ns: int) -> bool:
        if self.wall_offset_ns is None:
            return False
        return abs(exch_ms - (recv_ns + self.wall_offset_ns) // 1_000_000) <= WALL_SKEW_MS

    def _restart(self, exch_ms: int, recv_ns: int, *, from_candidate: bool) -> None:
        self.exch_ms, self.recv_ns = exch_ms, recv_ns
        self.candidate_exch_ms = 0
        self.from_candidate = from_candidate
        self._baseline_ms = None  # the receive delay's constant part moved with the clock
        self.lag_ms = 0.0

    def _advance(self, exch_ms: int, recv_ns: int) -> None:
        if exch_ms >= self.exch_ms:
            self.exch_ms, self.recv_ns = exch_ms, recv_ns
