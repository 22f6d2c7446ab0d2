"""Getting market data: Hyperliquid's public archive (``fetch``) and your own captures (``recorder``).

Imports the hot path's feed connection (the recorder reuses it) and the replay reader's line
format; nothing else of tripwire's but the leaves.
"""
