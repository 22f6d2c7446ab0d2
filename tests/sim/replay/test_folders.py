"""Replaying folders: the archive's tree with its asset-context CSVs, several coins at once, and
synthetic data only where a coin's files lack it (and the summary saying so)."""

from __future__ import annotations

import lz4.frame
import orjson
import pytest

from tests.data.archive_bucket import archive_objects, asset_ctxs_csv, node_objects, synthetic_trades
from tests.fixtures import RECORDING
from tripwire.cli import main
from tripwire.config.settings import load_settings
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.sim.replay.asset_ctxs import CtxReadStats, read_asset_ctxs
from tripwire.sim.replay.folders import scan
from tripwire.sim.replay.node_trades import NodeReadStats, read_node_trades
from tripwire.sim.replay.recordings import ArchiveError
from tripwire.sim.replay.runner import StreamSources, features_fed_by, replay, replay_stream
from tripwire.sim.replay.synthetic import with_synthetic

SETTINGS = load_settings("config/settings.yaml")
RULES = load_rules("config/triggers.yaml")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The archive's layout on disk as `tripwire data fetch` leaves it: 24 hours of BTC and ETH
    books (hour 12 of BTC the real recording) and the day's asset-context CSV."""
    root = tmp_path_factory.mktemp("archive")
    for key, body in archive_objects().items():
        if "/12/" in key or "/13/" in key or key.startswith("asset_ctxs/"):
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(body)
    (root / "market_data/20240101/13/l2Book/BTC.lz4.part").write_bytes(b"half a download")
    return root


def test_the_folder_scan_orders_each_stream_by_hour_and_leaves_parts_out(archive):
    c = scan(archive)
    assert sorted(c.streams) == [("l2Book", "BTC"), ("l2Book", "ETH")]
    assert [p.parent.parent.parent.name + "/" + p.parent.parent.name for p in c.streams[("l2Book", "BTC")]] == [
        "20240101/12",
        "20240101/13",
    ]
    assert [p.name for p in c.asset_ctxs] == ["20240101.csv.lz4"] and c.loose == []


def test_asset_context_rows_become_active_asset_ctx_messages_in_the_wire_shape(tmp_path):
    stats = CtxReadStats()
    [(t, msg), *_] = list(read_asset_ctxs(_csv(tmp_path, asset_ctxs_csv()), ["ETH"], stats))
    assert t == 1_704_110_400_000  # 2024-01-01T12:00:00Z
    assert msg == {
        "channel": "activeAssetCtx",
        "data": {
            "coin": "ETH",
            "ctx": {
                "funding": "0.0000125",
                "openInterest": "1000",
                "prevDayPx": "2250.0",
                "dayNtlVlm": "123456789.5",
                "oraclePx": "2349.0",
                "markPx": "2350.0",
                "premium": "0.0002",
                "midPx": "2350.5",
                "impactPxs": ["2348.0", "2352.0"],
            },
        },
    }
    assert stats.by_coin == {"ETH": 60} and stats.skipped == 0


def test_illiquid_rows_drop_empty_optional_fields_and_rows_missing_a_required_one_are_skipped(tmp_path):
    header = asset_ctxs_csv().splitlines()[0]
    text = "\n".join(
        [
            header,
            "2024-01-01 12:00:00,DOGE,0.0001,5,0.08,10,,0.08,0.08,null,,",
            "2024-01-01 12:01:00.000,DOGE,,5,0.08,10,0,0.08,0.08,0.08,0.079,0.081",
        ]
    )
    stats = CtxReadStats()
    [(t, msg)] = list(read_asset_ctxs(_csv(tmp_path, text), None, stats))
    assert t == 1_704_110_400_000
    assert sorted(msg["data"]["ctx"]) == ["dayNtlVlm", "funding", "markPx", "openInterest", "oraclePx", "prevDayPx"]
    assert stats.skipped == 1


def test_a_file_that_is_not_an_asset_context_csv_is_refused_by_name(tmp_path):
    path = _csv(tmp_path, "a,b\n1,2\n")
    with pytest.raises(ArchiveError, match=r"20240101.csv.lz4: not an asset-context CSV \(no column time"):
        list(read_asset_ctxs(path))


def test_a_folder_replays_every_coin_with_contexts_from_the_csv_and_only_trades_synthetic(archive):
    s = replay([archive], SETTINGS, RULES, synthetic=True, seed=7)
    assert s.sources == {
        "BTC": {"l2Book": "file", "activeAssetCtx": "asset_ctxs csv", "trades": "synthetic"},
        "ETH": {"l2Book": "file", "activeAssetCtx": "asset_ctxs csv", "trades": "synthetic"},
    }
    assert s.synthetic["BTC"] == {"channels": ["trades"], "features": features_fed_by(["trades"])}
    assert "cvd_usd" in s.synthetic["BTC"]["features"] and "atr_1m" in s.synthetic["BTC"]["features"]
    assert "funding_bps" not in s.synthetic["BTC"]["features"]
    assert s.messages["activeAssetCtx"] == 120  # 60 minutes × 2 coins, from the CSV alone
    assert s.messages["l2Book"] == 5587 + 30 + 30 + 30
    assert s.feature_coverage["funding_bps"] > 0 and s.feature_coverage["cvd_usd"] > 0


def test_the_merged_folder_stream_is_in_time_order_across_coins_and_kinds(archive):
    times = []
    for msg in replay_stream([archive], synthetic=False, seed=7):
        data = msg["data"]
        times.append(data.get("time"))
    books = [t for t in times if t is not None]
    assert books == sorted(books) and len(times) == 5587 + 90 + 120


def test_coins_limit_a_folder_and_without_synthetic_nothing_is_generated(archive):
    s = replay([archive], SETTINGS, RULES, synthetic=False, coins=["ETH"])
    assert set(s.sources) == {"ETH"} and s.synthetic == {}
    assert "trades" not in s.messages and s.messages["activeAssetCtx"] == 60


def test_a_loose_file_with_books_only_gets_the_same_synthetic_stream_as_before(tmp_path):
    from tripwire.sim.replay.recordings import read_messages

    assert list(replay_stream([RECORDING], synthetic=True, seed=7)) == list(
        with_synthetic(read_messages(RECORDING), seed=7)
    )


def test_a_loose_file_with_real_trades_gets_no_synthetic_trades(tmp_path):
    path = tmp_path / "mixed.ndjson"
    books = [orjson.loads(line) for line in lz4.frame.decompress(RECORDING.read_bytes()).splitlines()[:50]]
    trade = {"coin": "BTC", "side": "B", "px": "42730.0", "sz": "0.1", "time": 0, "hash": "0x0", "tid": 1}
    lines = []
    for i, b in enumerate(books):
        lines.append(b)
        t = b["raw"]["data"]["time"] + 1
        lines.append(
            {"time": b["time"], "ver_num": 1, "raw": {"channel": "trades", "data": [{**trade, "time": t, "tid": i}]}}
        )
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    s = replay([path], SETTINGS, RULES, synthetic=True, seed=7)
    assert s.sources["BTC"] == {"l2Book": "file", "trades": "file", "activeAssetCtx": "synthetic"}
    assert s.synthetic == {"BTC": {"channels": ["activeAssetCtx"], "features": features_fed_by(["activeAssetCtx"])}}
    assert s.messages["trades"] == 50


def test_the_replay_command_names_the_synthetic_features_and_reads_folders(archive, capsys):
    assert main(["replay", str(archive), "--coins", "BTC"]) == 0
    out = capsys.readouterr().out
    assert "synthetic for BTC (the data has no trades): " in out and "cvd_usd" in out
    assert main(["replay", str(archive / "nothing-here")]) == 2
    assert "nothing-here: no such file" in capsys.readouterr().err


def _csv(tmp_path, text: str):
    path = tmp_path / "asset_ctxs" / "20240101.csv.lz4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lz4.frame.compress(text.encode()))
    return path


def test_a_backtest_over_a_folder_trades_every_coin_and_reports_what_was_synthetic(archive):
    from tripwire.hotpath.risk.config import load_risk_config
    from tripwire.sim.backtest.engine import BacktestConfig, run_backtest

    result = run_backtest([archive], SETTINGS, RULES, load_risk_config("config/risk.yaml"), BacktestConfig())
    assert result.bad_market_messages == 0
    assert set(result.sources) == {"BTC", "ETH"} and result.synthetic["ETH"]["channels"] == ["trades"]
    assert result.messages["activeAssetCtx"] == 120


@pytest.fixture(scope="module")
def trades():
    return synthetic_trades(300)


@pytest.mark.parametrize("kind", ["node_fills_by_block", "node_trades"])
def test_node_trade_files_replay_as_real_trades_and_nothing_is_synthesised_for_them(tmp_path, trades, kind):
    key = f"{kind}/hourly/20240101/12.lz4"
    (tmp_path / key).parent.mkdir(parents=True)
    (tmp_path / key).write_bytes(node_objects(trades)[key])
    book_key = "market_data/20240101/12/l2Book/BTC.lz4"
    (tmp_path / book_key).parent.mkdir(parents=True)
    (tmp_path / book_key).write_bytes(RECORDING.read_bytes())
    sources = StreamSources()
    got = [m["data"] for m in replay_stream([tmp_path], True, 7, sources=sources) if m["channel"] == "trades"]
    assert all(len(d) == 1 for d in got)
    got_trades = [d[0] for d in got]
    fields = ("coin", "side", "px", "sz", "time", "users", "hash")
    assert [tuple(t[f] for f in fields) for t in got_trades] == [tuple(t[f] for f in fields) for t in trades]
    if kind == "node_fills_by_block":
        assert [t["tid"] for t in got_trades] == [t["tid"] for t in trades]
    else:  # node_trades carries no trade id: numbered from the hour's start, increasing
        tids = [t["tid"] for t in got_trades]
        assert tids == sorted(set(tids)) and tids[0] == 1_704_110_400_000 * 1000 + 1
    assert sources.by_coin["BTC"] == {"l2Book": "file", "trades": kind, "activeAssetCtx": "synthetic"}
    assert sources.synthetic() == {
        "BTC": {"channels": ["activeAssetCtx"], "features": features_fed_by(["activeAssetCtx"])}
    }


def test_a_lone_maker_fill_gives_the_opposite_aggressor_and_unreadable_lines_are_skipped(tmp_path):
    fill = {"coin": "BTC", "px": "1.0", "sz": "2", "side": "B", "time": 5, "hash": "0x1", "tid": 9, "crossed": False}
    path = tmp_path / "node_fills/hourly/20240101/0.lz4"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        lz4.frame.compress(orjson.dumps(["0xmaker", fill]) + b"\nnot json\n" + orjson.dumps({"x": 1}) + b"\n")
    )
    stats = NodeReadStats()
    [(t, msg)] = list(read_node_trades(path, "node_fills", None, stats))
    assert t == 5 and msg["data"][0]["side"] == "A" and msg["data"][0]["users"] == ["0xmaker", ""]
    assert stats.skipped_lines == 2
