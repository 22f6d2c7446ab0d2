"""retrain_model's second candidate: the order-book transformer, trained on recorded books,
walk-forward against the logistic and no-skill baselines, saved and recorded in ``models``."""

from __future__ import annotations

import orjson
import pytest

from tests.flows.alpha.synthetic import snapshots
from tests.flows.scheduled.fakes import run
from tests.flows.scheduled.test_retrain_model import _cfg, seed_history
from tripwire.flows.alpha.config import AlphaConfig
from tripwire.flows.scheduled.retrain_model import result_markdown, run_retrain_model


def write_books(path, n: int, edge: float) -> str:
    """Synthetic books as NDJSON of WebSocket l2Book messages (what tripwire data record writes)."""
    s = snapshots(n, edge)
    lines = []
    for i in range(n):
        levels = [
            [{"px": str(p), "sz": f"{q:.4f}", "n": 1} for p, q in zip(s.bid_px[i], s.bid_sz[i])],
            [{"px": str(p), "sz": f"{q:.4f}", "n": 1} for p, q in zip(s.ask_px[i], s.ask_sz[i])],
        ]
        lines.append(
            orjson.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": int(s.t_ms[i]), "levels": levels}})
        )
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def test_the_transformer_is_a_second_candidate_judged_against_both_baselines(store, tmp_path):
    pytest.importorskip("torch", reason="the alpha extra (PyTorch) is not installed: pip install '.[alpha]'")
    now = seed_history(store, 20)
    books = write_books(tmp_path / "books.ndjson", 1200, edge=0.45)
    alpha = AlphaConfig(
        enabled=True,
        files=(books,),
        levels=3,
        book_every_ms=0,  # every synthetic book (they are 0.6 s apart)
        window=6,
        horizon=4,
        folds=2,
        epochs=3,
        stride=1,
        batch=64,
        models_dir=tmp_path / "models",
        model_file=tmp_path / "models" / "alpha_model.pt",
    )
    result = run(lambda: run_retrain_model(store, None, _cfg(tmp_path, alpha=alpha), now))
    a = result.alpha
    assert a is not None and set(a["metrics"]) == {"transformer", "logistic", "no_skill"}
    assert a["metrics"]["transformer"]["n"] > 500
    assert a["path"].endswith(f"alpha_model-{result.version}.pt")
    assert a["promoted"] == alpha.model_file.exists()
    record = store.find_one("models", {"_id": f"alpha_model-{result.version}"})
    assert record["metrics"]["no_skill"]["n"] == a["metrics"]["no_skill"]["n"]
    assert "Order-book transformer" in result_markdown(result)


def test_without_recorded_books_the_candidate_is_skipped_with_the_reason(store, tmp_path):
    pytest.importorskip("torch", reason="the alpha extra (PyTorch) is not installed: pip install '.[alpha]'")
    now = seed_history(store, 20)
    result = run(lambda: run_retrain_model(store, None, _cfg(tmp_path, alpha=AlphaConfig(enabled=True)), now))
    assert result.alpha == {"skipped": "alpha.files is empty: no recorded books to train on"}
    assert "skipped" in result_markdown(result)


def test_the_candidate_is_off_by_default(store, tmp_path):
    now = seed_history(store, 20)
    assert run(lambda: run_retrain_model(store, None, _cfg(tmp_path), now)).alpha is None


def test_under_prefect_the_candidate_trains_on_the_replay_files_and_reports_in_the_artifact(tmp_path, prefect_harness):
    pytest.importorskip("torch", reason="the alpha extra (PyTorch) is not installed: pip install '.[alpha]'")
    import asyncio

    from prefect.client.orchestration import get_client

    from tripwire.flows.scheduled.retrain_model import retrain_model

    books = write_books(tmp_path / "books.ndjson", 1200, edge=0.45)
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "mode: sim\ncoins: [BTC]\n"
        f"store: {{uri: 'sqlite:///{tmp_path}/store.sqlite'}}\n"
        f"bus: {{commands: 'ipc://{tmp_path}/nobody.sock'}}\n"
        f"replay: {{files: ['{books}']}}\n"
        "flows:\n"
        f"  retrain_model: {{model_file: '{tmp_path}/m/local_model.json', models_dir: '{tmp_path}/m', "
        f"alpha: {{enabled: true, levels: 3, book_every_ms: 0, window: 6, horizon: 4, folds: 2, epochs: 2, "
        f"stride: 1, batch: 64, models_dir: '{tmp_path}/m', model_file: '{tmp_path}/m/alpha_model.pt'}}}}\n"
    )
    out = asyncio.run(retrain_model(str(settings)))
    a = out["alpha"]
    assert set(a["metrics"]) == {"transformer", "logistic", "no_skill"}, a
    assert a["path"].startswith(str(tmp_path / "m" / "alpha_model-"))

    async def artifact() -> str:
        async with get_client() as client:
            found = await client.read_latest_artifacts()
            return next(x.data for x in found if x.key == "local-model")

    assert "Order-book transformer" in asyncio.run(artifact())
