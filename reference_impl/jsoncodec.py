"""JSON decoding on the hot path: orjson's speed with the standard library's results.

`loads` parses with orjson (compiled, several times faster than ``json.loads`` on the chunks,
bodies and stored rows the router reads) and leaves to ``json.loads`` the inputs on which the two
differ, so every input gives the same value, or the same `json.JSONDecodeError`, as before:
what orjson refuses (``NaN``, ``Infinity``) and any text with a run of 20 digits or more, since
orjson reads an integer beyond 64 bits as a float where Python keeps it exact (the same run
inside a string, a hex id for one, only costs the slower path). That scan is cheap on a chunk or
a body, but on a long text it costs more than orjson saves, so `loads_many` (a chain's stored
items, joined into one document) parses with ``json.loads``: one call instead of one per item
was the saving there.
Encoding stays on the standard library: orjson writes some floats differently (``1e-5`` for
``1e-05``) and NaN as ``null``, and the router's wire bytes must not change.
"""
from __future__ import annotations

import json
import re
from typing import Any

import orjson

# 20 digits in a row: possibly an integer beyond 64 bits (the largest, 2**64 - 1, has 20).
LONG_DIGITS = 20
_LONG_TEXT = re.compile(r"[0-9]{%d}" % LONG_DIGITS)
_LONG_BYTES = re.compile(rb"[0-9]{%d}" % LONG_DIGITS)


def loads(data: str | bytes) -> Any:
    """Parse one JSON document; `json.JSONDecodeError` (or `UnicodeDecodeError`) when invalid."""
    long_digits = _LONG_BYTES if isinstance(data, (bytes, bytearray)) else _LONG_TEXT
    if long_digits.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json.loads decides: it accepts NaN and Infinity, or raises its own error
    return json.loads(data)


def copy_json(value: Any) -> Any:
    """A copy of a JSON value: dicts and lists copied, scalars shared.

    `copy.deepcopy` gives the same result on parsed JSON but pays for a memo and a type dispatch
    per value; on the hot path (the Response skeleton, usage, stream items) it was several times
    slower (docs/benchmarks.md).
    """
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def loads_many(texts: list[str]) -> list[Any]:
    """Parse many JSON documents (each valid on its own, as the stores wrote them) in one call:
    joined into one array, so a 1000-turn chain pays one parse call, not 2000."""
    return json.loads("[" + ",".join(texts) + "]") if texts else []
