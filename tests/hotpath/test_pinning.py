"""Start-up tuning: CPU sets are parsed and validated, pinning happens (in a child process, so
this test run keeps its own affinity), priority refusals are reported, GC tuning is applied."""

import gc
import os
import subprocess
import sys
import textwrap

import pytest

from tests.fixtures import REPO
from tripwire.hotpath import pinning
from tripwire.hotpath.pinning import PinningError, format_cpus, parse_cpus, pin_cpus, raise_priority, tune_gc

linux_only = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux affinity")


def run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, timeout=30
    )


def test_parses_lists_and_ranges():
    assert parse_cpus("2,3") == {2, 3}
    assert parse_cpus("0-3,6") == {0, 1, 2, 3, 6}
    assert parse_cpus(" 5 ") == {5}
    assert parse_cpus("1-1") == {1}


@pytest.mark.parametrize("text", ["", "a", "1,,2", "3-1", "-1", "1-", "2;3"])
def test_malformed_cpu_lists_are_refused_with_the_expected_form(text):
    with pytest.raises(PinningError, match="--cpus"):
        parse_cpus(text)


def test_formats_sets_as_the_kernel_prints_them():
    assert format_cpus({0, 1, 2, 3, 6}) == "0-3,6"
    assert format_cpus([5]) == "5"
    assert format_cpus({1, 3, 4}) == "1,3-4"


@linux_only
def test_refuses_cores_that_do_not_exist_naming_those_available():
    count = os.cpu_count()
    allowed = format_cpus(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    with pytest.raises(PinningError) as e:
        pin_cpus(f"0,{count + 3}")
    msg = str(e.value)
    assert f"cores {count + 3} do not exist" in msg and f"available to this process: {allowed}" in msg
    assert os.sched_getaffinity(0) == before  # nothing changed


@linux_only
def test_pins_a_process_to_the_requested_core():
    core = min(os.sched_getaffinity(0))
    r = run_child(f"""
        import os
        from tripwire.hotpath.pinning import pin_cpus
        print(sorted(pin_cpus("{core}")), sorted(os.sched_getaffinity(0)))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"[{core}]", f"[{core}]"]


@linux_only
def test_refuses_to_widen_beyond_an_earlier_pin():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two usable cores")
    a, b = sorted(os.sched_getaffinity(0))[:2]
    r = run_child(f"""
        import os
        from tripwire.hotpath.pinning import PinningError, pin_cpus
        os.sched_setaffinity(0, {{{a}}})
        try:
            pin_cpus([{a}, {b}])
        except PinningError as e:
            print("refused:", e)
    """)
    assert r.returncode == 0, r.stderr
    assert f"refused: cores {b} exist but this process may not run on them" in r.stdout


def test_a_priority_the_process_may_not_take_is_reported_not_raised(monkeypatch, caplog):
    monkeypatch.setattr(pinning.os, "getpriority", lambda which, who: 0)

    def refuse(which, who, value):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(pinning.os, "setpriority", refuse)
    with caplog.at_level("WARNING", logger="tripwire.hotpath.pinning"):
        assert raise_priority(-10) == 0
    assert "cannot set niceness -10" in caplog.text and "CAP_SYS_NICE" in caplog.text


def test_lowering_priority_is_always_allowed():
    r = run_child("""
        from tripwire.hotpath.pinning import raise_priority
        import os
        print(raise_priority(os.getpriority(os.PRIO_PROCESS, 0) + 1) ==
              os.getpriority(os.PRIO_PROCESS, 0))
    """)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


@pytest.mark.parametrize("bad", [-21, 20, True, 1.5])
def test_niceness_out_of_range_is_a_configuration_error(bad):
    with pytest.raises(ValueError, match="-20 to 19"):
        raise_priority(bad)


def test_tune_gc_freezes_start_up_objects_and_sets_thresholds():
    before = gc.get_threshold()
    try:
        report = tune_gc(freeze=True, thresholds=(12_345, 20, 30))
        assert gc.get_threshold() == (12_345, 20, 30)
        assert report["thresholds"] == (12_345, 20, 30) and report["previous_thresholds"] == before
        # objects of the permanent generation that other threads free leave it: count, not equal
        assert report["frozen"] > 0 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_tune_gc_refuses_malformed_thresholds():
    with pytest.raises(ValueError, match="three non-negative integers"):
        tune_gc(freeze=False, thresholds=(1, 2))
