"""Opt-in response cache: an identical request is answered without calling a backend.

A request is cached when the server runs with ``--cache`` or the request sets the documented
extension field ``"x_cache": true`` (``"x_cache": false`` opts out even on a caching server).
The key is the canonical JSON of the request minus `VOLATILE_FIELDS`, so a cached JSON answer
can be replayed as SSE and back. A hit gets a fresh response id and ``created_at``; only
completed responses are cached, background requests never are.
"""
from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

VOLATILE_FIELDS = ("stream", "stream_options", "x_cache")
MAX_ENTRIES = 256
CACHEABLE_STATUS = "completed"


@dataclass(frozen=True)
class CachedResponse:
    """A finished response and the events that produced it."""

    response: dict
    events: list[dict]


def cache_key(request: dict) -> str:
    """sha256 of the canonical request without volatile fields."""
    stable = {k: v for k, v in request.items() if k not in VOLATILE_FIELDS}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _rebrand(obj: object, old: str, new: str, created_at: int) -> object:
    """Replace the response id (and its created_at) wherever a response object appears."""
    if isinstance(obj, dict):
        out = {k: _rebrand(v, old, new, created_at) for k, v in obj.items()}
        if out.get("object") == "response" and out.get("id") == old:
            out["id"] = new
            out["created_at"] = created_at
        return out
    if isinstance(obj, list):
        return [_rebrand(v, old, new, created_at) for v in obj]
    return obj


class ResponseCache:
    """An in-process LRU of finished responses, safe to share between threads."""

    def __init__(self, *, enabled_by_default: bool = False, max_entries: int = MAX_ENTRIES) -> None:
        self.enabled_by_default = enabled_by_default
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def wants(self, request: dict) -> bool:
        """Whether this request takes part in caching."""
        if request.get("background"):
            return False
        flag = request.get("x_cache")
        return self.enabled_by_default if flag is None else bool(flag)

    def get(self, request: dict, *, response_id: str, created_at: int) -> CachedResponse | None:
        """The cached answer re-issued under ``response_id``, or None."""
        if not self.wants(request):
            return None
        with self._lock:
            entry = self._entries.get(cache_key(request))
            if entry is None:
                return None
            self._entries.move_to_end(cache_key(request))
            self.hits += 1
        old = entry.response["id"]
        response = _rebrand(entry.response, old, response_id, created_at)
        events = _rebrand(entry.events, old, response_id, created_at)
        return CachedResponse(response, events)  # type: ignore[arg-type]

    def put(self, request: dict, response: dict, events: list[dict]) -> None:
        """Remember a finished response if the request wants caching and it completed."""
        if not self.wants(request) or response.get("status") != CACHEABLE_STATUS:
            return
        entry = CachedResponse(copy.deepcopy(response), copy.deepcopy(events))
        with self._lock:
            self._entries[cache_key(request)] = entry
            self._entries.move_to_end(cache_key(request))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
