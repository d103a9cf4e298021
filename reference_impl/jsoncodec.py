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
LONG_DIGIT_RUN = 20
_LONG_TEXT = re.compile(r"[0-9]{%d}" % LONG_DIGIT_RUN)
_LONG_BYTES = re.compile(rb"[0-9]{%d}" % LONG_DIGIT_RUN)
# A run of 20 digits that could start a JSON number (not preceded by a letter, a digit or ``_``).
# The hex ids the router mints (``msg_`` + 48 hex digits) hold a plain run of 20 inside a word
# often enough (one stored turn in a hundred) that it would send those texts down the slow path.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z_])[0-9]{%d}" % LONG_DIGIT_RUN)
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_ZERO_RUN = b"0" * LONG_DIGIT_RUN


def loads(data: str | bytes) -> Any:
    """Parse one JSON document; `json.JSONDecodeError` (or `UnicodeDecodeError`) when invalid."""
    long_digits = _LONG_BYTES if isinstance(data, (bytes, bytearray)) else _LONG_TEXT
    if long_digits.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json.loads decides: it accepts NaN and Infinity, or raises its own error
    return json.loads(data)


def has_long_number(text: str) -> bool:
    """Whether ``text`` may hold an integer orjson would not read exactly (a writer checks its own
    text once, so that its reader can use `loads_exact`). The digits are mapped to one byte and a
    run of 20 looked for as a substring: about a tenth of a regular expression's time on a stored
    turn (microseconds per stored response); only a text with such a run pays for the exact look."""
    return _ZERO_RUN in text.encode("utf-8").translate(_DIGITS_AS_ZERO) and _LONG_NUMBER.search(text) is not None


def loads_exact(text: str) -> Any:
    """Parse a text known to hold no run of 20 digits (its writer checked, with `has_long_number`):
    orjson without `loads`'s scan, which costs about as much as the parse on a long text, and
    ``json.loads`` for what orjson refuses (``NaN``, ``Infinity``)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


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
