"""snapshot_market: tickers and open interest every minute, settled funding once an hour, and
nothing stored when the exchange answers badly."""

from __future__ import annotations

import pytest

from tests.flows.scheduled.fakes import RATE_LIMITED, SERVER_ERROR, FakeExchange, Reply, run, truncated_json
from tests.flows.scheduled.samples import HOUR_MS, funding_rows, meta_and_asset_ctxs
from tests.sim.exchange.conftest import start_funded_sim
from tripwire.flows.scheduled.config import SnapshotMarketConfig
from tripwire.flows.scheduled.market import parse_meta_and_ctxs, snapshot_docs
from tripwire.flows.scheduled.snapshot_market import run_snapshot_market, snapshot_coins
from tripwire.flows.scheduled.upstream import BadUpstreamData, InfoClient, RateLimited, UpstreamHttpError

NOW = 1_700_000_000_000 + 30 * 60_000  # half past an hour


def test_a_snapshot_gives_mark_oracle_funding_and_open_interest_per_coin():
    tickers, ois = snapshot_docs(parse_meta_and_ctxs(meta_and_asset_ctxs()), None, NOW)
    assert [t["coin"] for t in tickers] == ["BTC", "ETH"]  # the delisted coin is left out
    btc, eth = tickers
    assert btc["mark_px"] == 101020.0 and btc["oracle_px"] == 101000.0
    assert btc["funding_rate"] == 0.0000125 and btc["impact_ask_px"] == 101025.0
    assert btc["change_24h_pct"] == pytest.approx(1.02)
    assert eth["mid_px"] is None and eth["impact_bid_px"] is None  # null on the wire
    assert ois[0]["open_interest_usd"] == pytest.approx(30123.45 * 101020.0)


def test_a_configured_coin_the_exchange_does_not_list_is_an_error_not_silence():
    with pytest.raises(BadUpstreamData, match="no perpetual DOGE"):
        snapshot_docs(parse_meta_and_ctxs(meta_and_asset_ctxs()), ["BTC", "DOGE"], NOW)


def test_coins_default_to_the_settings_coins_and_all_means_every_perpetual():
    assert snapshot_coins(SnapshotMarketConfig(), ("BTC",)) == ["BTC"]
    assert snapshot_coins(SnapshotMarketConfig(coins="all"), ("BTC",)) is None


def test_snapshot_of_the_simulator_is_stored(store):
    sim = start_funded_sim("0x" + "11" * 20)
    try:

        async def go():
            async with InfoClient(sim.url) as info:
                return await run_snapshot_market(store, info, SnapshotMarketConfig(), NOW, ["ETH"])

        result = run(go)
    finally:
        sim.stop()
    [ticker] = store.find("ticker")
    assert ticker["coin"] == "ETH" and ticker["mark_px"] == 1999.5 and ticker["ts"] == NOW
    assert store.count("open_interest") == 1
    assert result.funding_rows == {"ETH": 0}  # the simulator has no settlements yet


def _exchange_with_funding(ex: FakeExchange) -> None:
    ex.info["metaAndAssetCtxs"] = meta_and_asset_ctxs()
    ex.info["fundingHistory"] = lambda body: funding_rows(body["coin"], body["startTime"], ex.now)


def test_funding_history_is_backfilled_once_an_hour_without_duplicates(store):
    cfg = SnapshotMarketConfig(funding_backfill_days=1)

    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            _exchange_with_funding(ex)
            ex.now = NOW
            first = await run_snapshot_market(store, info, cfg, NOW, ["BTC", "ETH"])
            ex.now = NOW + 60_000
            second = await run_snapshot_market(store, info, cfg, NOW + 60_000, ["BTC", "ETH"])
            ex.now = NOW + HOUR_MS
            third = await run_snapshot_market(store, info, cfg, NOW + HOUR_MS, ["BTC", "ETH"])
            return first, second, third, ex.count("fundingHistory")

    first, second, third, asked = run(go)
    assert first.funding_rows == {"BTC": 24, "ETH": 24}  # a day of hourly settlements
    assert second.funding_rows == {}  # less than an hour later: not asked
    assert third.funding_rows == {"BTC": 1, "ETH": 1}  # the next settlement only
    assert asked == 4
    assert store.count("funding_history", {"coin": "BTC"}) == 25
    assert store.count("ticker") == 6


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (SERVER_ERROR, UpstreamHttpError, "HTTP 500"),
        (RATE_LIMITED, RateLimited, "429 rate-limited"),
        (truncated_json(meta_and_asset_ctxs()), BadUpstreamData, "not valid JSON"),
        (Reply(200, b'[{"universe": [', cut=True), BadUpstreamData, "truncated"),
    ],
)
def test_a_bad_answer_stores_nothing_and_says_what_failed(store, bad, error, words):
    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            ex.info["metaAndAssetCtxs"] = bad
            await run_snapshot_market(store, info, SnapshotMarketConfig(), NOW, ["BTC"])

    with pytest.raises(error) as e:
        run(go)
    assert words in str(e.value) and "metaAndAssetCtxs" in str(e.value)
    assert store.count("ticker") == store.count("open_interest") == 0


def test_a_bad_funding_answer_stores_nothing_either(store):
    async def go():
        async with FakeExchange() as ex, InfoClient(ex.url) as info:
            ex.info["metaAndAssetCtxs"] = meta_and_asset_ctxs()
            ex.info["fundingHistory"] = SERVER_ERROR
            await run_snapshot_market(store, info, SnapshotMarketConfig(), NOW, ["BTC"])

    with pytest.raises(UpstreamHttpError, match="fundingHistory: HTTP 500"):
        run(go)
    assert store.count("ticker") == store.count("funding_history") == 0
