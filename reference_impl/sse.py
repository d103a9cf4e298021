"""Server-sent events read from a backend: an incremental decoder of each event's ``data``.

The router never imports the harness (fixtures/sse.py), so it keeps this small decoder of its
own. Lines end only at CR, LF or CRLF, never at ``str.splitlines()`` boundaries (U+2028 and the
like are ordinary characters inside JSON strings).
"""
from __future__ import annotations

import re

_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEDataDecoder:
    """Incremental SSE decoder yielding each event's ``data`` (lines end at CR, LF or CRLF only)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []

    def feed(self, text: str) -> list[str]:
        """Add decoded text; return the data of every event completed by it."""
        self._buffer += text
        out: list[str] = []
        while True:
            match = _LINE_END.search(self._buffer)
            # A CR at the very end may be the first half of CRLF: wait for more.
            if match is None or (match.group() == "\r" and match.end() == len(self._buffer)):
                return out
            line, self._buffer = self._buffer[:match.start()], self._buffer[match.end():]
            self._line(line, out)

    def flush(self) -> list[str]:
        """End of body: complete a pending event."""
        out: list[str] = []
        if self._buffer:
            self._line(self._buffer, out)
            self._buffer = ""
        self._line("", out)
        return out

    def _line(self, line: str, out: list[str]) -> None:
        if line == "":
            if self._data:
                out.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
