"""Modelled latency between a trigger firing and its orders reaching the exchange.

One sample per action sent, in milliseconds. The backtest applies an action at the replay time
``recv + sample``, so the market keeps moving while the order is on its way. Models:

* ``constant`` — the same delay every time (``--latency-ms N``);
* ``lognormal:MEDIAN,SIGMA`` — right-skewed like real network and scheduling delays: the median
  is typical, the tail is ``e^(2.33·σ)`` × the median at p99;
* ``empirical:PATH`` — drawn with replacement from measured delays (one number in ms per line,
  or separated by commas/spaces; ``#`` starts a comment), e.g. ``fired → written`` figures from
  the order-path benchmark plus a ping to the exchange.

Random models are seeded, so a backtest is reproducible; their generator is separate from the
synthetic market's, so changing the latency model never changes the market.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tripwire.config.files import ConfigFileError, read_config_text


class LatencySpecError(ValueError):
    """A latency option cannot be used; the message says what form is expected."""


class LatencyModel(Protocol):
    def sample(self) -> float: ...
    def describe(self) -> dict: ...


@dataclass(frozen=True)
class Constant:
    ms: float

    def sample(self) -> float:
        return self.ms

    def describe(self) -> dict:
        return {"model": "constant", "ms": self.ms}


@dataclass
class Lognormal:
    median_ms: float
    sigma: float
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"latency:{self.seed}")

    def sample(self) -> float:
        return self.median_ms * math.exp(self.sigma * self._rng.gauss(0.0, 1.0))

    def describe(self) -> dict:
        return {"model": "lognormal", "median_ms": self.median_ms, "sigma": self.sigma}


@dataclass
class Empirical:
    samples_ms: tuple[float, ...]
    source: str = ""
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"latency:{self.seed}")

    def sample(self) -> float:
        return self._rng.choice(self.samples_ms)

    def describe(self) -> dict:
        s = sorted(self.samples_ms)
        return {"model": "empirical", "source": self.source, "n": len(s), "median_ms": s[len(s) // 2]}


def _number(text: str, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise LatencySpecError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise LatencySpecError(f"{what}: must be a finite number ≥ 0, got {text!r}")
    return x


def read_samples(path: str | Path) -> tuple[float, ...]:
    p = Path(path)
    try:
        text = read_config_text(p)
    except OSError as e:
        raise LatencySpecError(f"--latency-dist empirical: {p}: {e.strerror or e}") from None
    except ConfigFileError as e:
        raise LatencySpecError(f"--latency-dist empirical: {e}") from None
    out: list[float] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for tok in line.split("#", 1)[0].replace(",", " ").split():
            out.append(_number(tok, f"{p}:{lineno}"))
    if not out:
        raise LatencySpecError(
            f"--latency-dist empirical: {p} holds no numbers (expected latencies in ms, one per line)"
        )
    return tuple(out)


def parse_latency(latency_ms: float | None = None, dist: str | None = None, seed: int = 0) -> LatencyModel:
    """The model the options ask for: ``dist`` if given, else constant ``latency_ms`` (0)."""
    if dist is None:
        return Constant(_number(str(0 if latency_ms is None else latency_ms), "--latency-ms"))
    kind, _, rest = dist.partition(":")
    if kind == "lognormal":
        parts = rest.split(",")
        if len(parts) != 2:
            raise LatencySpecError(
                f"--latency-dist {dist!r}: expected lognormal:MEDIAN_MS,SIGMA (e.g. lognormal:50,0.5)"
            )
        median = _number(parts[0], "--latency-dist lognormal median")
        sigma = _number(parts[1], "--latency-dist lognormal sigma")
        return Lognormal(median, sigma, seed)
    if kind == "empirical" and rest:
        return Empirical(read_samples(rest), rest, seed)
    if kind == "constant" and rest:
        return Constant(_number(rest, "--latency-dist constant"))
    raise LatencySpecError(
        f"--latency-dist {dist!r}: expected lognormal:MEDIAN_MS,SIGMA, empirical:PATH or constant:MS"
    )
