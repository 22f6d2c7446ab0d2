"""The hot path's ZeroMQ bus: events out (:class:`Publisher` → :class:`Subscriber`) and commands
in (:class:`CommandClient` → :class:`CommandServer`). Schemas: ``tripwire.contracts.events``; wire
format and trade-offs: ``docs/BUS.md``."""

from tripwire.bus.addresses import (
    BusAddressError,
    BusAddresses,
    configured_address,
    configured_addresses,
    default_addresses,
)
from tripwire.bus.client import AsyncSubscriber, Gap, PublisherStats, Restart, SeqTracker, Subscriber
from tripwire.bus.commands import (
    AsyncCommandClient,
    CommandClient,
    CommandClientPool,
    CommandError,
    CommandRefused,
    CommandServer,
    CommandTimeout,
)
from tripwire.bus.publisher import Publisher

__all__ = [
    "AsyncCommandClient",
    "AsyncSubscriber",
    "BusAddressError",
    "BusAddresses",
    "CommandClient",
    "CommandClientPool",
    "CommandError",
    "CommandRefused",
    "CommandServer",
    "CommandTimeout",
    "Gap",
    "Publisher",
    "PublisherStats",
    "Restart",
    "SeqTracker",
    "Subscriber",
    "configured_address",
    "configured_addresses",
    "default_addresses",
]
