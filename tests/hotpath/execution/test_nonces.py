"""Nonces: strictly increasing per signer, even in bursts and when the clock steps back."""

from __future__ import annotations

import threading

from tripwire.hotpath.execution.nonces import NonceManager


def test_a_burst_within_one_millisecond_gets_distinct_increasing_nonces():
    nm = NonceManager(clock_ms=lambda: 1_700_000_000_000)
    nonces = [nm.next("0xa") for _ in range(1000)]
    assert nonces == list(range(1_700_000_000_000, 1_700_000_000_000 + 1000))


def test_nonces_follow_the_clock_and_never_go_back_when_it_does():
    now = [1_000]
    nm = NonceManager(clock_ms=lambda: now[0])
    a = nm.next("0xa")
    now[0] = 5_000
    b = nm.next("0xa")
    now[0] = 2_000  # clock stepped back
    c = nm.next("0xa")
    assert (a, b, c) == (1_000, 5_000, 5_001)


def test_signers_are_independent_and_observed_nonces_are_never_reused():
    nm = NonceManager(clock_ms=lambda: 100)
    assert nm.next("0xa") == 100 and nm.next("0xb") == 100
    nm.observe("0xa", 500)
    assert nm.next("0xa") == 501


def test_threads_never_get_the_same_nonce():
    nm = NonceManager(clock_ms=lambda: 42)
    out: list[int] = []
    lock = threading.Lock()

    def worker():
        mine = [nm.next("0xa") for _ in range(500)]
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 2000
