"""What a requester-pays download costs the requester. Pure.

The prices are AWS's published S3 Standard prices for us-east-1 (where both Hyperliquid buckets
are), as of 2026; they change rarely, but they do change: check https://aws.amazon.com/s3/pricing/
before a large pull. AWS bills data transfer per GB of 2**30 bytes.

- Data transfer out to the internet: $0.09 per GB (the first 10 TB a month; cheaper beyond).
  Transfer to an EC2 instance in us-east-1 is free: pulling from there costs only requests.
- GET (and HEAD) requests: $0.0004 per 1,000.
- LIST requests: $0.005 per 1,000 (a listing returns at most 1,000 keys per request).
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSFER_OUT_USD_PER_GB = 0.09
GET_USD_PER_1000 = 0.0004
LIST_USD_PER_1000 = 0.005
GB = 2**30


@dataclass(frozen=True)
class CostEstimate:
    bytes: int
    get_requests: int
    list_requests: int

    @property
    def transfer_usd(self) -> float:
        return self.bytes / GB * TRANSFER_OUT_USD_PER_GB

    @property
    def requests_usd(self) -> float:
        return self.get_requests / 1000 * GET_USD_PER_1000 + self.list_requests / 1000 * LIST_USD_PER_1000

    @property
    def total_usd(self) -> float:
        return self.transfer_usd + self.requests_usd

    def describe(self) -> str:
        return (
            f"estimated cost to you (requester pays): ${self.total_usd:,.4f} = "
            f"{self.bytes / GB:,.3f} GB out × ${TRANSFER_OUT_USD_PER_GB}/GB (${self.transfer_usd:,.4f}) + "
            f"{self.get_requests:,} GET × ${GET_USD_PER_1000}/1000 + "
            f"{self.list_requests:,} LIST × ${LIST_USD_PER_1000}/1000 (${self.requests_usd:,.4f}); "
            "transfer is free to EC2 in us-east-1"
        )
