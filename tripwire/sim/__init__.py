"""The simulated side: the local Hyperliquid-compatible exchange, the backtest on its matching, and offline replay
(archive reader, synthetic trades and contexts, the pipeline-only runner)."""
