"""Maker rebates: a negative maker fee, accepted by ``tripwire sim`` and credited on a maker fill."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sim.exchange.conftest import KEY_A, address, book_msg, eth_book, exchange_for, info_for, later
from tripwire.commands import sim as cli
from tripwire.sim.exchange.server import start_in_thread


@pytest.fixture
def rebate_sim():
    """``tripwire sim --maker-fee -0.0002`` (built from the CLI's own arguments), ETH book, A funded."""
    args = cli.parser().parse_args(["--maker-fee", "-0.0002", "--fund", f"{address(KEY_A)}=10000"])
    server = cli.build(args)
    running = start_in_thread(server)
    now = running.call(server.clock.now_ms)
    running.call(lambda: server.ingest(eth_book(now), now))
    yield running
    running.stop()


def test_the_cli_accepts_a_negative_maker_fee_and_keeps_the_default_taker_fee():
    args = cli.parser().parse_args(["--maker-fee", "-0.0002"])
    assert (args.maker_fee, args.taker_fee) == (Decimal("-0.0002"), Decimal("0.00045"))


@pytest.mark.parametrize(
    "bad",
    [
        ["--taker-fee", "-0.0001"],  # a taker never earns a rebate
        ["--maker-fee", "-0.01"],  # a 1 % rebate is a typo
        ["--maker-fee", "0.045"],  # 4.5 %: a percent typed as a fraction
        ["--maker-fee", "lots"],
        ["--maker-fee", "NaN"],
    ],
)
def test_the_cli_refuses_fee_rates_that_cannot_be_meant(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parser().parse_args(bad)
    assert exc.value.code == 2
    assert "is not a fee rate" in capsys.readouterr().err


def test_a_negative_maker_fee_credits_the_account_on_a_maker_fill(rebate_sim):
    ex = exchange_for(rebate_sim)
    info = info_for(rebate_sim)
    before = Decimal(info.user_state(address())["marginSummary"]["accountValue"])
    resp = ex.order("ETH", True, 0.5, 1995.0, {"limit": {"tif": "Alo"}})
    [status] = resp["response"]["data"]["statuses"]
    oid = status["resting"]["oid"]
    # the next book's best ask (1994) crosses the resting bid: it fills as maker at its own price
    t = later(rebate_sim, 1000)
    rebate_sim.call(lambda: rebate_sim.server.ingest(book_msg("ETH", [("1993.0", "1.0")], [("1994.0", "3.0")], t), t))
    [fill] = info.user_fills(address())
    assert (fill["oid"], fill["px"], fill["sz"], fill["crossed"]) == (oid, "1995.0", "0.5", False)
    rebate = Decimal("997.5") * Decimal("0.0002")  # 0.1995 USDC
    assert Decimal(fill["fee"]) == -rebate
    state = info.user_state(address())
    # the balance gained the rebate; the position is worth mark − entry on top of it
    acct = rebate_sim.call(lambda: rebate_sim.server.engine.accounts[address()])
    assert acct.balance == Decimal(10_000) + rebate
    [pos] = state["assetPositions"]
    unrealized = Decimal(pos["position"]["unrealizedPnl"])
    assert Decimal(state["marginSummary"]["accountValue"]) == before + rebate + unrealized


def test_a_taker_still_pays_the_taker_fee_when_makers_earn_a_rebate(rebate_sim):
    ex = exchange_for(rebate_sim)
    [status] = ex.market_open("ETH", True, 0.5)["response"]["data"]["statuses"]
    assert status["filled"]["totalSz"] == "0.5"
    [fill] = info_for(rebate_sim).user_fills(address())
    assert fill["crossed"] is True
    assert Decimal(fill["fee"]) == Decimal("1000.0") * Decimal("0.00045")
