"""refresh_leaderboard: streamed parsing, rank-percentile scoring, the tracked top N, and
nothing changed when the download fails."""

from __future__ import annotations

import bisect
import json
import math
import time

import numpy as np
import pytest

from tests.flows.scheduled.fakes import RATE_LIMITED, SERVER_ERROR, FakeExchange, Reply, run
from tests.flows.scheduled.leaderboard_data import generate
from tripwire.flows.scheduled.config import RefreshLeaderboardConfig
from tripwire.flows.scheduled.leaderboard import LeaderboardTable, rank_percentile, score_table, tracked_docs
from tripwire.flows.scheduled.leaderboard_stream import RowDecoder
from tripwire.flows.scheduled.refresh_leaderboard import run_refresh_leaderboard
from tripwire.flows.scheduled.upstream import BadUpstreamData, RateLimited, UpstreamHttpError

NOW = 1_700_000_000_000


def _row(
    address: str, av: float, day=(0, 0, 0), week=(0, 0, 0), month=(0, 0, 0), all_time=(0, 0, 0), name=None
) -> dict:
    w = lambda p, r, v: {"pnl": str(p), "roi": str(r), "vlm": str(v)}
    return {
        "ethAddress": address,
        "accountValue": str(av),
        "prize": 0,
        "displayName": name,
        "windowPerformances": [["day", w(*day)], ["week", w(*week)], ["month", w(*month)], ["allTime", w(*all_time)]],
    }


def _table(rows) -> LeaderboardTable:
    t = LeaderboardTable()
    for r in rows:
        t.add(r)
    return t


# -- streaming -------------------------------------------------------------------------------


def test_rows_come_out_whole_however_the_body_is_split():
    body, rows = generate(40)
    body = body.replace(b'"leaderboardRows":', b'"leaderboardRows" :\n ')  # whitespace is legal
    for step in (1, 7, 1000):
        d = RowDecoder()
        got = []
        for i in range(0, len(body), step):
            got += d.feed(body[i : i + step])
        got += d.finish()
        assert got == rows


def test_a_multibyte_character_split_across_chunks_is_kept():
    body = json.dumps({"leaderboardRows": [_row("0x" + "a" * 40, 1, name="Zoë 🚀")]}, ensure_ascii=False).encode()
    d = RowDecoder()
    got = [r for i in range(len(body)) for r in d.feed(body[i : i + 1])] + d.finish()
    assert got[0]["displayName"] == "Zoë 🚀"


@pytest.mark.parametrize(
    "body, words",
    [
        (b'{"leaderboardRows":[{"ethAddress":"0x1"},{"ethAdd', "after 1 rows"),
        (b'{"leaderboardRows":[{"ethAddress":"0x1"}]', "before the closing brace"),
        (b'{"leaderbo', 'before "leaderboardRows"'),
        (b"", 'before "leaderboardRows"'),
    ],
)
def test_a_body_that_ends_early_is_reported_as_truncated(body, words):
    d = RowDecoder("GET x")
    d.feed(body)
    with pytest.raises(BadUpstreamData, match="truncated") as e:
        d.finish()
    assert words in str(e.value)


def test_a_body_of_the_wrong_shape_is_refused():
    with pytest.raises(BadUpstreamData, match="not an array"):
        RowDecoder().feed(b'{"leaderboardRows": {"a": 1}}')


# -- scoring ---------------------------------------------------------------------------------


def test_rank_percentile_spans_zero_to_one_and_ties_share_their_rank():
    assert rank_percentile(np.array([10.0, -5.0, 3.0])).tolist() == [1.0, 0.0, 0.5]
    assert rank_percentile(np.array([1.0, 1.0, 2.0, 0.0])).tolist() == [0.5, 0.5, 1.0, 0.0]
    assert rank_percentile(np.array([7.0])).tolist() == [1.0]


def test_score_weights_the_five_components_and_skips_small_accounts():
    cfg = RefreshLeaderboardConfig(min_account_value_usd=1000)
    a, b, c, tiny = ("0x" + ch * 40 for ch in "abcd")
    table = _table(
        [
            # a: best all-time ROI only; b: best month and week ROI; c: biggest and busiest
            _row(a, 5000, all_time=(0, 3.0, 0), month=(0, 0.0, 10), week=(0, 0.0, 0)),
            _row(b, 4000, all_time=(0, 0.5, 0), month=(0, 0.9, 20), week=(0, 0.4, 0)),
            _row(c, 90000, all_time=(0, 0.1, 0), month=(0, 0.1, 90), week=(0, 0.1, 0)),
            _row(tiny, 50, all_time=(0, 400.0, 0), month=(0, 50.0, 1e9), week=(0, 9.0, 0)),
        ]
    )
    scored = score_table(table, cfg)
    docs = {d["address"]: d for d in tracked_docs(table, scored, 10, NOW)}
    assert tiny not in docs and scored.eligible == 3
    # percentiles among 3: 0, 0.5, 1
    assert docs[a]["score"] == pytest.approx(0.30 * 1 + 0.25 * 0 + 0.20 * 0 + 0.15 * 0.5 + 0.10 * 0)
    assert docs[b]["score"] == pytest.approx(0.30 * 0.5 + 0.25 * 1 + 0.20 * 1 + 0.15 * 0 + 0.10 * 0.5)
    assert docs[c]["score"] == pytest.approx(0.30 * 0 + 0.25 * 0.5 + 0.20 * 0.5 + 0.15 * 1 + 0.10 * 1)
    assert [d["address"] for d in sorted(docs.values(), key=lambda d: d["rank"])] == [b, c, a]
    assert docs[b]["components"]["month_roi"] == 1.0


def test_likely_active_needs_day_roi_pnl_share_and_volume():
    cfg = RefreshLeaderboardConfig(min_account_value_usd=0)
    rows = [
        _row("0x" + "1" * 40, 100_000, day=(200, 0.002, 150_000)),  # active
        _row("0x" + "2" * 40, 100_000, day=(200, 0.002, 90_000)),  # volume too low
        _row("0x" + "3" * 40, 100_000, day=(50, 0.002, 150_000)),  # PnL 0.05 % of account
        _row("0x" + "4" * 40, 100_000, day=(200, 0.00005, 150_000)),  # ROI 0.005 %
    ]
    table = _table(rows)
    docs = {d["address"][2]: d["likely_active"] for d in tracked_docs(table, score_table(table, cfg), 10, NOW)}
    assert docs == {"1": True, "2": False, "3": False, "4": False}


def test_nan_values_and_missing_windows_count_as_zero_and_bad_rows_are_counted():
    table = _table(
        [
            {
                "ethAddress": "0x" + "5" * 40,
                "accountValue": "NaN",
                "windowPerformances": [["day", {"pnl": "1", "roi": "Infinity", "vlm": "2"}]],
                "displayName": None,
            },
            {"ethAddress": "not-an-address", "accountValue": "1", "windowPerformances": []},
        ]
    )
    assert len(table) == 1 and table.bad_rows == 1
    assert table.values[0].tolist()[:4] == [0.0, 1.0, 0.0, 2.0]


def _reference_top(rows: list[dict], cfg: RefreshLeaderboardConfig, n: int) -> list[str]:
    """The same scoring written the slow, obvious way (bisect percentiles)."""

    def f(v):
        try:
            x = float(v)
        except (TypeError, ValueError):
            return 0.0
        return x if math.isfinite(x) else 0.0

    people = []
    for r in rows:
        w = {k: v for k, v in r["windowPerformances"]}
        get = lambda win, m: f(w.get(win, {}).get(m))
        av = f(r["accountValue"])
        if av >= cfg.min_account_value_usd:
            people.append(
                (
                    r["ethAddress"],
                    av,
                    get("allTime", "roi"),
                    get("month", "roi"),
                    get("week", "roi"),
                    get("month", "vlm"),
                )
            )
    cols = list(zip(*people))[1:]
    sorted_cols = [sorted(c) for c in cols]
    m = len(people) - 1

    def pct(k, x):
        s = sorted_cols[k]
        return (bisect.bisect_left(s, x) + bisect.bisect_right(s, x) - 1) / 2 / m

    weights = (0.15, 0.30, 0.25, 0.20, 0.10)  # av, all-time, month, week, volume
    scored = [(sum(wt * pct(k, p[k + 1]) for k, wt in enumerate(weights)), p[1], p[0]) for p in people]
    scored.sort(key=lambda s: (-round(s[0], 9), -s[1], s[2]))
    return [s[2] for s in scored[:n]]


def test_fifty_thousand_rows_streamed_from_a_server_give_the_top_500(store):
    body, rows = generate(50_000)
    cfg_kw = {}

    async def go():
        async with FakeExchange() as ex:
            ex.leaderboard = body
            cfg = RefreshLeaderboardConfig(url=ex.leaderboard_url, **cfg_kw)
            t0 = time.perf_counter()
            result = await run_refresh_leaderboard(store, cfg, NOW)
            return cfg, result, time.perf_counter() - t0

    cfg, result, took = run(go)
    print(f"\n50,000-row leaderboard ({len(body) / 1e6:.1f} MB): parsed, scored and stored in {took:.2f} s")
    assert result.rows == 50_000 and result.bad_rows == 0 and result.tracked == 500
    tracked = store.find("tracked_traders", sort=[("rank", 1)])
    assert [d["rank"] for d in tracked] == list(range(1, 501))
    assert [d["address"] for d in tracked] == _reference_top(rows, cfg, 500)
    assert all(d["account_value"] >= cfg.min_account_value_usd for d in tracked)
    assert store.count("leaderboard_history", {"ts": NOW}) == 500


def test_a_later_refresh_replaces_traders_who_fell_out(store):
    a, b, c = ("0x" + ch * 40 for ch in "abc")

    async def refresh(rows, now):
        async with FakeExchange() as ex:
            ex.leaderboard = json.dumps({"leaderboardRows": rows}).encode()
            cfg = RefreshLeaderboardConfig(url=ex.leaderboard_url, top_n=2, min_account_value_usd=0)
            return await run_refresh_leaderboard(store, cfg, now)

    run(
        lambda: refresh(
            [_row(a, 10, all_time=(0, 3, 0)), _row(b, 10, all_time=(0, 2, 0)), _row(c, 10, all_time=(0, 1, 0))], NOW
        )
    )
    assert {d["address"] for d in store.find("tracked_traders")} == {a, b}
    result = run(
        lambda: refresh(
            [_row(a, 10, all_time=(0, 1, 0)), _row(b, 10, all_time=(0, 2, 0)), _row(c, 10, all_time=(0, 3, 0))],
            NOW + 86_400_000,
        )
    )
    assert {d["address"] for d in store.find("tracked_traders")} == {b, c}
    assert result.dropped == 1
    assert store.count("leaderboard_history") == 4


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (SERVER_ERROR, UpstreamHttpError, "HTTP 500"),
        (RATE_LIMITED, RateLimited, "429"),
        (Reply(200, generate(300)[0][:40_000], cut=True), BadUpstreamData, "truncated"),
        (Reply(200, generate(300)[0][:-2]), BadUpstreamData, "truncated"),
    ],
)
def test_a_failed_download_leaves_the_tracked_traders_as_they_were(store, bad, error, words):
    before = {"address": "0x" + "e" * 40, "rank": 1, "score": 0.9}
    store.upsert("tracked_traders", {"address": before["address"]}, before)

    async def go():
        async with FakeExchange() as ex:
            ex.leaderboard = bad
            await run_refresh_leaderboard(store, RefreshLeaderboardConfig(url=ex.leaderboard_url), NOW)

    with pytest.raises(error) as e:
        run(go)
    assert words in str(e.value) and "leaderboard" in str(e.value)
    [kept] = store.find("tracked_traders")
    assert {k: kept[k] for k in before} == before
    assert store.count("leaderboard_history") == 0
