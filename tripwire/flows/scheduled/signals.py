"""Smart-money signals, pure: tracked traders' positions → one signal per coin.

For each coin, over the tracked traders holding it (a fresh ``trader_current_state``):

- ``long_share`` = Σ score of longs / Σ score of holders: each trader votes with their
  leaderboard score, not their size, so one whale does not outvote fifty good traders (their
  size shows in the exposure figures instead);
- ``smart_money_bias`` = 2·long_share − 1, in −1..1 (the hot path feature of that name);
- ``ls_ratio`` = number of longs / number of shorts (the hot path feature; with no shorts, the
  number of longs — it stays finite, and any value above 1 still reads "more longs");
- ``net_exposure_usd`` = Σ signed position value; ``long_/short_notional_usd`` its two sides;
- ``confidence`` = |bias| × min(1, holders / ``full_confidence_traders``): how one-sided the
  vote is, discounted when few traders hold the coin.

``LONG`` when long_share > ``bias_threshold`` (0.60), ``SHORT`` when the short share is, else
``NEUTRAL`` — also ``NEUTRAL`` with fewer than ``min_traders`` holders, whatever the split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from tripwire.flows.scheduled.config import GenerateSignalsConfig

LONG, SHORT, NEUTRAL = "LONG", "SHORT", "NEUTRAL"


@dataclass(frozen=True, slots=True)
class CoinSignal:
    coin: str
    signal: str
    long_share: float
    smart_money_bias: float
    ls_ratio: float
    confidence: float
    n_long: int
    n_short: int
    long_score: float
    short_score: float
    long_notional_usd: float
    short_notional_usd: float
    net_exposure_usd: float

    def to_doc(self, ts_ms: int) -> dict[str, Any]:
        return {"ts": ts_ms, **asdict(self)}

    @property
    def features(self) -> dict[str, float]:
        """What the hot path gets through ``set_feature``."""
        return {"smart_money_bias": self.smart_money_bias, "ls_ratio": self.ls_ratio}


class _Tally:
    __slots__ = ("n_long", "n_short", "long_score", "short_score", "long_usd", "short_usd")

    def __init__(self) -> None:
        self.n_long = self.n_short = 0
        self.long_score = self.short_score = self.long_usd = self.short_usd = 0.0


def stale_cutoff_ms(now_ms: int, stale_after_s: float) -> int:
    """States polled before this are ignored: an old state is not a current position."""
    return now_ms - int(stale_after_s * 1000)


def no_holders(coin: str) -> CoinSignal:
    """The signal for a coin no tracked trader holds: NEUTRAL, bias 0, ratio 1 (no evidence
    either way, rather than the last value lingering in the hot path)."""
    return CoinSignal(
        coin=coin,
        signal=NEUTRAL,
        long_share=0.5,
        smart_money_bias=0.0,
        ls_ratio=1.0,
        confidence=0.0,
        n_long=0,
        n_short=0,
        long_score=0.0,
        short_score=0.0,
        long_notional_usd=0.0,
        short_notional_usd=0.0,
        net_exposure_usd=0.0,
    )


def compute_signals(
    scores: dict[str, float], states: Iterable[dict[str, Any]], cfg: GenerateSignalsConfig
) -> list[CoinSignal]:
    """One signal per coin held by at least one scored trader, sorted by coin. ``scores``:
    address → leaderboard score; states of traders not in it are ignored."""
    tallies: dict[str, _Tally] = {}
    for st in states:
        score = scores.get(st.get("address", ""))
        if score is None:
            continue
        weight = max(float(score), 1e-9)  # a zero score still counts as a (tiny) vote
        for p in st.get("positions", ()):
            szi = float(p.get("szi", 0.0))
            if szi == 0:
                continue
            t = tallies.setdefault(p["coin"], _Tally())
            value = abs(float(p.get("position_value", 0.0)))
            if szi > 0:
                t.n_long += 1
                t.long_score += weight
                t.long_usd += value
            else:
                t.n_short += 1
                t.short_score += weight
                t.short_usd += value
    return [_signal(coin, tallies[coin], cfg) for coin in sorted(tallies)]


def _signal(coin: str, t: _Tally, cfg: GenerateSignalsConfig) -> CoinSignal:
    holders = t.n_long + t.n_short
    long_share = t.long_score / (t.long_score + t.short_score)
    bias = 2.0 * long_share - 1.0
    confidence = abs(bias) * min(1.0, holders / cfg.full_confidence_traders)
    if holders < cfg.min_traders:
        signal = NEUTRAL
    elif long_share > cfg.bias_threshold:
        signal = LONG
    elif 1.0 - long_share > cfg.bias_threshold:
        signal = SHORT
    else:
        signal = NEUTRAL
    ls_ratio = t.n_long / t.n_short if t.n_short else float(t.n_long)
    r = lambda x: round(x, 6)  # noqa: E731 - stable numbers in the store and artefacts
    return CoinSignal(
        coin=coin,
        signal=signal,
        long_share=r(long_share),
        smart_money_bias=r(bias),
        ls_ratio=r(ls_ratio),
        confidence=r(confidence),
        n_long=t.n_long,
        n_short=t.n_short,
        long_score=r(t.long_score),
        short_score=r(t.short_score),
        long_notional_usd=r(t.long_usd),
        short_notional_usd=r(t.short_usd),
        net_exposure_usd=r(t.long_usd - t.short_usd),
    )
