"""Identifiers for responses and items."""
from __future__ import annotations

import secrets
import time

# 2**16 steps per second in the 4 hex digits after the seconds.
_FRACTION_STEPS = 1 << 16


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
    return f"{prefix}_{seconds & 0xFFFFFFFF:08x}{fraction:04x}{secrets.token_hex(18)}"  # 8 digits until 2106, then wraps
