"""The local model: a decision from the feature vector alone — no key, no network, deterministic.

One form serves both the built-in heuristic and a retrained model: per rule family, a logistic
score over standardised features,

    z_i = clip(side_i × (x_i − mean_i) / std_i, ±clip_z)   side_i = ±1 if directional, else 1
    logit = bias + Σ w_i z_i;   prob_cont = sigmoid(logit);   sA = 2·prob_cont − 1

Directional features (CVD, imbalance, VWAP z-score …) are multiplied by the trade's side (+1 long,
−1 short) after standardising, so one set of weights reads "in the trade's favour" for both
sides; the liquidation shares become ``liq_share_with_side_60s`` (forced flow the trade's way)
and ``liq_share_against_side_60s``. A missing feature contributes nothing (imputed at its mean).

``confA`` = coverage × consistency: the share of the family's total |weight| whose features are
present, times |Σ contributions| / Σ |contributions| (1 when all the evidence points one way).

The heuristic's means, scales and weights are hand-set (scales are typical BTC magnitudes, e.g.
$500k/min of CVD slope); a ``retrain_model`` flow fits the same form (regularised logistic
regression in numpy) and writes a JSON model file that :meth:`LocalModel.load` picks up. A family
the file does not cover keeps the heuristic. A bad file is logged once and ignored.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tripwire.contracts.decisions import Decision
from tripwire.contracts.features import CATALOG
from tripwire.flows.analysis.errors import summarise_validation
from tripwire.flows.analysis.trigger import TriggerInput

log = logging.getLogger(__name__)

MODEL_FILE_FORMAT = "tripwire-local-model"
MODEL_FILE_VERSION = 1

FAMILIES = ("momentum", "reversion", "liquidation")

# Rule name prefix → family. A rule matching none is scored as momentum: a trigger that fires
# on a move is, unless it says otherwise, a bet the move goes on.
RULE_FAMILIES: tuple[tuple[str, str], ...] = (
    ("squeeze_", "momentum"),
    ("breakout_", "momentum"),
    ("reversion_", "reversion"),
    ("liquidation_", "liquidation"),
)
DEFAULT_FAMILY = "momentum"

# Multiplied by the side (+1 long, −1 short) after standardising: positive = favours the trade.
DIRECTIONAL = frozenset(
    {
        "book_imbalance",
        "microprice_drift_bps_5s",
        "cvd_slope_1m",
        "cvd_slope_5m",
        "vwap_zscore_1m",
        "ret_1m_bps",
        "bb_position_1m",
        "funding_bps",
        "premium_bps",
        "basis_mark_oracle_bps",
        "basis_mid_oracle_bps",
        "smart_money_bias",
    }
)

# Inputs derived from the trigger's side (already side-relative, so not in DIRECTIONAL).
DERIVED_INPUTS = {
    "liq_share_with_side_60s": "liquidation share whose forced flow goes the trade's way "
    "(short liquidations for a long)",
    "liq_share_against_side_60s": "liquidation share whose forced flow goes against the trade",
    "range_break_bps": "how far last_px is through the 30m range on the trade's side, bps",
}

# Brackets when the trigger carries none: (tp_atr, sl_atr), as in config/triggers.yaml.
FAMILY_BRACKETS = {"momentum": (1.5, 1.0), "reversion": (1.0, 1.2), "liquidation": (1.5, 1.5)}
MIN_TARGET_BPS = 6.0  # a target must clear round-trip fees, whatever the ATR
STOP_NOISE_SIGMAS = 1.5  # the stop sits outside this many 1m return std devs
SL_MIN_ATR, SL_MAX_ATR, TP_MAX_ATR = 0.7, 20.0, 20.0


def rule_family(rule: str) -> str:
    for prefix, family in RULE_FAMILIES:
        if rule.startswith(prefix):
            return family
    return DEFAULT_FAMILY


def model_inputs(trigger: TriggerInput) -> dict[str, float]:
    """The trigger's present features as floats (bools 0/1) plus the side-relative derived ones."""
    x = {k: float(v) for k, v in trigger.present().items()}
    long_share, short_share = x.get("liq_long_share_60s"), x.get("liq_short_share_60s")
    # Short liquidations are forced buys: they push price up, the way a long wants.
    if trigger.side == "long":
        with_side, against = short_share, long_share
    else:
        with_side, against = long_share, short_share
    if with_side is not None:
        x["liq_share_with_side_60s"] = with_side
    if against is not None:
        x["liq_share_against_side_60s"] = against
    last = x.get("last_px", x.get("mid"))
    hi, lo = x.get("range_high_30m"), x.get("range_low_30m")
    if last is not None:
        if trigger.side == "long" and hi:
            x["range_break_bps"] = (last - hi) / hi * 1e4
        elif trigger.side == "short" and lo:
            x["range_break_bps"] = (lo - last) / lo * 1e4
    return x


@dataclass(frozen=True, slots=True)
class FamilyModel:
    """One family's logistic model over standardised, side-oriented features."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float = 0.0
    clip_z: float = 3.0
    directional: frozenset[str] = DIRECTIONAL

    def contributions(self, x: dict[str, float], side_sign: int) -> tuple[dict[str, float], float]:
        """Each present feature's w·z, and the coverage (share of |weight| present)."""
        contrib: dict[str, float] = {}
        present_w = total_w = 0.0
        for name, mean, std, w in zip(self.features, self.means, self.stds, self.weights):
            total_w += abs(w)
            value = x.get(name)
            if value is None:
                continue
            present_w += abs(w)
            z = (value - mean) / std
            if name in self.directional:
                z *= side_sign
            contrib[name] = w * max(-self.clip_z, min(self.clip_z, z))
        return contrib, (present_w / total_w if total_w else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "means": list(self.means),
            "stds": list(self.stds),
            "weights": list(self.weights),
            "bias": self.bias,
            "clip_z": self.clip_z,
            "directional": sorted(set(self.features) & self.directional),
        }


def _table(rows: tuple[tuple[str, float, float, float], ...]) -> FamilyModel:
    names, means, scales, weights = zip(*rows)
    return FamilyModel(tuple(names), tuple(means), tuple(scales), tuple(weights))


# (feature, mean, scale, weight). Signs read "in the trade's favour" after orientation.
HEURISTIC: dict[str, FamilyModel] = {
    # Follow the flow: net taker flow, book and fresh positions on the trade's side, the other
    # side crowded (funding) or being liquidated, price through its range, no volume node to
    # absorb the push.
    "momentum": _table(
        (
            ("cvd_slope_1m", 0.0, 500_000.0, 0.8),
            ("cvd_slope_5m", 0.0, 250_000.0, 0.3),
            ("book_imbalance", 0.0, 0.3, 0.5),
            ("microprice_drift_bps_5s", 0.0, 1.0, 0.2),
            ("funding_bps", 0.125, 0.25, -0.4),  # our side paying above baseline = our side crowded
            ("smart_money_bias", 0.0, 0.5, 0.3),
            ("vwap_zscore_1m", 0.0, 2.0, 0.2),
            ("oi_change_pct_5m", 0.0, 0.3, 0.4),
            ("trade_burst_zscore", 0.0, 2.0, 0.3),
            ("notional_burst_zscore", 0.0, 2.0, 0.2),
            ("liq_share_with_side_60s", 0.0, 0.05, 0.4),
            ("liq_share_against_side_60s", 0.0, 0.05, -0.3),
            ("range_break_bps", 0.0, 5.0, 0.3),
            ("near_vpvr_node", 0.0, 1.0, -0.4),
            ("spread_bps", 1.0, 2.0, -0.2),
        )
    ),
    # Fade the stretch: price far from VWAP / outside the bands against the trade's side, the
    # flow and microprice turning the trade's way, the burst over, nobody being forced out
    # against the trade (that would be a squeeze, not a stretch).
    "reversion": _table(
        (
            ("vwap_zscore_1m", 0.0, 2.0, -0.6),
            ("bb_position_1m", 0.0, 1.0, -0.5),
            ("cvd_slope_1m", 0.0, 500_000.0, 0.4),
            ("microprice_drift_bps_5s", 0.0, 1.0, 0.4),
            ("book_imbalance", 0.0, 0.3, 0.4),
            ("funding_bps", 0.125, 0.25, -0.3),
            ("smart_money_bias", 0.0, 0.5, 0.2),
            ("trade_burst_zscore", 1.0, 2.0, -0.4),
            ("oi_change_pct_5m", 0.0, 0.3, -0.2),
            ("liq_share_against_side_60s", 0.0, 0.05, -0.6),
            ("near_vpvr_node", 0.0, 1.0, 0.4),
            ("spread_bps", 1.0, 2.0, -0.2),
        )
    ),
    # Fade the cascade: a large forced flow against the trade's side that is exhausting — the
    # burst cooling, open interest flushed, the book and microprice refilling the trade's way.
    "liquidation": _table(
        (
            ("liq_share_against_side_60s", 0.15, 0.1, 0.3),
            ("vwap_zscore_1m", 0.0, 2.5, -0.5),
            ("book_imbalance", 0.0, 0.3, 0.5),
            ("microprice_drift_bps_5s", 0.0, 1.0, 0.5),
            ("cvd_slope_1m", 0.0, 500_000.0, 0.4),
            ("trade_burst_zscore", 2.0, 2.0, -0.4),
            ("oi_change_pct_5m", 0.0, 0.3, -0.3),
            ("spread_bps", 1.0, 2.0, -0.3),
        )
    ),
}


@dataclass(frozen=True, slots=True)
class LocalScore:
    family: str
    sA: float
    confA: float
    prob_cont: float
    tp_atr: float
    sl_atr: float
    coverage: float
    contributions: dict[str, float]
    model: str  # "heuristic" or "file"


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and what is wrong."""


class _FamilyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    features: list[str] = Field(min_length=1)
    means: list[float]
    stds: list[float]
    weights: list[float]
    bias: float = 0.0
    clip_z: float = Field(3.0, gt=0.0)
    directional: list[str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _FamilyFile:
        n = len(self.features)
        for name in ("means", "stds", "weights"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} values for {n} features")
        if len(set(self.features)) != n:
            raise ValueError("features are listed twice")
        bad = [f for f, s in zip(self.features, self.stds) if s <= 0]
        if bad:
            raise ValueError(f"stds must be > 0 (not for {', '.join(bad)})")
        if self.directional and not set(self.directional) <= set(self.features):
            raise ValueError("directional names a feature that is not in features")
        return self


class _ModelFile(BaseModel):
    model_config = ConfigDict(extra="allow")  # trained_at, metrics … are informational

    format: str
    version: int
    families: dict[str, _FamilyFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> _ModelFile:
        if self.format != MODEL_FILE_FORMAT:
            raise ValueError(f"format is {self.format!r}, expected {MODEL_FILE_FORMAT!r}")
        if self.version != MODEL_FILE_VERSION:
            raise ValueError(f"version {self.version} is not supported (expected {MODEL_FILE_VERSION})")
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown family {unknown[0]!r} (one of {', '.join(FAMILIES)})")
        return self


class LocalModel:
    """Scores triggers with per-family models: the heuristic, or a retrained file's."""

    def __init__(self, families: dict[str, FamilyModel] | None = None, *, source: str = "heuristic"):
        self._file_families = dict(families or {})
        self.families = {**HEURISTIC, **self._file_families}
        self.source = source

    def __repr__(self) -> str:
        return f"LocalModel({self.source})"

    @classmethod
    def heuristic(cls) -> LocalModel:
        return cls()

    @classmethod
    def from_file(cls, path: str | Path) -> LocalModel:
        """Load a retrained model file; :class:`ModelFileError` if it is missing or invalid."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ModelFileError(f"{path}: cannot read: {e.strerror or e}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ModelFileError(f"{path}: not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ModelFileError(f"{path}: expected a JSON object at the top")
        try:
            parsed = _ModelFile.model_validate(data)
        except ValidationError as e:
            raise ModelFileError(f"{path}: {summarise_validation(e)}") from None
        families: dict[str, FamilyModel] = {}
        known = set(CATALOG) | set(DERIVED_INPUTS)
        for name, fam in parsed.families.items():
            for feature in fam.features:
                if feature in known:
                    continue
                # Close to a known name: a typo that would silently never match. Otherwise it
                # may be a user's own feature (tripwire.hotpath.features.custom) this process never saw.
                hint = difflib.get_close_matches(feature, known, n=1, cutoff=0.85)
                if hint:
                    raise ModelFileError(
                        f"{path}: family {name!r}: unknown feature {feature!r} (did you mean {hint[0]!r}?)"
                    )
                log.warning(
                    "%s: family %r uses %r, which is not a catalog feature; it counts "
                    "only if the trigger events carry it",
                    path,
                    name,
                    feature,
                )
            families[name] = FamilyModel(
                tuple(fam.features),
                tuple(fam.means),
                tuple(fam.stds),
                tuple(fam.weights),
                fam.bias,
                fam.clip_z,
                frozenset(fam.directional) if fam.directional is not None else DIRECTIONAL,
            )
        kept = [f for f in FAMILIES if f not in families]
        source = f"file:{path}" + (f" (heuristic for {', '.join(kept)})" if kept else "")
        return cls(families, source=source)

    @classmethod
    def load(cls, path: str | Path | None) -> LocalModel:
        """The retrained model at ``path`` if there is a valid one, else the heuristic.

        No path or no file: the heuristic, silently (the normal state before any retraining).
        A file that is there but unusable: logged as an error naming the problem, heuristic used.
        """
        if path is None or not Path(path).exists():
            return cls.heuristic()
        try:
            model = cls.from_file(path)
        except ModelFileError as e:
            log.error("local model file ignored, using the heuristic: %s", e)
            return cls.heuristic()
        log.info("local model loaded: %s", model.source)
        return model

    def score(self, trigger: dict[str, Any] | TriggerInput) -> LocalScore:
        t = TriggerInput.from_event(trigger)
        family = rule_family(t.rule)
        fam = self.families[family]
        x = model_inputs(t)
        contrib, coverage = fam.contributions(x, t.side_sign)
        total = sum(contrib.values())
        logit = fam.bias + total
        prob = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
        magnitude = sum(abs(c) for c in contrib.values())
        consistency = abs(total) / magnitude if magnitude > 0 else 0.0
        tp, sl = _bracket(t, family, prob, x)
        return LocalScore(
            family=family,
            sA=_unit(2.0 * prob - 1.0, -1.0),
            confA=_unit(coverage * consistency, 0.0),
            prob_cont=_unit(prob, 0.0),
            tp_atr=tp,
            sl_atr=sl,
            coverage=coverage,
            contributions=contrib,
            model="file" if family in self._file_families else "heuristic",
        )

    def decide(self, trigger: dict[str, Any] | TriggerInput) -> Decision:
        """The local model's own decision: go when continuation is more likely than not."""
        t = TriggerInput.from_event(trigger)
        s = self.score(t)
        go = s.prob_cont > 0.5
        top = sorted(s.contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:3]
        why = ", ".join(f"{k} {v:+.2f}" for k, v in top) or "no features"
        return Decision(
            trigger_id=t.trigger_id,
            go=go,
            sA=s.sA,
            confA=s.confA,
            prob_cont=s.prob_cont,
            tp_atr=s.tp_atr if go else None,
            sl_atr=s.sl_atr if go else None,
            size_scale=None,
            reason=f"local {s.model} {s.family}: sA={s.sA:+.2f} confA={s.confA:.2f}; {why}",
            source="local",
            created_ns=time.time_ns(),
        )


def _unit(v: float, lo: float) -> float:
    """Round to 4 decimals inside [lo, 1] (float error must not break Decision's bounds)."""
    return round(max(lo, min(1.0, v)), 4)


def _bracket(t: TriggerInput, family: str, prob: float, x: dict[str, float]) -> tuple[float, float]:
    """tp/sl in ATR multiples: the trigger's planned bracket (or the family's), the target
    stretched by conviction and floored so it clears fees, the stop kept outside 1m noise."""
    base_tp, base_sl = FAMILY_BRACKETS[family]
    planned = t.bracket() or {}
    if isinstance(planned.get("tp_atr"), (int, float)) and planned["tp_atr"] > 0:
        base_tp = float(planned["tp_atr"])
    if isinstance(planned.get("sl_atr"), (int, float)) and planned["sl_atr"] > 0:
        base_sl = float(planned["sl_atr"])
    tp = base_tp * (0.75 + 0.5 * prob)
    sl = base_sl
    atr = x.get("atr_bps")
    if atr and atr > 0:
        tp = max(tp, MIN_TARGET_BPS / atr)
        rv = x.get("realized_vol_bps_1m")
        if rv and rv > 0:
            sl = max(sl, STOP_NOISE_SIGMAS * rv / atr)
    return (round(min(max(tp, 0.1), TP_MAX_ATR), 2), round(min(max(sl, SL_MIN_ATR), SL_MAX_ATR), 2))


def write_model_file(path: str | Path, families: dict[str, FamilyModel], **info: Any) -> Path:
    """Write a model file atomically (the ``retrain_model`` flow's output; ``info`` is kept as
    extra keys such as trained_at or metrics). Validated by reading it back before the rename."""
    path = Path(path)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown family {sorted(unknown)[0]!r} (one of {', '.join(FAMILIES)})")
    data = {
        "format": MODEL_FILE_FORMAT,
        "version": MODEL_FILE_VERSION,
        **info,
        "families": {k: v.to_dict() for k, v in sorted(families.items())},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    LocalModel.from_file(tmp)
    os.replace(tmp, path)
    return path
