"""``retrain_model`` (daily): refit the local model on what triggers led to, promote it only if
it beats the model in use out of sample.

1. Dataset: the stored ``triggers`` of the last ``lookback_days``, each labelled by the
   triple-barrier method on ``candles_1m`` (:mod:`.labeling`).
2. Per rule family with at least ``min_samples`` labels: walk-forward evaluation of a freshly
   fitted model against the current one on the same out-of-sample triggers, then a final fit
   on all of them (:mod:`.training`). Families with too few labels keep the current file's
   model (or the heuristic).
3. The candidate is always saved as ``<models_dir>/local_model-<version>.json`` and recorded in
   ``models``; it replaces ``model_file`` (atomically) only when its pooled walk-forward
   ``metric`` beats the current model's by ``min_improvement``. Then ``reload_model`` tells the
   hot path; if that fails, the promotion stands and the failure is reported.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tripwire.flows.analysis.engine import DEFAULT_MODEL_FILE
from tripwire.flows.analysis.errors import InvalidTrigger
from tripwire.flows.analysis.local_model import (
    FAMILY_BRACKETS,
    HEURISTIC,
    FamilyModel,
    LocalModel,
    ModelFileError,
    model_inputs,
    rule_family,
    write_model_file,
)
from tripwire.flows.analysis.trigger import TriggerInput
from tripwire.flows.scheduled.config import RetrainModelConfig, load_flow_config
from tripwire.flows.scheduled.hotpath_push import PushReport, push_commands
from tripwire.flows.scheduled.labeling import MINUTE_MS, Candles, entry_price, trigger_atr, triple_barrier
from tripwire.flows.scheduled.runtime import (
    commands_address,
    flow_context,
    md_table,
    publish_markdown,
    resolve,
    scheduled_label,
)
from tripwire.flows.scheduled.runtime import now_ms as wall_ms
from tripwire.flows.scheduled.training import Sample, better, fit_family, metrics, walk_forward

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


# -- dataset ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    samples: list[Sample]
    triggers: dict[str, TriggerInput]
    outcomes: collections.Counter = field(default_factory=collections.Counter)


def _as_trigger(doc: dict[str, Any]) -> TriggerInput:
    """A stored trigger as the analysis reads it (JSON round trips may turn 3.0 into 3)."""
    d = {k: v for k, v in doc.items() if k not in ("_id",)}
    feats = d.get("features")
    if isinstance(feats, dict):
        d["features"] = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in feats.items()}
    return TriggerInput.from_event(d)


def _fired_ms(doc: dict[str, Any]) -> int | None:
    """Exchange time when known (candles are in exchange time; in a replay the local clock is
    not), else the local firing time."""
    for key in ("exch_ts_ns", "fired_ts_ns"):
        v = doc.get(key)
        if isinstance(v, int) and v > 0:
            return v // 1_000_000
    v = doc.get("ts")
    return int(v) if isinstance(v, (int, float)) else None


def _barriers(t: TriggerInput, family: str, cfg: RetrainModelConfig) -> tuple[float, float]:
    tp, sl = FAMILY_BRACKETS[family]
    planned = t.bracket() or {}
    if isinstance(planned.get("tp_atr"), (int, float)) and planned["tp_atr"] > 0:
        tp = float(planned["tp_atr"])
    if isinstance(planned.get("sl_atr"), (int, float)) and planned["sl_atr"] > 0:
        sl = float(planned["sl_atr"])
    return cfg.tp_atr or tp, cfg.sl_atr or sl


def load_dataset(store: Any, cfg: RetrainModelConfig, now_ms: int) -> Dataset:
    docs = store.find("triggers", {"ts": {"$gte": now_ms - int(cfg.lookback_days * DAY_MS)}}, sort=[("ts", 1)])
    out = Dataset([], {})
    by_coin: dict[str, list[tuple[int, TriggerInput]]] = collections.defaultdict(list)
    for doc in docs:
        fired = _fired_ms(doc)
        try:
            t = _as_trigger(doc)
        except InvalidTrigger as e:
            out.outcomes["invalid"] += 1
            log.warning("trigger skipped: %s", e)
            continue
        if fired is None:
            out.outcomes["no_time"] += 1
            continue
        by_coin[t.coin].append((fired, t))
    for coin, items in by_coin.items():
        lo = min(f for f, _ in items)
        hi = max(f for f, _ in items) + (cfg.time_limit_min + 2) * MINUTE_MS
        candles = Candles.from_docs(store.find("candles_1m", {"coin": coin, "t": {"$gte": lo, "$lt": hi}}))
        for fired, t in items:
            present = t.present()
            entry = entry_price(present)
            atr = trigger_atr(present, entry) if entry else None
            if entry is None or atr is None:
                out.outcomes["no_entry" if entry is None else "no_atr"] += 1
                continue
            family = rule_family(t.rule)
            tp, sl = _barriers(t, family, cfg)
            lab = triple_barrier(t.side_sign, entry, atr, fired, candles, tp, sl, cfg.time_limit_min, cfg.timeout_label)
            out.outcomes[lab.outcome] += 1
            if lab.label is None:
                continue
            out.triggers[t.trigger_id] = t
            out.samples.append(Sample(t.trigger_id, family, model_inputs(t), t.side_sign, lab.label, fired))
    return out


# -- training --------------------------------------------------------------------------------


@dataclass
class FamilyReport:
    family: str
    samples: int
    fitted: bool
    reason: str
    features: tuple[str, ...] = ()
    folds: list[dict[str, int]] = field(default_factory=list)
    candidate: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)


@dataclass
class Training:
    families: dict[str, FamilyModel]  # what the new file holds (fitted + carried over)
    fitted: list[str]
    reports: list[FamilyReport]
    candidate: dict[str, Any]  # pooled walk-forward metrics
    current: dict[str, Any]


def file_families(path: Path | None) -> dict[str, FamilyModel]:
    """The families a model file defines (none when there is no usable file)."""
    if path is None or not Path(path).exists():
        return {}
    try:
        names = json.loads(Path(path).read_text(encoding="utf-8"))["families"]
        model = LocalModel.from_file(path)
    except (OSError, ValueError, KeyError, TypeError, ModelFileError):
        return {}
    return {name: model.families[name] for name in names}


def train(ds: Dataset, current: LocalModel, carried: dict[str, FamilyModel], cfg: RetrainModelConfig) -> Training:
    def current_probs(samples: list[Sample]) -> np.ndarray:
        return np.array([current.score(ds.triggers[s.trigger_id]).prob_cont for s in samples])

    by_family: dict[str, list[Sample]] = collections.defaultdict(list)
    for s in ds.samples:
        by_family[s.family].append(s)
    families = dict(carried)
    fitted, reports, wfs = [], [], []
    for family in sorted(HEURISTIC):
        samples = by_family.get(family, [])
        if len(samples) < cfg.min_samples:
            reports.append(
                FamilyReport(
                    family,
                    len(samples),
                    False,
                    f"{len(samples)} labelled triggers, need {cfg.min_samples}; current model kept",
                )
            )
            continue
        candidates = tuple(dict.fromkeys((*HEURISTIC[family].features, *cfg.extra_features)))
        fit = lambda train_set, c=candidates: fit_family(train_set, c, cfg.l2)  # noqa: E731  (a one-line fit closure)
        wf = walk_forward(samples, cfg.folds, fit, current_probs)
        model = fit(samples)
        if model is None:
            reports.append(
                FamilyReport(
                    family,
                    len(samples),
                    False,
                    "nothing to learn (one outcome only, or no usable feature); current model kept",
                )
            )
            continue
        families[family] = model
        fitted.append(family)
        wfs.append(wf)
        reports.append(
            FamilyReport(
                family,
                len(samples),
                True,
                "fitted",
                model.features,
                wf.folds,
                _clean(metrics(wf.y, wf.candidate)),
                _clean(metrics(wf.y, wf.current)),
            )
        )

    def pooled(part: str) -> np.ndarray:
        return np.concatenate([getattr(w, part) for w in wfs]) if wfs else np.zeros(0)

    y = pooled("y")
    return Training(
        families, fitted, reports, _clean(metrics(y, pooled("candidate"))), _clean(metrics(y, pooled("current")))
    )


def _clean(m: dict[str, Any]) -> dict[str, Any]:
    """NaN → None: JSON readers (the hot path's orjson) refuse NaN."""
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else round(v, 6) if isinstance(v, float) else v)
        for k, v in m.items()
    }


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


# -- the whole run ---------------------------------------------------------------------------

MIN_EVAL_SAMPLES = 20


@dataclass
class RetrainResult:
    version: str
    promoted: bool
    reason: str
    samples: int
    outcomes: dict[str, int]
    training: Training | None
    path: Path | None  # the versioned file (None: nothing trained)
    model_file: Path
    push: PushReport | None = None
    alpha: dict[str, Any] | None = None  # the order-book transformer candidate (alpha.enabled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "promoted": self.promoted,
            "reason": self.reason,
            "samples": self.samples,
            "outcomes": self.outcomes,
            "path": str(self.path) if self.path else None,
            "model_file": str(self.model_file),
            "candidate": self.training.candidate if self.training else None,
            "current": self.training.current if self.training else None,
            "push": self.push.to_dict() if self.push else None,
            "alpha": self.alpha,
        }


def model_version(now_ms: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))


def decide(tr: Training, cfg: RetrainModelConfig) -> tuple[bool, str]:
    if not tr.fitted:
        return False, "no family had enough labelled triggers to fit"
    n = tr.candidate.get("n", 0)
    if n < MIN_EVAL_SAMPLES:
        return False, f"only {n} out-of-sample predictions (need {MIN_EVAL_SAMPLES}) to judge"
    c, k = tr.candidate.get(cfg.metric), tr.current.get(cfg.metric)
    verdict = better({cfg.metric: _nan(c)}, {cfg.metric: _nan(k)}, cfg.metric, cfg.min_improvement)
    arrow = "higher" if cfg.metric == "auc" else "lower"
    what = f"walk-forward {cfg.metric} {c} vs current {k} ({arrow} is better"
    what += f", margin {cfg.min_improvement:g})" if cfg.min_improvement else ")"
    return verdict, ("promoted: " if verdict else "kept the current model: ") + what


def train_and_save(store: Any, cfg: RetrainModelConfig, now_ms: int) -> RetrainResult:
    """Steps 1–3 without the hot path: label, fit, evaluate, save, promote, record."""
    model_file = cfg.model_file or DEFAULT_MODEL_FILE
    version = model_version(now_ms)
    ds = load_dataset(store, cfg, now_ms)
    current = LocalModel.load(model_file)
    tr = train(ds, current, file_families(model_file), cfg)
    promoted, reason = decide(tr, cfg)
    path = None
    if tr.fitted:
        info = {
            "model_version": version,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000)),
            "fitted_families": tr.fitted,
            "samples": len(ds.samples),
            "walk_forward": {
                "metric": cfg.metric,
                "candidate": tr.candidate,
                "current": tr.current,
                "current_source": current.source,
            },
            "labels": {"time_limit_min": cfg.time_limit_min, "timeout_label": cfg.timeout_label},
        }
        path = write_model_file(cfg.models_dir / f"local_model-{version}.json", tr.families, **info)
        if promoted:
            write_model_file(model_file, tr.families, **info, promoted_from=str(path))
    store.insert_many(
        "models",
        [
            {
                "_id": f"local_model-{version}",
                "ts": now_ms,
                "version": version,
                "path": str(path) if path else None,
                "model_file": str(model_file),
                "promoted": promoted,
                "reason": reason,
                "metric": cfg.metric,
                "candidate": tr.candidate,
                "current": tr.current,
                "current_source": current.source,
                "samples": len(ds.samples),
                "outcomes": dict(ds.outcomes),
                "families": {
                    r.family: {
                        "samples": r.samples,
                        "fitted": r.fitted,
                        "reason": r.reason,
                        "features": list(r.features),
                        "candidate": r.candidate,
                        "current": r.current,
                    }
                    for r in tr.reports
                },
            }
        ],
    )
    return RetrainResult(version, promoted, reason, len(ds.samples), dict(ds.outcomes), tr, path, model_file)


def alpha_candidate(store: Any, cfg: RetrainModelConfig, now_ms: int) -> dict[str, Any] | None:
    """The second candidate (``alpha.enabled``): the order-book transformer, walk-forward against
    the logistic and no-skill baselines on recorded books, promoted only if better
    (tripwire/flows/alpha/evaluate.py). Without the ``alpha`` extra it is reported as skipped;
    either way the logistic model's retraining above stands on its own."""
    a = cfg.alpha
    if not a.enabled:
        return None
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return {"skipped": "PyTorch is not installed: pip install '.[alpha]'"}
    if not a.files:
        return {"skipped": "alpha.files is empty: no recorded books to train on"}
    from tripwire.config.settings import resolve_path
    from tripwire.flows.alpha import evaluate
    from tripwire.flows.alpha.books import read_snapshots

    snaps = read_snapshots([str(resolve_path(Path(f))) for f in a.files], a.coin, a.levels, a.book_every_ms)
    r = evaluate.train_and_promote(snaps, a, model_version(now_ms), store)
    return {**r.to_dict(), "markdown": evaluate.result_markdown(r)}


async def run_retrain_model(store: Any, commands: str | None, cfg: RetrainModelConfig, now_ms: int) -> RetrainResult:
    """The flow without Prefect. ``commands``: the hot path's address for ``reload_model``
    (None, or ``cfg.push`` false: none sent)."""
    result = train_and_save(store, cfg, now_ms)
    result.alpha = alpha_candidate(store, cfg, now_ms)
    if result.promoted and cfg.push and commands:
        result.push = await push_commands(
            commands, [("reload_model", {"path": str(resolve(result.model_file))})], cfg.push_timeout_s
        )
    return result


def result_markdown(r: RetrainResult) -> str:
    head = (
        f"**{'Promoted' if r.promoted else 'Not promoted'}** — {r.reason}\n\n"
        f"version `{r.version}`, {r.samples} labelled triggers; outcomes "
        + ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
        + "\n\n"
    )
    if r.path:
        head += f"saved `{r.path}`" + (f", now `{r.model_file}`" if r.promoted else "") + "\n\n"
    if r.push is not None:
        head += ("" if r.push.all_ok else "**reload_model failed.** ") + r.push.summary() + "\n\n"
    if r.alpha is not None:
        head += r.alpha.get("markdown") or f"Order-book transformer: skipped — {r.alpha.get('skipped')}"
        head += "\n\n"
    if r.training is None:
        return head
    rows = []
    for rep in r.training.reports:
        c, k = rep.candidate, rep.current
        rows.append(
            (
                rep.family,
                rep.samples,
                "yes" if rep.fitted else rep.reason,
                c.get("auc"),
                k.get("auc"),
                c.get("brier"),
                k.get("brier"),
                c.get("hit_rate"),
                k.get("hit_rate"),
                c.get("n"),
            )
        )
    c, k = r.training.candidate, r.training.current
    rows.append(
        (
            "**all**",
            r.samples,
            "",
            c.get("auc"),
            k.get("auc"),
            c.get("brier"),
            k.get("brier"),
            c.get("hit_rate"),
            k.get("hit_rate"),
            c.get("n"),
        )
    )
    return (
        head
        + "Walk-forward, out of sample (candidate vs current):\n\n"
        + md_table(
            (
                "family",
                "labelled",
                "fitted",
                "AUC new",
                "AUC cur",
                "Brier new",
                "Brier cur",
                "hit new",
                "hit cur",
                "n oos",
            ),
            rows,
        )
    )


# -- Prefect ---------------------------------------------------------------------------------


@task(retries=1, retry_delay_seconds=10, timeout_seconds=1800, cache_policy=NO_CACHE)
async def fit_and_save(store: Any, cfg: RetrainModelConfig, now_ms: int) -> RetrainResult:
    return train_and_save(store, cfg, now_ms)


@task(timeout_seconds=1800, cache_policy=NO_CACHE)
async def fit_alpha(store: Any, cfg: RetrainModelConfig, now_ms: int) -> dict[str, Any] | None:
    return alpha_candidate(store, cfg, now_ms)


# No retries: a hot path that is down now will read the promoted file when it starts.
@task(timeout_seconds=30, cache_policy=NO_CACHE)
async def reload_hot_path(address: str, path: Path, timeout_s: float) -> PushReport:
    return await push_commands(address, [("reload_model", {"path": str(resolve(path))})], timeout_s)


@flow(
    name="retrain_model",
    flow_run_name=lambda: f"retrain_model {scheduled_label()}",
    persist_result=False,
    log_prints=False,
    timeout_seconds=3600,
)
async def retrain_model(settings_file: str | None = None) -> dict[str, Any]:
    """Retrain the local model; promote it if it beats the current one walk-forward."""
    ctx = flow_context(settings_file)
    try:
        cfg = load_flow_config(ctx.settings, "retrain_model", source=settings_file)
        if cfg.model_file is None:
            analysis_file = ctx.settings.analysis.get("model_file")
            cfg = cfg.model_copy(update={"model_file": Path(analysis_file) if analysis_file else DEFAULT_MODEL_FILE})
        now = wall_ms()
        result = await fit_and_save(ctx.store, cfg, now)
        if cfg.alpha.enabled and not cfg.alpha.files:  # the recorded books the settings replay
            cfg = cfg.model_copy(
                update={"alpha": cfg.alpha.model_copy(update={"files": tuple(ctx.settings.replay.files)})}
            )
        result.alpha = await fit_alpha(ctx.store, cfg, now)
    finally:
        ctx.store.close()
    if result.promoted and cfg.push:
        result.push = await reload_hot_path(
            commands_address(ctx.settings, cfg.commands_address), result.model_file, cfg.push_timeout_s
        )
    await publish_markdown("local-model", result_markdown(result), "latest retraining of the local model")
    return result.to_dict()
