"""``tripwire watch [--api URL] [--key KEY] [--events ADDR]``: the live terminal dashboard
(docs/WATCH.md). Read-only with a read key; pause, flatten and cancel-all with a trade key.

Defaults come from the settings file like every other command: the API at ``api.host`` /
``api.port``, the event stream at ``bus.events`` (else the run directory's socket); the key
from ``--key``, else ``$TRIPWIRE_WATCH_KEY``. Over an SSH tunnel give ``--api`` and a
``tcp://`` ``--events`` forwarded to the hot path's PUB socket.
"""

from __future__ import annotations

import argparse
import os

KEY_ENV = "TRIPWIRE_WATCH_KEY"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml)")
    p.add_argument("--api", metavar="URL", help="the control plane (default: http://api.host:api.port from settings)")
    p.add_argument("--key", metavar="KEY", help=f"API key (default: ${KEY_ENV}); a read key shows, a trade key steers")
    p.add_argument("--events", metavar="ADDR", help="the hot path's event stream (default: bus.events from settings)")
    p.add_argument("--poll", type=float, default=1.0, metavar="S", help="seconds between API polls (default 1)")


def open_dashboard(api_url: str, key: str, events: str, poll_s: float = 1.0) -> None:
    """Run the dashboard until the user quits (also what ``tripwire demo --watch`` calls)."""
    from tripwire.watch.app import WatchApp
    from tripwire.watch.client import ApiClient

    WatchApp(ApiClient(api_url, key), events, poll_s=poll_s).run()


def run(args: argparse.Namespace) -> int:
    from tripwire.bus.addresses import BusAddressError, configured_address
    from tripwire.config.settings import ConfigError, load_settings
    from tripwire.errors import UserError

    key = args.key or os.environ.get(KEY_ENV)
    if not key:
        raise UserError(f"no API key: give --key or set {KEY_ENV} (a read key shows, a trade key also steers)")
    if args.poll <= 0:
        raise UserError("--poll must be positive")
    try:
        settings = load_settings(args.config)
        events = args.events or configured_address(settings.bus, "events")
    except (ConfigError, BusAddressError) as e:
        raise UserError(str(e)) from None
    api = args.api or f"http://{settings.api.host}:{settings.api.port}"
    open_dashboard(api, key, events, args.poll)
    return 0
