"""The command channel: a ROUTER on the hot path, DEALER clients everywhere else.

- ``server``  :class:`CommandServer`, the hot path's side: validates each request completely
  before its handler runs, one reply per request (handlers refuse with :class:`CommandRefused`)
- ``clients`` :class:`CommandClient` and :class:`AsyncCommandClient`: one request at a time,
  :class:`CommandError` for an error reply, :class:`CommandTimeout` for none
- ``pool``    :class:`CommandClientPool`: a client per concurrent caller

Wire format and trade-offs: ``docs/BUS.md``.
"""

from tripwire.bus.commands.clients import AsyncCommandClient, CommandClient, CommandError, CommandTimeout
from tripwire.bus.commands.pool import CommandClientPool
from tripwire.bus.commands.server import CommandRefused, CommandServer, Handler

__all__ = [
    "AsyncCommandClient",
    "CommandClient",
    "CommandClientPool",
    "CommandError",
    "CommandRefused",
    "CommandServer",
    "CommandTimeout",
    "Handler",
]
