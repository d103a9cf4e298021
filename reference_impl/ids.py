"""Identifiers for responses and items."""
from __future__ import annotations

import os
import threading
import time

# 2**16 steps per second in the 4 hex digits after the seconds.
_FRACTION_STEPS = 1 << 16
RANDOM_BYTES = 18  # the 36 random hex digits
# Random bytes are read from the OS a pool at a time. os.urandom releases the GIL around its
# getrandom call, and under load a store writer thread waiting for the GIL took it at each id,
# so the event loop waited for it back, several times per request (py-spy: 9 % of the loop's
# samples sat in urandom under wrk at c=32 with store=true).
POOL_BYTES = RANDOM_BYTES * 256


class _RandomPool:
    """Bytes from ``os.urandom``, read `POOL_BYTES` at a time and handed out once each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def take(self, size: int) -> bytes:
        """``size`` bytes never handed out before (one lock: background workers mint ids too)."""
        with self._lock:
            if self._at + size > len(self._pool):
                self._pool, self._at = os.urandom(max(POOL_BYTES, size)), 0
            chunk = self._pool[self._at:self._at + size]
            self._at += size
            return chunk

    def forget(self) -> None:
        """Drop the pool: a forked child must not hand out the bytes its parent will."""
        self._lock = threading.Lock()
        self._pool, self._at = b"", 0


_random = _RandomPool()
os.register_at_fork(after_in_child=_random.forget)


def new_id(prefix: str, *, now: float | None = None) -> str:
    """Return a fresh id such as ``resp_6931f2a0c8e1…``: the prefix, an underscore and 48 hex digits.

    The first 12 digits are the creation time: 8 of Unix seconds (as OpenAI's own ids begin, e.g.
    ``msg_6848d84c…``) and 4 of the fraction. Ids made later sort later, so every b-tree keyed
    by id (the responses table's primary key, the chain's index, the input items' key) takes new
    rows at its right edge. With random ids each stored response landed on a random page of each
    index: on a store of 40,000 responses that made a write 2.5 times as costly (0.10 against
    0.04 ms of CPU per response, docs/benchmarks.md). The other 36 digits are random (144 bits),
    so ids stay unguessable and distinct within one tick.
    """
    now = time.time() if now is None else now
    seconds = int(now)
    fraction = int((now - seconds) * _FRACTION_STEPS)
    return f"{prefix}_{seconds & 0xFFFFFFFF:08x}{fraction:04x}{_random.take(RANDOM_BYTES).hex()}"  # 8 digits until 2106, then wraps
