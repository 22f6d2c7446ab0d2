"""Named account sessions in one JSON file (``--accounts-file``, ``--session``).

Format: ``{"version": 1, "sessions": {"<name>": {"accounts": {"0x…": <Account.to_json()>}}}}``.
Balances, positions, leverage settings, fills and funding are kept; open orders are not (a
restarted simulator starts with no resting orders, as after a cancel-all).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tripwire.config.files import ConfigFileError, load_json
from tripwire.sim.exchange.accounts import Account

VERSION = 1


class SessionFileError(Exception):
    """The accounts file cannot be used; the message names the file and the reason."""


def _read(path: Path) -> dict:
    if not path.exists():
        return {"version": VERSION, "sessions": {}}
    try:
        data = load_json(path)  # strict: UTF-8, no key twice, finite numbers
    except ConfigFileError as exc:
        raise SessionFileError(str(exc)) from None
    except OSError as exc:
        raise SessionFileError(f"{path}: not readable ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), dict):
        raise SessionFileError(f'{path}: expected {{"version": 1, "sessions": {{...}}}}')
    return data


def load_session(path: str | Path, name: str) -> dict[str, Account]:
    """The accounts of session ``name`` (empty when the file or the session does not exist)."""
    data = _read(Path(path))
    session = data["sessions"].get(name, {})
    try:
        return {
            addr.lower(): Account.from_json(addr.lower(), acct) for addr, acct in session.get("accounts", {}).items()
        }
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise SessionFileError(f"{path}: session {name!r}: bad account record ({exc})") from None


def save_session(path: str | Path, name: str, accounts: dict[str, Account]) -> None:
    """Write session ``name`` (other sessions in the file are kept), atomically."""
    p = Path(path)
    data = _read(p)
    data["version"] = VERSION
    data["sessions"][name] = {"accounts": {addr: a.to_json() for addr, a in accounts.items()}}
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, p)
