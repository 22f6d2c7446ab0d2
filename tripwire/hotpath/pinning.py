"""Start-up tuning of the hot-path process: CPU pinning, scheduling priority, garbage collector.

``tripwire hotpath run`` calls these once, before its event loop starts. Each one either does
what was asked or says clearly why not: a core set that does not exist is refused (the
operator typed the wrong thing, and running unpinned would hide it), while a priority the
process may not take is reported and the process carries on (an unprivileged developer run
should still work; under systemd, ``Nice=`` in the unit does it as root before exec).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterable

log = logging.getLogger("tripwire.hotpath.pinning")

# Chosen from ``python -m bench gc`` (BENCHMARKS.md). The market pipeline frees what it
# allocates (3 young collections in 55,000 messages), so in steady state the collector is
# nearly idle; what matters is the cost of a collection when one does happen. A full
# collection walks every tracked object: ~10 ms on the warmed-up heap, ~0 once start-up
# objects are frozen. A young collection costs ~17 ns per young object, so the generation-0
# threshold bounds the pause: 1,000 → ≤ ~20 µs, inside the per-message budget (50,000 would
# allow ~0.8 ms pauses: fewer but longer). Older generations are made rarer than the default
# (10, 10): after freezing they hold only what survived young collections.
GC_THRESHOLDS = (1_000, 20, 100)

NICE_MIN, NICE_MAX = -20, 19


class PinningError(Exception):
    """The requested CPU set cannot be used; the message names what is available."""


# -- CPUs --------------------------------------------------------------------------------------


def parse_cpus(text: str) -> set[int]:
    """``"2,3"`` / ``"0-3,6"`` → ``{2, 3}`` / ``{0, 1, 2, 3, 6}``; PinningError if malformed."""
    cpus: set[int] = set()
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise PinningError(f"--cpus {text!r}: expected core numbers and ranges such as '2,3' or '0-3,6'")
    for part in parts:
        lo_s, sep, hi_s = part.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if sep else lo
        except ValueError:
            raise PinningError(f"--cpus {text!r}: {part!r} is not a core number or a range like '0-3'") from None
        if lo < 0 or hi < lo:
            raise PinningError(f"--cpus {text!r}: range {part!r} must be LOW-HIGH with 0 <= LOW <= HIGH")
        cpus.update(range(lo, hi + 1))
    return cpus


def format_cpus(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 3, 6}`` → ``"0-3,6"`` (the form the kernel and systemd print)."""
    out: list[str] = []
    run: list[int] = []
    for c in sorted(set(cpus)):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def _available() -> tuple[set[int], int]:
    if not hasattr(os, "sched_setaffinity"):
        raise PinningError("CPU pinning needs Linux (os.sched_setaffinity is not available here); run without --cpus")
    return set(os.sched_getaffinity(0)), os.cpu_count() or 1


def pin_cpus(cpus: str | Iterable[int]) -> set[int]:
    """Pin this process (all its threads created from now on) to ``cpus``; returns the set in force.

    Refused with :class:`PinningError` when a core does not exist on this machine, or exists but
    is outside what this process may use (a cgroup cpuset, or systemd's ``CPUAffinity=`` that
    disagrees with ``--cpus``): pinning to a subset is fine, widening beyond it is a mistake in
    the configuration, not something to paper over.
    """
    wanted = parse_cpus(cpus) if isinstance(cpus, str) else {int(c) for c in cpus}
    if not wanted:
        raise PinningError("no CPUs given to pin to")
    allowed, count = _available()
    missing = sorted(c for c in wanted if c < 0 or c >= count)
    if missing:
        raise PinningError(
            f"cores {format_cpus(missing)} do not exist: this machine has "
            f"{count} cores (0-{count - 1}); cores available to this process: "
            f"{format_cpus(allowed)}"
        )
    outside = sorted(wanted - allowed)
    if outside:
        raise PinningError(
            f"cores {format_cpus(outside)} exist but this process may not run "
            f"on them (cpuset or an earlier pin, e.g. systemd CPUAffinity=); "
            f"cores available to this process: {format_cpus(allowed)}"
        )
    os.sched_setaffinity(0, wanted)
    in_force = set(os.sched_getaffinity(0))
    log.info("pinned to cores %s", format_cpus(in_force))
    return in_force


# -- priority ----------------------------------------------------------------------------------


def raise_priority(nice: int) -> int:
    """Set this process's niceness to ``nice`` (−20 highest … 19 lowest); returns the niceness
    in force afterwards.

    Going below the current niceness needs root or CAP_SYS_NICE; without it the refusal is
    logged as a warning (with what to do) and the process keeps its niceness: a slower hot path
    is better than none. A value outside −20…19 is a configuration error (ValueError).
    """
    if not isinstance(nice, int) or isinstance(nice, bool) or not NICE_MIN <= nice <= NICE_MAX:
        raise ValueError(f"nice must be an integer from {NICE_MIN} to {NICE_MAX}, got {nice!r}")
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current == nice:
        log.info("niceness already %d", nice)
        return current
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        log.warning(
            "cannot set niceness %d (needs root or CAP_SYS_NICE; under systemd use Nice= in the unit): staying at %d",
            nice,
            current,
        )
        return os.getpriority(os.PRIO_PROCESS, 0)
    now = os.getpriority(os.PRIO_PROCESS, 0)
    log.info("niceness %d → %d", current, now)
    return now


# -- garbage collector -------------------------------------------------------------------------


def tune_gc(freeze: bool = True, thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> dict:
    """Collect once, freeze what start-up built, and make collections rarer.

    Call after everything long-lived exists (settings, rules, books, buffers) and before the
    first message. Frozen objects are moved to a permanent generation the collector never
    scans again, so a collection walks only what was allocated since: shorter pauses. Returns
    what was done, for the start-up log: ``{"collected", "frozen", "thresholds",
    "previous_thresholds"}``.
    """
    if len(thresholds) != 3 or any(not isinstance(t, int) or t < 0 for t in thresholds):
        raise ValueError(f"GC thresholds must be three non-negative integers, got {thresholds!r}")
    previous = gc.get_threshold()
    collected = gc.collect()
    if freeze:
        gc.freeze()
    gc.set_threshold(*thresholds)
    report = {
        "collected": collected,
        "frozen": gc.get_freeze_count(),
        "thresholds": gc.get_threshold(),
        "previous_thresholds": previous,
    }
    log.info("gc tuned: %s", report)
    return report
