"""Bounds shared by the request models: a number the store or the clock cannot hold is refused
with 422 at the door, not found out as a store failure (503) after validation let it in."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# 9999-12-31T23:59:59.999Z, the last millisecond a datetime (and an ISO 8601 answer) can show;
# far below SQLite's and BSON's 64-bit integers.
EPOCH_MS_MAX = 253_402_300_799_999
INT64_MAX = 2**63 - 1

EpochMs = Annotated[int, Field(ge=0, le=EPOCH_MS_MAX, description="epoch milliseconds")]
