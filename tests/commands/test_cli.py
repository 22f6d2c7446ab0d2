import os
import subprocess
import sys

import orjson

from tests.fixtures import REPO


def tripwire(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "tripwire", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_help_lists_every_subcommand():
    r = tripwire("--help")
    assert r.returncode == 0
    for name in ("demo", "replay", "sim", "flows"):
        assert name in r.stdout


def test_each_subcommand_has_help():
    for name in ("demo", "replay", "sim", "flows"):
        r = tripwire(name, "--help")
        assert r.returncode == 0 and "usage: tripwire " + name in r.stdout


def test_replay_json_summary_on_plain_ndjson_with_bad_frames(tmp_path):
    lines = [
        {
            "time": "t",
            "ver_num": 1,
            "raw": {
                "channel": "l2Book",
                "data": {
                    "coin": "BTC",
                    "time": 1000,
                    "levels": [[{"px": "100", "sz": "1", "n": 1}], [{"px": "100.5", "sz": "1", "n": 1}]],
                },
            },
        },
        {"channel": "l2Book", "data": {"coin": "BTC", "time": 2000, "levels": [[], []]}},
        {"channel": "mystery", "data": {}},
    ]
    f = tmp_path / "mini.ndjson"
    f.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    r = tripwire("replay", "--json", "--no-synthetic", str(f))
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["messages"] == {"l2Book": 1}
    assert {k: v["count"] for k, v in out["faults"].items()} == {"empty_book_side": 1, "unknown_channel": 1}
    assert out["triggers_by_rule"] == {}


def test_missing_file_is_a_clear_error(tmp_path):
    r = tripwire("replay", str(tmp_path / "nope.lz4"))
    assert r.returncode == 2 and "nope.lz4: no such file" in r.stderr


def test_bad_settings_stop_start_up_naming_file_and_key(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("book:\n  stale_after_ms: soon\n")
    r = tripwire("replay", "--config", str(cfg), "--json")
    assert r.returncode == 2
    assert str(cfg) in r.stderr and "book.stale_after_ms" in r.stderr


def test_flows_dispatch_has_help():
    r = tripwire("flows", "dispatch", "--help")
    assert r.returncode == 0 and "--events" in r.stdout


def test_watch_without_a_key_says_how_to_give_one():
    env = {k: v for k, v in os.environ.items() if k != "TRIPWIRE_WATCH_KEY"}
    r = tripwire("watch", env=env)
    assert r.returncode == 2
    assert "no API key: give --key or set TRIPWIRE_WATCH_KEY" in r.stderr


def test_a_bad_shard_spec_stops_the_hot_path_saying_the_form():
    r = tripwire("hotpath", "run", "--shard", "2/2")
    assert r.returncode != 0
    assert "--shard '2/2': in K/N, K must be 0…N-1" in r.stderr


def test_a_supervisor_of_zero_shards_is_refused_before_anything_starts():
    r = tripwire("hotpath", "shards", "0")
    assert r.returncode != 0 and "at least 1" in r.stderr
