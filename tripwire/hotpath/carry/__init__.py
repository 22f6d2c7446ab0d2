"""Funding carry: hold the side of a perpetual that receives funding, hedged with spot (docs/CARRY.md)."""
