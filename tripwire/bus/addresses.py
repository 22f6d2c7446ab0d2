"""Where the bus listens. Settings will supply these; until then callers pass them in."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

# Linux's sun_path is 108 bytes including the terminating NUL; a longer ipc:// path fails at
# bind with a bare "File name too long", so refuse it here with the path in the message.
_IPC_PATH_MAX = 107


class BusAddresses(NamedTuple):
    events: str    # hot path binds PUB here; subscribers connect
    commands: str  # hot path binds ROUTER here; command clients connect


def default_addresses(run_dir: str | Path) -> BusAddresses:
    """``ipc://`` endpoints under ``run_dir`` (created if missing) for a single-host setup."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = (run_dir / "events.sock", run_dir / "commands.sock")
    for p in paths:
        if len(str(p).encode()) > _IPC_PATH_MAX:
            raise ValueError(f"ipc socket path {p} is {len(str(p).encode())} bytes; the limit is "
                             f"{_IPC_PATH_MAX}: choose a shorter run directory or tcp:// addresses")
    return BusAddresses(*(f"ipc://{p}" for p in paths))
