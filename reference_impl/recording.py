"""Record/replay of backend traffic, as wrappers around the backend transport.

`RecordingTransport` wraps the live transport and writes every exchange to one JSON file per
request in a directory; `ReplayTransport` serves those files and never touches the network. The
pool does not know which one it has.

The file is ``<key>.json`` where the key is `request_key`: sha256 of the canonical request
(method, path, body) with whatever varies between runs normalised. Its fields:
``key``, ``request`` (the canonical request), ``status``, then ``json`` (a GET), or ``chunks``
(a POST stream, as chunk dicts) with ``error`` (it failed mid-stream) or ``partial`` (the router
stopped reading), or ``error`` alone (an HTTP error status before any byte). The recordings under
cassettes/backend/ are in this format: changing a key or a field means re-recording them.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .backend import BackendError, BackendTransport
from .backend_http import LiveTransport

# Loopback ports change between runs (MCP servers, test upstreams), and so do the ids the router
# mints (``call_<48 hex>`` in a tool round trip comes back in the next turn's request); nothing
# else is normalised.
VOLATILE_PORT = re.compile(r"127\.0\.0\.1:\d+")
VOLATILE_ID = re.compile(r"\b([a-z]+)_[0-9a-f]{48}\b")
# A recording cut short because the router stopped reading (a cancelled background response)
# is replayed, then held open like a backend still generating, so a cancel can still land.
PARTIAL_REPLAY_HOLD_SECONDS = 30.0


def canonical_request(method: str, path: str, body: Any) -> str:
    """The canonical JSON of a request, with loopback ports normalised; the record/replay key input."""
    text = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return VOLATILE_ID.sub(r"\1_ID", VOLATILE_PORT.sub("127.0.0.1:PORT", text))


def request_key(method: str, path: str, body: Any) -> str:
    """The file stem for a recorded exchange: sha256 of `canonical_request`, 32 hex digits."""
    return hashlib.sha256(canonical_request(method, path, body).encode()).hexdigest()[:32]


class RecordingTransport:
    """The live transport, with every exchange also written to ``directory``."""

    offline = False

    def __init__(self, inner: BackendTransport, directory: str | Path) -> None:
        self.inner = inner
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    async def get_json(self, base_url: str, path: str) -> Any:
        data = await self.inner.get_json(base_url, path)
        self._save("GET", path, None, {"status": 200, "json": data})
        return data

    async def post_json(self, base_url: str, path: str, body: dict) -> Any:
        data = await self.inner.post_json(base_url, path, body)
        self._save("POST", path, body, {"status": 200, "json": data})
        return data

    async def stream(self, base_url: str, path: str, body: dict) -> AsyncIterator[dict]:
        chunks: list[dict] = []
        # Unless set below, the router stopped reading (a cancelled background response).
        outcome: dict[str, Any] | None = {"partial": True}
        try:
            async with contextlib.aclosing(self.inner.stream(base_url, path, body)) as upstream:
                async for chunk in upstream:
                    chunks.append(chunk)
                    yield chunk
            outcome = {}
        except BackendError as exc:
            outcome = {"error": str(exc)} if chunks else None
            if not chunks and exc.status is not None:  # an HTTP error status, final after retries
                self._save("POST", path, body, {"status": exc.status, "error": exc.body})
            # Any other failure before a byte (connect, a bad first chunk) is not replayable.
            raise
        finally:
            if outcome is not None:
                self._save("POST", path, body, {"status": 200, "chunks": chunks, **outcome})

    def _save(self, method: str, path: str, body: Any, result: dict) -> None:
        key = request_key(method, path, body)
        record = {"key": key, "request": json.loads(canonical_request(method, path, body)), **result}
        target = self.directory / f"{key}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(target)

    async def aclose(self) -> None:
        await self.inner.aclose()


class ReplayTransport:
    """Serves the exchanges recorded in ``directory``; a missing one is a `BackendError`."""

    offline = True

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    async def get_json(self, base_url: str, path: str) -> Any:
        record = self._load("GET", path, None)
        if record.get("status", 200) >= 400:
            raise BackendError(f"GET {path}: HTTP {record['status']}", status=record["status"])
        return record["json"]

    async def post_json(self, base_url: str, path: str, body: dict) -> Any:
        record = self._load("POST", path, body)
        if record.get("status", 200) >= 400:
            raise BackendError(f"POST {path}: HTTP {record['status']}", status=record["status"])
        return record["json"]

    async def stream(self, base_url: str, path: str, body: dict) -> AsyncIterator[dict]:
        record = self._load("POST", path, body)
        if record.get("status", 200) >= 400:
            raise BackendError(f"backend HTTP {record['status']}: {record.get('error', '')}",
                               status=record["status"])
        for chunk in record["chunks"]:
            yield chunk
        if record.get("error"):
            raise BackendError(record["error"])
        if record.get("partial"):
            await asyncio.sleep(PARTIAL_REPLAY_HOLD_SECONDS)
            raise BackendError("the recording ends where the router stopped reading")

    def _load(self, method: str, path: str, body: Any) -> dict:
        key = request_key(method, path, body)
        target = self.directory / f"{key}.json"
        if not target.exists():
            raise BackendError(
                f"no recorded backend exchange for {method} {path} (key {key}) in {self.directory}; "
                f"record it by running the router with --backend URL --backend-record {self.directory}"
            )
        return json.loads(target.read_text(encoding="utf-8"))

    async def aclose(self) -> None:
        return None


def transport_for(*, record_dir: str | Path | None = None, replay_dir: str | Path | None = None,
                  read_timeout: float | None = None) -> BackendTransport:
    """The backend transport the command line asks for: live, recording or replaying."""
    if record_dir and replay_dir:
        raise ValueError("choose one of record_dir and replay_dir")
    if replay_dir:
        return ReplayTransport(replay_dir)
    live = LiveTransport() if read_timeout is None else LiveTransport(read_timeout=read_timeout)
    return RecordingTransport(live, record_dir) if record_dir else live
