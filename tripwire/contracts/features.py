"""The catalog of features: one name per concept, used by the engine, the trigger DSL and docs.

Each feature says what it is, its unit (in its name where it has one), which kind of update
changes it (so the trigger engine only re-evaluates rules that could have changed), whether it
is a number or a boolean, and its warm-up: until its window holds enough data the feature is
absent from the values dict and rules that need it cannot fire.
"""

from __future__ import annotations

from dataclasses import dataclass

# Update kinds: what changed a coin's state. Rules are evaluated per kind.
BOOK = "book"  # an l2Book snapshot or bbo update
TRADES = "trades"  # a trades message
CTX = "ctx"  # an activeAssetCtx message
BAR_CLOSE = "bar_close_1m"  # a 1-minute bar (built from trades) closed
EXTERNAL = "external"  # set from outside the hot path (set_feature command)
UPDATE_KINDS = (BOOK, TRADES, CTX, BAR_CLOSE, EXTERNAL)

NUMBER = "number"
BOOL = "bool"


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    name: str
    kind: str  # NUMBER or BOOL
    updated_on: tuple[str, ...]
    description: str
    warmup: str = "first update"


def _f(
    name: str, updated_on: tuple[str, ...], description: str, warmup: str = "first update", kind: str = NUMBER
) -> FeatureSpec:
    return FeatureSpec(name, kind, updated_on, description, warmup)


_B, _T, _C, _BC, _X = (BOOK,), (TRADES,), (CTX,), (BAR_CLOSE,), (EXTERNAL,)

BUILTIN: tuple[FeatureSpec, ...] = (
    # order book
    _f("mid", _B, "mid price (best bid + best ask) / 2"),
    _f("spread_bps", _B, "best ask − best bid, in bps of mid"),
    _f("microprice", _B, "size-weighted top-of-book price"),
    _f("book_imbalance", _B, "(bid size − ask size) / total over the top N levels, −1..1"),
    _f("bid_depth_usd", _B, "bid notional within the configured bps of mid"),
    _f("ask_depth_usd", _B, "ask notional within the configured bps of mid"),
    _f("bid_wall_usd", _B, "largest bid level notional within the wall range"),
    _f("bid_wall_distance_bps", _B, "distance of that bid wall from mid, bps"),
    _f("ask_wall_usd", _B, "largest ask level notional within the wall range"),
    _f("ask_wall_distance_bps", _B, "distance of that ask wall from mid, bps"),
    _f("microprice_drift_bps_5s", _B, "microprice change over the last 5 s, bps", "5 s of book updates"),
    # trades
    _f("last_px", _T, "last trade price"),
    _f("cvd_usd", _T, "cumulative volume delta since start: buy − sell aggressor notional"),
    _f("cvd_slope_1m", _T, "CVD change over the last 60 s, USD per minute", "60 s of trades"),
    _f("cvd_slope_5m", _T, "CVD change over the last 300 s, USD per minute", "300 s of trades"),
    _f("vwap_1m", _T, "volume-weighted average trade price over 60 s", "60 s of trades"),
    _f(
        "vwap_zscore_1m",
        _T,
        "(last price − VWAP) / volume-weighted price std over 60 s",
        "60 s of trades and at least 10 trades in the window",
    ),
    _f("trade_count_5s", _T, "trades in the last 5 s", "5 s of trades"),
    _f("trade_notional_5s_usd", _T, "traded notional in the last 5 s", "5 s of trades"),
    _f(
        "trade_burst_zscore",
        _T,
        "5 s trade count vs the baseline of 5 s counts, z-score",
        "baseline window (300 s) of trades",
    ),
    _f(
        "notional_burst_zscore",
        _T,
        "5 s notional vs the baseline of 5 s notionals, z-score",
        "baseline window (300 s) of trades",
    ),
    _f("liq_long_notional_60s_usd", _T, "notional of long liquidations (forced sells), 60 s", "60 s of trades"),
    _f("liq_short_notional_60s_usd", _T, "notional of short liquidations (forced buys), 60 s", "60 s of trades"),
    _f("liq_long_share_60s", _T, "long-liquidation share of all traded notional, 60 s, 0..1", "60 s of trades"),
    _f("liq_short_share_60s", _T, "short-liquidation share of all traded notional, 60 s, 0..1", "60 s of trades"),
    # 1-minute bars built from trades
    _f("atr_1m", _BC, "average true range of 1m bars (Wilder, 14 bars), price units", "14 closed bars"),
    _f("atr_bps", _BC, "atr_1m in bps of the last close", "14 closed bars"),
    _f("ret_1m_bps", _BC, "return of the last closed 1m bar, bps", "1 closed bar"),
    _f("bb_position_1m", _BC, "(close − SMA20) / (2 × std20) of 1m closes; ±1 at the bands", "20 closed bars"),
    _f("realized_vol_bps_1m", _BC, "std of 1m log returns over 30 bars, bps per bar", "31 closed bars"),
    _f("range_high_30m", _BC, "highest high of the last 30 closed 1m bars", "30 closed bars"),
    _f("range_low_30m", _BC, "lowest low of the last 30 closed 1m bars", "30 closed bars"),
    _f("vpvr_poc_px", _BC, "point of control: the price bin with most volume over 60 bars", "10 closed bars"),
    _f(
        "vpvr_node_distance_bps",
        _T,
        "distance of the last price from the nearest high-volume node of the profile, bps",
        "10 closed bars",
    ),
    _f("near_vpvr_node", _T, "last price within the configured bps of a high-volume node", "10 closed bars", kind=BOOL),
    # asset context
    _f("funding_bps", _C, "current hourly funding rate, bps"),
    _f("premium_bps", _C, "premium (mark vs oracle as the exchange reports it), bps"),
    _f("open_interest", _C, "open interest, coins"),
    _f("oi_change_pct_5m", _C, "open interest change over 5 min, %", "5 min of contexts"),
    _f("oi_change_pct_15m", _C, "open interest change over 15 min, %", "15 min of contexts"),
    _f("mark_px", _C, "mark price"),
    _f("oracle_px", _C, "oracle price"),
    _f("basis_mark_oracle_bps", _C, "(mark − oracle) / oracle, bps"),
    _f("basis_mid_oracle_bps", (BOOK, CTX), "(book mid − oracle) / oracle, bps", "a book and a context"),
    # set from outside the hot path (signals flow, set_feature command)
    _f("ls_ratio", _X, "long/short ratio of tracked traders", "set by the signals flow"),
    _f("smart_money_bias", _X, "score-weighted long−short bias of tracked traders, −1..1", "set by the signals flow"),
    _f(
        "pred_move_bps",
        _X,
        "predicted micro-price move over the model's horizon, bps (order-book transformer)",
        "set by tripwire alpha serve",
    ),
)

CATALOG: dict[str, FeatureSpec] = {s.name: s for s in BUILTIN}


def register(spec: FeatureSpec) -> None:
    """Add a feature (a user's own, see tripwire.hotpath.features.custom) so rules may name it."""
    if spec.name in CATALOG and CATALOG[spec.name] != spec:
        raise ValueError(f"feature {spec.name!r} is already defined")
    for kind in spec.updated_on:
        if kind not in UPDATE_KINDS:
            raise ValueError(f"feature {spec.name!r}: unknown update kind {kind!r} (one of {', '.join(UPDATE_KINDS)})")
    CATALOG[spec.name] = spec
