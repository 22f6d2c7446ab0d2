"""The Hyperliquid protocol pieces every package shares: L1 action signing, the request-weight budget."""
