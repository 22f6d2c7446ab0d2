"""Reading the leaderboard (tens of MB) row by row as it downloads.

The answer is one JSON object, ``{"leaderboardRows": [row, row, …]}``. Loading it whole would
hold the text, then the parsed tree of ~45,000 rows, at once. :class:`RowDecoder` is fed the
body in chunks and returns each row as soon as its closing brace has arrived, so memory holds
one chunk plus the rows' compact form. Each row is decoded by the C JSON scanner
(``JSONDecoder.raw_decode`` from a position), which is what makes this fast in pure Python;
a row split across two chunks simply fails to decode until the next chunk is appended.

A body that ends before the array's ``]`` and the object's ``}`` is truncated: :meth:`finish`
raises :class:`BadUpstreamData`, so a cut-off download never passes for a short leaderboard.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from tripwire.flows.scheduled.upstream import BadUpstreamData

ROWS_KEY = '"leaderboardRows"'
MAX_ROW_CHARS = 1 << 20  # no real row comes near this; beyond it the JSON itself is broken
_WS = " \t\r\n"


class RowDecoder:
    """``feed(bytes) -> [row, …]`` repeatedly, then ``finish()``; ``rows_seen`` counts rows."""

    def __init__(self, source: str = "leaderboard"):
        self.source = source
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder()
        self._buf = ""
        self._state = "prefix"  # prefix → rows → tail → done
        self._consumed = 0  # characters already dropped from the buffer (for messages)
        self.rows_seen = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        try:
            self._buf += self._utf8.decode(chunk)
        except UnicodeDecodeError as e:
            raise BadUpstreamData(f"{self.source}: answer is not UTF-8 text: {e}") from None
        return self._drain(eof=False)

    def finish(self) -> list[dict[str, Any]]:
        """The last rows; raises BadUpstreamData if the body ended early or is not the shape."""
        try:
            self._buf += self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as e:
            raise BadUpstreamData(f"{self.source}: answer ends inside a UTF-8 character: {e}") from None
        rows = self._drain(eof=True)
        if self._state != "done":
            where = {
                "prefix": 'before "leaderboardRows" was found',
                "rows": f"after {self.rows_seen} rows, inside the rows array",
                "tail": "after the rows array, before the closing brace",
            }[self._state]
            size = self._consumed + len(self._buf)
            raise BadUpstreamData(f"{self.source}: answer truncated ({size:,} characters, ended {where})")
        return rows

    def _error(self, what: str) -> BadUpstreamData:
        at = self._consumed
        return BadUpstreamData(f"{self.source}: not the leaderboard's shape near character {at:,}: {what}")

    def _drain(self, eof: bool) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        if self._state == "prefix":
            key = buf.find(ROWS_KEY)
            if key < 0:
                if n > MAX_ROW_CHARS:
                    raise self._error('no "leaderboardRows" key')
                return rows
            pos = key + len(ROWS_KEY)
            while pos < n and buf[pos] in _WS:
                pos += 1
            if pos < n and buf[pos] != ":":
                raise self._error('"leaderboardRows" is not followed by a colon')
            pos += 1
            while pos < n and buf[pos] in _WS:
                pos += 1
            if pos >= n:
                return rows  # wait for the bracket (buffer kept from the key on)
            if buf[pos] != "[":
                raise self._error('"leaderboardRows" is not an array')
            pos += 1
            self._state = "rows"
        if self._state == "rows":
            decode = self._json.raw_decode
            while True:
                while pos < n and (buf[pos] in _WS or buf[pos] == ","):
                    pos += 1
                if pos >= n:
                    break
                if buf[pos] == "]":
                    pos += 1
                    self._state = "tail"
                    break
                try:
                    row, end = decode(buf, pos)
                except json.JSONDecodeError:
                    if not eof and n - pos > MAX_ROW_CHARS:
                        raise self._error(f"row {self.rows_seen + 1} is not valid JSON") from None
                    break  # the row continues in the next chunk (at EOF: finish() reports it)
                if not isinstance(row, dict):
                    raise self._error(f"row {self.rows_seen + 1} is not an object")
                rows.append(row)
                self.rows_seen += 1
                pos = end
        if self._state == "tail":
            # Whatever follows the array (the closing brace, perhaps other keys) is tiny; keep
            # its end and check at EOF that the object closes.
            rest = buf[pos:]
            if eof and rest.strip().endswith("}"):
                self._state = "done"
            self._consumed += pos + max(0, len(rest) - 64)
            self._buf = rest[-64:]
            return rows
        self._consumed += pos
        self._buf = buf[pos:]
        return rows
