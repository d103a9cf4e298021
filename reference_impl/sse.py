"""Server-sent events read from a backend: an incremental decoder of each event's ``data``.

The router never imports the harness (fixtures/sse.py), so it keeps this small decoder of its
own. Lines end only at CR, LF or CRLF, never at ``str.splitlines()`` boundaries (U+2028 and the
like are ordinary characters inside JSON strings). It splits the raw bytes: CR and LF never occur
inside a UTF-8 sequence, so each line is decoded on its own, once, and only ``data`` lines at all.
"""
from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")
_DATA = b"data:"


class SSEDataDecoder:
    """Incremental SSE decoder yielding each event's ``data`` (lines end at CR, LF or CRLF only)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, raw: bytes | str) -> list[str]:
        """Add body bytes (or text); return the data of every event completed by them."""
        buffer = self._buffer + (raw.encode("utf-8") if isinstance(raw, str) else raw)
        if not self._data and b"\r" not in buffer:
            return self._feed_lf(buffer)
        out: list[str] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            # A CR at the very end may be the first half of CRLF: wait for more.
            if match.end() == len(buffer) and match.group() == b"\r":
                break
            self._line(buffer[start:match.start()], out)
            start = match.end()
        self._buffer = buffer[start:]
        return out

    def _feed_lf(self, buffer: bytes) -> list[str]:
        """`feed` for the common case, LF line ends and no event left open: events split at
        blank lines by `bytes.split`, and an event of one ``data: `` line decoded directly.

        Same results as the line-by-line path (which any other shape falls back to), for about a
        third of its CPU on a whole reply arriving at once (docs/benchmarks.md).
        """
        blocks = buffer.split(b"\n\n")
        self._buffer = b""
        tail = blocks.pop()  # after the last blank line: an event not complete yet
        out: list[str] = []
        for block in blocks:
            if block.startswith(b"data: ") and b"\n" not in block:
                out.append(block[6:].decode("utf-8", "replace"))
            else:
                for line in block.split(b"\n"):
                    self._line(line, out)
                self._line(b"", out)
        if tail:
            # Its complete lines are taken now, the last (unterminated) one kept for later.
            lines = tail.split(b"\n")
            self._buffer = lines.pop()
            for line in lines:
                self._line(line, out)
        return out

    def flush(self) -> list[str]:
        """End of body: complete a pending event."""
        out: list[str] = []
        if self._buffer:
            self._line(self._buffer, out)
            self._buffer = b""
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[str]) -> None:
        if not line:
            if self._data:
                out.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith(_DATA):
            value = line[5:]
            self._data.append((value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace"))
