"""The hot path's ZeroMQ bus: events out (:class:`Publisher` → :class:`Subscriber`) and commands
in (:class:`CommandClient` → :class:`CommandServer`). Schemas: ``hotpath.contracts``; wire
format and trade-offs: ``docs/BUS.md``."""

from hotpath.bus.addresses import BusAddresses, default_addresses
from hotpath.bus.client import AsyncSubscriber, Gap, PublisherStats, Restart, SeqTracker, Subscriber
from hotpath.bus.commands import (AsyncCommandClient, CommandClient, CommandError, CommandRefused,
                                  CommandServer, CommandTimeout)
from hotpath.bus.publisher import Publisher

__all__ = ["AsyncCommandClient", "AsyncSubscriber", "BusAddresses", "CommandClient",
           "CommandError", "CommandRefused", "CommandServer", "CommandTimeout", "Gap",
           "Publisher", "PublisherStats", "Restart", "SeqTracker", "Subscriber",
           "default_addresses"]
