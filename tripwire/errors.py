"""The one exception every layer may raise for a problem the user can fix.

A leaf module: the CLI prints a ``UserError`` without a traceback, and the packages that raise it
(commands, flows, the API's launcher) import it from here rather than from the CLI, so nothing
imports ``tripwire.cli`` but the entry point.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad config, missing file, unreachable dependency)."""
