"""Pure translation from Chat Completions results to Responses shapes (no I/O).

The response direction that stream.py needs besides its own state machine: chat usage ->
Responses usage, the sum of usages over several backend turns, and the input of a custom tool
call decoded from its chat arguments. The request direction is translate.py and its family.
"""
from __future__ import annotations

import json

from reference_impl.jsoncodec import copy_json


def usage_from_chat(usage: dict | None) -> dict:
    """Chat usage -> Responses usage (zeros when the backend reported none)."""
    usage = usage or {}
    input_tokens = int(usage.get("prompt_tokens") or 0)
    output_tokens = int(usage.get("completion_tokens") or 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": input_tokens,
        # cache_write_tokens is required by the pinned SDK; chat backends do not report it.
        "input_tokens_details": {"cached_tokens": int(cached), "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": int(reasoning)},
        "total_tokens": input_tokens + output_tokens,
    }


def add_usage(a: dict | None, b: dict | None) -> dict | None:
    """Sum two Responses usages (either may be None), keeping total = input + output."""
    if a is None or b is None:
        return copy_json(a if b is None else b)

    def merge(x: dict, y: dict) -> dict:
        out = {}
        for key in x.keys() | y.keys():
            u, v = x.get(key), y.get(key)
            if isinstance(u, dict) or isinstance(v, dict):
                out[key] = merge(u or {}, v or {})
            else:
                out[key] = (u or 0) + (v or 0)
        return out

    total = merge(a, b)
    total["total_tokens"] = total["input_tokens"] + total["output_tokens"]
    return total


def decode_custom_input(arguments: str) -> str:
    """The free-form input of a custom tool call from its chat arguments ``{"input": ...}``.

    Falls back to the raw text when a weak model did not produce that shape, so nothing is lost.
    """
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return value["input"]
    return value if isinstance(value, str) else arguments
