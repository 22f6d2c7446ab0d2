"""Latency models: what the options mean, reproducible samples, errors a user can act on."""

import math
import statistics

import pytest

from tripwire.sim.backtest.latency import Constant, Empirical, LatencySpecError, Lognormal, parse_latency


def test_no_option_means_zero_latency_and_a_number_means_constant():
    assert parse_latency() == Constant(0.0)
    m = parse_latency(50)
    assert [m.sample() for _ in range(3)] == [50.0, 50.0, 50.0]
    assert m.describe() == {"model": "constant", "ms": 50.0}


def test_lognormal_has_the_median_asked_for_and_repeats_with_its_seed():
    m = parse_latency(dist="lognormal:50,0.5", seed=1)
    xs = [m.sample() for _ in range(4000)]
    assert isinstance(m, Lognormal) and statistics.median(xs) == pytest.approx(50, rel=0.05)
    assert max(xs) > 2 * 50 > 2 * min(xs)  # skewed both ways around the median
    again = parse_latency(dist="lognormal:50,0.5", seed=1)
    assert [again.sample() for _ in range(4000)] == xs
    other = parse_latency(dist="lognormal:50,0.5", seed=2)
    assert [other.sample() for _ in range(10)] != xs[:10]


def test_empirical_draws_only_measured_values(tmp_path):
    f = tmp_path / "lat.txt"
    f.write_text("# fired→written + ping, ms\n12.5\n30, 31\n\n250  # a slow one\n")
    m = parse_latency(dist=f"empirical:{f}", seed=4)
    assert isinstance(m, Empirical) and m.samples_ms == (12.5, 30.0, 31.0, 250.0)
    assert {m.sample() for _ in range(200)} == {12.5, 30.0, 31.0, 250.0}
    assert m.describe()["n"] == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latency_ms": -5}, "--latency-ms: must be a finite number ≥ 0"),
        ({"latency_ms": math.inf}, "--latency-ms: must be a finite number ≥ 0"),
        ({"dist": "lognormal:50"}, "expected lognormal:MEDIAN_MS,SIGMA"),
        ({"dist": "lognormal:fast,0.5"}, "'fast' is not a number"),
        ({"dist": "gamma:1,2"}, "expected lognormal:MEDIAN_MS,SIGMA, empirical:PATH or constant:MS"),
        ({"dist": "empirical:/no/such/file"}, "/no/such/file"),
    ],
)
def test_bad_latency_options_say_what_is_expected(kwargs, message):
    with pytest.raises(LatencySpecError, match=message.replace("(", r"\(").replace("+", r"\+")):
        parse_latency(**kwargs)


def test_an_empty_or_bad_empirical_file_is_refused_naming_the_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(LatencySpecError, match="holds no numbers"):
        parse_latency(dist=f"empirical:{empty}")
    bad = tmp_path / "bad.txt"
    bad.write_text("10\n-3\n")
    with pytest.raises(LatencySpecError, match=r"bad.txt:2: must be a finite number"):
        parse_latency(dist=f"empirical:{bad}")
