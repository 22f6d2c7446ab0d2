"""Per-coin rolling features: the hot path's view of one market, updated in place.

``CoinFeatures.values`` is one dict for the coin's whole life; a feature is present once its
window is warm and absent otherwise (see :mod:`tripwire.contracts.features` for names and
warm-ups, ``docs/FEATURES.md`` for the formulas). Every update is O(1) amortised: trade windows
are rings of 1 s buckets with running sums (:mod:`tripwire.hotpath.features.windows`), bar features are
recomputed once a minute over ≤ 60 bars (:mod:`tripwire.hotpath.features.bars`).

Time is the exchange's, carried by the messages; the engine never reads a clock, so a replay is
deterministic. Time only moves forward: a message older than the newest one seen is folded
into the current buckets at the newest time. When time crosses into a new bucket (on any
update, not only trades), the trade windows are rolled and their features refreshed, so a
quiet market's ``trade_count_5s`` falls to 0 without waiting for the next trade.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from math import isfinite, sqrt

from tripwire.config.features import FeatureConfig
from tripwire.contracts import features as catalog
from tripwire.contracts.market import CandleData
from tripwire.hotpath.book.order_book import OrderBook
from tripwire.hotpath.features.bars import MINUTE_MS, Bar, BarFeatures
from tripwire.hotpath.features.custom import CustomFeature, FeatureContext
from tripwire.hotpath.features.windows import AsOf, BucketRing, CompletedBucketStats
from tripwire.hotpath.feed.records import AssetCtx, Trades

log = logging.getLogger(__name__)

# Features set from outside the hot path, with the range each may take.
EXTERNAL_RANGES: dict[str, tuple[float, float]] = {
    "ls_ratio": (0.0, float("inf")),
    "smart_money_bias": (-1.0, 1.0),
    "pred_move_bps": (-100.0, 100.0),  # the model's barrier is a few bps; 100 is a broken model
}

# A VWAP std below this share of the price is float residue of identical prices.
VWAP_STD_EPS_REL = 1e-9
# A burst baseline std below this share of its mean is float residue of identical buckets.
BURST_STD_EPS_REL = 1e-6
# The VWAP sums hold px − anchor; the anchor follows the price once it is this far away (share of
# the anchor), which keeps Σsz·(px − anchor)² within ~1e-5 of the price² (no cancellation).
REANCHOR_REL = 0.002
# The drift guard rebuilds one window's sums every this many 1 s rolls (six windows: each once a
# minute). Few updates pay for it: most 1 s rolls only evict.
GUARD_EVERY = 10

_BUILTIN_NAMES = frozenset(s.name for s in catalog.BUILTIN)


class CoinFeatures:
    """Rolling features of one coin. Not thread-safe: one owner, the hot-path loop."""

    __slots__ = (
        "coin",
        "cfg",
        "values",
        "custom_errors",
        "_now",
        "_sec_end",
        "_min_end",
        "_bucket_ms",
        "_bars",
        "_first_trade_ms",
        "_cvd",
        "_last_px",
        "_anchor",
        "_trades_stale",
        "_liquidators",
        "_r_cvd_s",
        "_r_cvd_l",
        "_r_vwap",
        "_r_burst",
        "_r_liq",
        "_baseline",
        "_guarded",
        "_guard_turn",
        "_cvd_s_ms",
        "_cvd_l_ms",
        "_vwap_ms",
        "_vwap_min_trades",
        "_burst_ms",
        "_baseline_ms",
        "_liq_ms",
        "_cvd_s_per_min",
        "_cvd_l_per_min",
        "_mp",
        "_mp_lag_ms",
        "_oi_s",
        "_oi_l",
        "_oi_s_ms",
        "_oi_l_ms",
        "_mid",
        "_oracle",
        "_book",
        "_ctx",
        "_custom_on",
        "_custom_on_bar",
        "_custom_logged",
    )

    def __init__(self, coin: str, cfg: FeatureConfig, custom: Sequence[CustomFeature] = ()):
        self.coin = coin
        self.cfg = cfg
        self.values: dict[str, float | bool] = {}
        self.custom_errors: dict[str, int] = {}
        self._now = -1  # newest exchange time seen, ms
        self._sec_end = -1  # end of the current trade-window bucket, ms
        self._min_end = -1  # end of the current bar minute, ms
        b = cfg.bucket_ms
        self._bucket_ms = b
        self._bars = BarFeatures(cfg, self.values, coin)

        # Trades. One ring per window so each window can be configured on its own.
        self._first_trade_ms = -1
        self._cvd = 0.0
        self._last_px = 0.0
        self._anchor = 0.0  # VWAP sums hold px − anchor, re-anchored when the price left it
        self._trades_stale = False
        self._liquidators = frozenset(cfg.liquidator_addresses)
        self._cvd_s_ms = cfg.cvd_short_s * 1000
        self._cvd_l_ms = cfg.cvd_long_s * 1000
        self._vwap_ms = cfg.vwap_s * 1000
        self._vwap_min_trades = cfg.vwap_min_trades
        self._burst_ms = cfg.burst_s * 1000
        self._baseline_ms = cfg.burst_baseline_s * 1000
        self._liq_ms = cfg.liq_s * 1000
        self._cvd_s_per_min = 60.0 / cfg.cvd_short_s
        self._cvd_l_per_min = 60.0 / cfg.cvd_long_s
        self._r_cvd_s = BucketRing(self._cvd_s_ms // b, b, 1)  # signed notional
        self._r_cvd_l = BucketRing(self._cvd_l_ms // b, b, 1)  # signed notional
        self._r_vwap = BucketRing(self._vwap_ms // b, b, 4)  # count, Σsz, Σsz·d, Σsz·d²
        self._r_burst = BucketRing(self._burst_ms // b, b, 2)  # count, notional
        self._r_liq = BucketRing(self._liq_ms // b, b, 3)  # notional, liq long, liq short
        self._baseline = CompletedBucketStats(cfg.burst_baseline_s // cfg.burst_s, self._burst_ms, 2)  # count, notional
        # The drift guard's turn order (_drift_guard); the VWAP ring first: it also re-anchors.
        self._guarded: tuple[BucketRing | CompletedBucketStats, ...] = (
            self._r_vwap,
            self._r_cvd_s,
            self._r_cvd_l,
            self._r_burst,
            self._r_liq,
            self._baseline,
        )
        self._guard_turn = 0

        # Book and context.
        self._mp = AsOf()
        self._mp_lag_ms = int(cfg.microprice_drift_s * 1000)
        self._oi_s = AsOf(cfg.oi_resolution_ms)
        self._oi_l = AsOf(cfg.oi_resolution_ms)
        self._oi_s_ms = cfg.oi_short_s * 1000
        self._oi_l_ms = cfg.oi_long_s * 1000
        self._mid = 0.0
        self._oracle = 0.0
        self._book: OrderBook | None = None

        # Custom features, grouped by the update kind that recomputes them.
        names = [c.spec.name for c in custom]
        for n in names:
            if n in _BUILTIN_NAMES:
                raise ValueError(f"custom feature {n!r}: that name is a built-in feature")
            if names.count(n) > 1:
                raise ValueError(f"custom feature {n!r} is given twice")
        self._ctx = FeatureContext(coin, self.values)
        self._custom_on = {k: tuple(c for c in custom if k in c.spec.updated_on) for k in catalog.UPDATE_KINDS}
        self._custom_on_bar = {
            k: tuple(c for c in custom if k in c.spec.updated_on or catalog.BAR_CLOSE in c.spec.updated_on)
            for k in catalog.UPDATE_KINDS
        }
        self._custom_logged: set[str] = set()

    # -- public ------------------------------------------------------------------------------

    @property
    def last_bar(self) -> Bar | None:
        """The last closed 1-minute bar, or None before the first one closes."""
        return self._bars.last_bar

    def recent_candles(self) -> list[CandleData]:
        """The last closed 1-minute bars (at most ``bars.RECENT_BARS``), oldest first, as
        candles (built at each bar close; shared, never mutated). Called when a trigger fires."""
        return list(self._bars.recent)

    @property
    def now_ms(self) -> int:
        """The newest exchange time seen (−1 before the first update)."""
        return self._now

    def on_book(self, book: OrderBook, t_ms: int) -> bool:
        """After a snapshot or bbo was applied to ``book``. True if a 1m bar closed."""
        closed = self._advance(t_ms) if t_ms > self._now else False
        if self._trades_stale:
            self._refresh_trades()
        self._book = book
        if book.n_bids and book.n_asks:
            values = self.values
            cfg = self.cfg
            mid = book.mid
            self._mid = mid
            values["mid"] = mid
            values["spread_bps"] = book.spread_bps
            mp = book.microprice
            values["microprice"] = mp
            values["book_imbalance"] = book.imbalance(cfg.imbalance_levels)
            values["bid_depth_usd"], values["ask_depth_usd"] = book.depth_usd(cfg.depth_bps)
            (
                values["bid_wall_usd"],
                values["bid_wall_distance_bps"],
                values["ask_wall_usd"],
                values["ask_wall_distance_bps"],
            ) = book.largest_wall(cfg.wall_bps)
            now = self._now
            hist = self._mp
            hist.push(now, mp)
            then = hist.at_or_before(now - self._mp_lag_ms)
            if then is not None:
                values["microprice_drift_bps_5s"] = (mp / then - 1.0) * 1e4
            if self._oracle > 0.0:
                values["basis_mid_oracle_bps"] = (mid / self._oracle - 1.0) * 1e4
        customs = (self._custom_on_bar if closed else self._custom_on)[catalog.BOOK]
        if customs:
            self._run_custom(customs)
        return closed

    def on_trades(self, msg: Trades) -> bool:
        """A trades message (one or more fills). True if a 1m bar closed."""
        if not msg.trades:
            return False
        closed = False
        liquidators = self._liquidators
        bars = self._bars
        if self._first_trade_ms < 0:
            first = msg.trades[0]
            self._first_trade_ms = max(first.time_ms, self._now)
            self._anchor = first.px
        anchor = self._anchor
        cvd = self._cvd
        px = self._last_px
        for tr in msg.trades:
            t = tr.time_ms
            if t > self._now:
                if self._advance(t):
                    closed = True
                anchor = self._anchor  # a roll may have moved it (_drift_guard)
            px = tr.px
            sz = tr.sz
            ntl = px * sz
            delta = ntl if tr.is_buy else -ntl
            cvd += delta
            # Inlined BucketRing.add (cur[j] += x; sums[j] += x): ~12 adds per fill, no calls.
            r = self._r_cvd_s
            r.cur[0] += delta
            r.sums[0] += delta
            r = self._r_cvd_l
            r.cur[0] += delta
            r.sums[0] += delta
            d = px - anchor
            sd = sz * d
            sdd = sd * d
            r = self._r_vwap
            c, s = r.cur, r.sums
            c[0] += 1.0
            c[1] += sz
            c[2] += sd
            c[3] += sdd
            s[0] += 1.0
            s[1] += sz
            s[2] += sd
            s[3] += sdd
            r = self._r_burst
            c, s = r.cur, r.sums
            c[0] += 1.0
            c[1] += ntl
            s[0] += 1.0
            s[1] += ntl
            c = self._baseline.cur
            c[0] += 1.0
            c[1] += ntl
            r = self._r_liq
            c, s = r.cur, r.sums
            c[0] += ntl
            s[0] += ntl
            users = tr.users
            if users is not None and liquidators:
                # Liquidator buys: a long was force-sold. Liquidator sells: a short was bought in.
                if users[0].lower() in liquidators:
                    c[1] += ntl
                    s[1] += ntl
                elif users[1].lower() in liquidators:
                    c[2] += ntl
                    s[2] += ntl
            bars.on_trade(px, sz, ntl)
        self._cvd = cvd
        self._last_px = px
        values = self.values
        values["last_px"] = px
        values["cvd_usd"] = cvd
        self._refresh_trades()
        bars.update_node_distance(px)
        customs = (self._custom_on_bar if closed else self._custom_on)[catalog.TRADES]
        if customs:
            self._run_custom(customs)
        return closed

    def on_asset_ctx(self, ctx: AssetCtx, t_ms: int) -> bool:
        """An activeAssetCtx message stamped ``t_ms`` by the pipeline. True if a 1m bar closed.

        ``t_ms`` ≤ 0 means "no exchange time known yet" (a context before any book or trade):
        the levels are set, but the sample is not kept for the OI changes, which would
        otherwise compare against a sample dated 1970.
        """
        timed = t_ms > 0
        closed = self._advance(t_ms) if timed and t_ms > self._now else False
        if self._trades_stale:
            self._refresh_trades()
        values = self.values
        now = self._now
        values["funding_bps"] = ctx.funding * 1e4
        if ctx.premium is None:
            values.pop("premium_bps", None)
        else:
            values["premium_bps"] = ctx.premium * 1e4
        oi = ctx.open_interest
        values["open_interest"] = oi
        values["mark_px"] = ctx.mark_px
        oracle = ctx.oracle_px
        values["oracle_px"] = oracle
        if oracle > 0.0:
            self._oracle = oracle
            values["basis_mark_oracle_bps"] = (ctx.mark_px / oracle - 1.0) * 1e4
            if self._mid > 0.0:
                values["basis_mid_oracle_bps"] = (self._mid / oracle - 1.0) * 1e4
        if timed:
            for hist, lag, name in (
                (self._oi_s, self._oi_s_ms, "oi_change_pct_5m"),
                (self._oi_l, self._oi_l_ms, "oi_change_pct_15m"),
            ):
                hist.push(now, oi)
                then = hist.at_or_before(now - lag)
                if then:
                    values[name] = (oi / then - 1.0) * 100.0
        customs = (self._custom_on_bar if closed else self._custom_on)[catalog.CTX]
        if customs:
            self._run_custom(customs)
        return closed

    def set_external(self, name: str, value: float) -> None:
        """Set a feature computed off the hot path (``set_feature`` command)."""
        rng = EXTERNAL_RANGES.get(name)
        if rng is None:
            raise KeyError(f"{name!r} is not an external feature (one of {', '.join(EXTERNAL_RANGES)})")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {value!r} is not a number") from None
        if not isfinite(v):
            raise ValueError(f"{name}: {value!r} is not finite")
        lo, hi = rng
        if not lo <= v <= hi:
            raise ValueError(f"{name}: {v} is outside [{lo}, {hi}]")
        self.values[name] = v
        customs = self._custom_on[catalog.EXTERNAL]
        if customs:
            self._run_custom(customs)

    # -- time --------------------------------------------------------------------------------

    def _advance(self, t: int) -> bool:
        """Move time forward to ``t`` (> now); True if one or more 1m bars closed."""
        self._now = t
        if t >= self._sec_end:
            self._sec_end = t - t % self._bucket_ms + self._bucket_ms
            self._r_cvd_s.roll(t)
            self._r_cvd_l.roll(t)
            self._r_vwap.roll(t)
            self._r_burst.roll(t)
            self._r_liq.roll(t)
            self._baseline.roll(t)
            self._trades_stale = self._first_trade_ms >= 0
            self._drift_guard()
        if t < self._min_end:
            return False
        self._min_end = t - t % MINUTE_MS + MINUTE_MS
        return self._bars.advance(t) > 0

    def _drift_guard(self) -> None:
        """Every :data:`GUARD_EVERY`-th 1 s roll: one structure's running sums rebuilt from its
        buckets, in turn (each once a minute, as before, but never two on one update), so float
        drift cannot build up and no update pays for all of them at once. Before the VWAP
        ring's rebuild its anchor moves to the last price if that has left it by more than
        :data:`REANCHOR_REL`, which keeps Σsz·d² small (no cancellation in the variance) without
        rewriting 60 buckets every minute."""
        k = self._guard_turn
        self._guard_turn = k + 1 if k + 1 < GUARD_EVERY * len(self._guarded) else 0
        if k % GUARD_EVERY:
            return
        k //= GUARD_EVERY
        if k == 0:
            px = self._last_px
            if px > 0.0 and abs(px - self._anchor) > REANCHOR_REL * self._anchor:
                self._reanchor(px)
        self._guarded[k].resum()

    def _reanchor(self, new: float) -> None:
        k = self._anchor - new  # px − new = (px − old) + k
        if k:
            for bucket in self._r_vwap.buckets:
                v, sd = bucket[1], bucket[2]
                if v:
                    bucket[3] += 2.0 * k * sd + k * k * v
                    bucket[2] = sd + k * v
            self._anchor = new

    # -- trade windows -----------------------------------------------------------------------

    def _refresh_trades(self) -> None:
        """Recompute the trade-window features from the running sums (a few divisions)."""
        self._trades_stale = False
        values = self.values
        age = self._now - self._first_trade_ms

        if age >= self._cvd_s_ms:
            values["cvd_slope_1m"] = self._r_cvd_s.sums[0] * self._cvd_s_per_min
        if age >= self._cvd_l_ms:
            values["cvd_slope_5m"] = self._r_cvd_l.sums[0] * self._cvd_l_per_min

        if age >= self._vwap_ms:
            n, v, sd, sdd = self._r_vwap.sums
            if v > 0.0:
                mean_d = sd / v
                vwap = self._anchor + mean_d
                values["vwap_1m"] = vwap
                var = sdd / v - mean_d * mean_d
                std = sqrt(var) if var > 0.0 else 0.0
                if n >= self._vwap_min_trades and std > VWAP_STD_EPS_REL * vwap:
                    values["vwap_zscore_1m"] = (self._last_px - vwap) / std
                else:
                    values.pop("vwap_zscore_1m", None)
            else:
                values.pop("vwap_1m", None)
                values.pop("vwap_zscore_1m", None)

        if age >= self._burst_ms:
            count, ntl = self._r_burst.sums
            values["trade_count_5s"] = count
            values["trade_notional_5s_usd"] = ntl
            if age >= self._baseline_ms:
                # Inlined CompletedBucketStats.mean_std for the two quantities (hot: every message).
                base = self._baseline
                nb = base.n
                sums, sq = base.sums, base.sqsums
                mean = sums[0] / nb
                var = sq[0] / nb - mean * mean
                std = sqrt(var) if var > 0.0 else 0.0
                if std > BURST_STD_EPS_REL * mean:
                    values["trade_burst_zscore"] = (count - mean) / std
                else:
                    values.pop("trade_burst_zscore", None)
                mean = sums[1] / nb
                var = sq[1] / nb - mean * mean
                std = sqrt(var) if var > 0.0 else 0.0
                if std > BURST_STD_EPS_REL * mean:
                    values["notional_burst_zscore"] = (ntl - mean) / std
                else:
                    values.pop("notional_burst_zscore", None)

        if age >= self._liq_ms:
            ntl, liq_long, liq_short = self._r_liq.sums
            values["liq_long_notional_60s_usd"] = liq_long
            values["liq_short_notional_60s_usd"] = liq_short
            if ntl > 0.0:
                values["liq_long_share_60s"] = min(liq_long / ntl, 1.0)
                values["liq_short_share_60s"] = min(liq_short / ntl, 1.0)
            else:
                values["liq_long_share_60s"] = 0.0
                values["liq_short_share_60s"] = 0.0

    # -- custom features ---------------------------------------------------------------------

    def _run_custom(self, customs: tuple[CustomFeature, ...]) -> None:
        ctx = self._ctx
        ctx.t_ms = self._now
        ctx.book = self._book
        ctx.last_bar = self._bars.last_bar
        values = self.values
        for feature in customs:
            spec = feature.spec
            name = spec.name
            try:
                v = feature.compute(ctx)
                if v is not None:
                    if spec.kind == catalog.BOOL:
                        if not isinstance(v, (bool, int)):
                            raise TypeError(f"returned {type(v).__name__}, expected bool")
                        v = bool(v)
                    else:
                        v = float(v)
                        if not isfinite(v):
                            raise ValueError(f"returned non-finite {v}")
            except Exception as e:  # any: a user's bug must not stop the hot path (logged below)
                self.custom_errors[name] = self.custom_errors.get(name, 0) + 1
                values.pop(name, None)
                if name not in self._custom_logged:
                    self._custom_logged.add(name)
                    log.warning(
                        "%s: custom feature %r failed (counted, logged once): %r", self.coin, name, e, exc_info=True
                    )
                continue
            if v is None:
                values.pop(name, None)
            else:
                values[name] = v
