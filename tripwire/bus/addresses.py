"""Where the bus listens: the address given on the command line, else the one in settings
(``bus.events`` / ``bus.commands``), else an ``ipc://`` socket under the run directory.

Every process that binds or connects the bus (hot path, dispatcher, recorder, API, scheduled
flows) resolves its addresses through :func:`configured_address`, so they agree on the
defaults without repeating them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from tripwire.config.settings import BusSettings

# Linux's sun_path is 108 bytes including the terminating NUL; a longer ipc:// path fails at
# bind with a bare "File name too long", so refuse it here with the path in the message.
_IPC_PATH_MAX = 107

Channel = Literal["events", "commands"]


class BusAddressError(ValueError):
    """A default ``ipc://`` address cannot be used (its socket path is too long)."""


class BusAddresses(NamedTuple):
    events: str  # hot path binds PUB here; subscribers connect
    commands: str  # hot path binds ROUTER here; command clients connect


def default_address(run_dir: str | Path, channel: Channel) -> str:
    """``ipc://<run_dir>/<channel>.sock`` (``run_dir`` created if missing)."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{channel}.sock"
    size = len(str(path).encode())
    if size > _IPC_PATH_MAX:
        raise BusAddressError(
            f"ipc socket path {path} is {size} bytes; the limit is "
            f"{_IPC_PATH_MAX}: choose a shorter run directory or tcp:// "
            f"addresses"
        )
    return f"ipc://{path}"


def default_addresses(run_dir: str | Path) -> BusAddresses:
    """``ipc://`` endpoints under ``run_dir`` (created if missing) for a single-host setup."""
    return BusAddresses(default_address(run_dir, "events"), default_address(run_dir, "commands"))


def configured_address(
    bus: BusSettings, channel: Channel, given: str | None = None, run_dir: str | Path | None = None
) -> str:
    """``given``, else the settings' address for ``channel``, else its ``ipc://`` socket under
    ``run_dir`` (default ``bus.run_dir``). :class:`BusAddressError` when that default is
    needed and unusable."""
    return given or getattr(bus, channel) or default_address(run_dir or bus.run_dir, channel)


def configured_addresses(
    bus: BusSettings, events: str | None = None, commands: str | None = None, run_dir: str | Path | None = None
) -> BusAddresses:
    """Both addresses, each as :func:`configured_address` resolves it."""
    return BusAddresses(
        configured_address(bus, "events", events, run_dir), configured_address(bus, "commands", commands, run_dir)
    )
