"""The backtest report's price chart: the mid, the resting quotes, every fill and the position,
as inline SVG in the one HTML file (nothing fetched when it opens)."""

from __future__ import annotations

import re

import pytest

from tests.sim.backtest.test_quoting import quote_fills, run
from tripwire.sim.backtest import write_report
from tripwire.sim.backtest.svg import price_chart


@pytest.fixture(scope="module")
def quoted():
    return run()


def test_the_chart_series_follow_the_simulator(quoted):
    c = quoted.chart["BTC"]
    # one sample per book, in time order, the mid as the simulator's book had it
    assert len(c.mid) == len(c.position) == len(c.bid) == len(c.ask) > 1000
    assert [t for t, _ in c.mid] == sorted(t for t, _ in c.mid)
    # every fill of the account is on the chart, quote fills as bid/ask
    assert len(c.fills) == len(quoted.account.fills)
    assert sum(1 for *_, leg in c.fills if leg in ("bid", "ask")) == len(quote_fills(quoted))
    # the position ends where the account does
    assert c.position[-1][1] == float(quoted.account.position("BTC"))
    # quotes rested most of the hour, the bid below the mid (as a rule: a wide book can put
    # the mid below a bid that still rests under the best ask)
    bids = [(t, px) for t, px in c.bid if px is not None]
    mids = dict(c.mid)
    assert len(bids) > len(c.bid) / 2
    assert sum(px < mids[t] for t, px in bids) > 0.9 * len(bids)


def test_the_report_holds_the_price_chart_inline(quoted, tmp_path):
    write_report(quoted, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "BTC: price, quotes, fills and position" in html
    chart = html[html.index("BTC: price, quotes") :]
    chart = chart[chart.index("<svg") : chart.index("</svg>")]
    assert chart.count("<polygon") >= len(quoted.chart["BTC"].fills)  # a marker per fill
    assert "position" in chart and "take-profit" in chart
    assert not re.search(r"(src|href)=\"https?:", html)  # nothing to download


def test_an_empty_chart_says_so():
    assert "no data" in price_chart([], [], [], [], [], "nothing")
