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
