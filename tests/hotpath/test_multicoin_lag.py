"""The lag breaker with several coins: judged on the worst coin, followed book by book."""

from __future__ import annotations

import orjson

from tripwire.config.settings import load_settings
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.service import HotPath

SETTINGS = load_settings("config/settings.yaml", coins=("BTC", "ETH", "SOL"))
T0 = 1_704_110_400_000


def book(coin: str, t: int, mid: float) -> bytes:
    return orjson.dumps(
        {
            "channel": "l2Book",
            "data": {
                "coin": coin,
                "time": t,
                "levels": [
                    [{"px": str(mid - 1), "sz": "5", "n": 1}, {"px": str(mid - 2), "sz": "10", "n": 2}],
                    [{"px": str(mid + 1), "sz": "5", "n": 1}, {"px": str(mid + 2), "sz": "10", "n": 2}],
                ],
            },
        }
    )


def test_the_breaker_holds_while_the_worst_coin_lags_and_lifts_when_it_catches_up():
    hp = HotPath(SETTINGS, RiskManager(load_risk_config("config/risk.yaml")))
    trips = []
    hp.on_trips = trips.extend
    mids = {"BTC": 42_000.0, "ETH": 2_300.0, "SOL": 100.0}

    def tick(k: int, late: dict[str, int]) -> None:
        t = T0 + k * 500
        for coin, mid in mids.items():
            hp.on_frame(book(coin, t, mid), (t - T0 + 40 + late.get(coin, 0)) * 1_000_000)

    for k in range(10):
        tick(k, {})
    assert hp.risk.lagging is None
    for k in range(10, 20):  # ETH's books arrive 2.8 s late, the others on time
        tick(k, {"ETH": 2_800})
    assert hp.risk.lagging is not None and [t.breaker for t in trips] == ["ws_lag"]
    assert hp.ws_lag_ms()["ETH"] >= 2_700 and hp.ws_lag_ms()["BTC"] < 100
    for k in range(20, 24):  # BTC and SOL on time do not lift it while ETH is still late
        t = T0 + k * 500
        for coin in ("BTC", "SOL"):
            hp.on_frame(book(coin, t, mids[coin]), (t - T0 + 40) * 1_000_000)
    assert hp.risk.lagging is not None
    for k in range(24, 30):  # ETH catches up
        tick(k, {})
    assert hp.risk.lagging is None
    assert max(hp.ws_lag_ms().values()) < 100
