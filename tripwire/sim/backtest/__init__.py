"""Fast in-process backtests: the hot path's pipeline, builders and risk checks against the
simulator's matching, with modelled order latency (docs/BACKTEST.md).

| module | job |
|---|---|
| ``latency.py`` | latency models: constant, lognormal, empirical; ``parse_latency`` |
| ``engine.py`` | the replay loop: market → exchange and hot path, triggers → orders after latency |
| ``ledger.py`` | per-trigger fills, PnL and outcome |
| ``report.py`` | the JSON summary and the HTML report |
| ``svg.py`` | inline SVG charts |
"""

from tripwire.sim.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from tripwire.sim.backtest.latency import LatencySpecError, parse_latency
from tripwire.sim.backtest.report import summarize, write_report

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "LatencySpecError",
    "parse_latency",
    "run_backtest",
    "summarize",
    "write_report",
]
