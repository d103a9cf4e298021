"""Chat Completions backends: discovery, choice, streaming calls with retries, record/replay.

`BackendPool` owns every byte the router exchanges with its models. It discovers models
(``GET /v1/models``) and capabilities (llama.cpp ``GET /props``), picks a backend by model and
then by fewest requests in flight, retries connect errors and 5xx before the first byte, and
turns the upstream SSE body into chunk dicts. With ``record_dir`` it writes every exchange to one
JSON file per request (keyed by a hash of the canonical request); with ``replay_dir`` it serves
those files and never touches the network.
"""
from __future__ import annotations

import asyncio
import codecs
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.2  # doubled after each failed attempt
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0  # per read: a backend silent this long is treated as failed
DISCOVERY_TIMEOUT = 5.0
CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MODELS_PATH = "/v1/models"
PROPS_PATH = "/props"
# Loopback ports change between runs (MCP servers, test upstreams), and so do the ids the router
# mints (``call_<48 hex>`` in a tool round trip comes back in the next turn's request); nothing
# else is normalised.
VOLATILE_PORT = re.compile(r"127\.0\.0\.1:\d+")
VOLATILE_ID = re.compile(r"\b([a-z]+)_[0-9a-f]{48}\b")
# A recording cut short because the router stopped reading (a cancelled background response)
# is replayed, then held open like a backend still generating, so a cancel can still land.
PARTIAL_REPLAY_HOLD_SECONDS = 30.0
_LINE_END = re.compile(r"\r\n|\r|\n")


class BackendError(Exception):
    """A failed backend exchange. ``status`` is the upstream HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "server_error") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ModelNotFound(BackendError):
    """No backend serves the requested model."""


@dataclass
class Capabilities:
    """What a backend can do natively; engine.py applies adapters for what it cannot."""

    native_tool_choice: bool = True
    vision: bool = True


@dataclass
class Backend:
    """One upstream endpoint. ``models`` None means unknown (discovery failed): serves anything."""

    base_url: str
    native: bool = False
    models: set[str] | None = None
    caps: Capabilities = field(default_factory=Capabilities)
    in_flight: int = 0


def server_root(url: str) -> str:
    """The server root of a backend URL: users give the OpenAI-style ``…/v1`` root or the bare host."""
    root = url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def canonical_request(method: str, path: str, body: Any) -> str:
    """The canonical JSON of a request, with loopback ports normalised; the record/replay key input."""
    text = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return VOLATILE_ID.sub(r"\1_ID", VOLATILE_PORT.sub("127.0.0.1:PORT", text))


def request_key(method: str, path: str, body: Any) -> str:
    """The file stem for a recorded exchange: sha256 of `canonical_request`, 32 hex digits."""
    return hashlib.sha256(canonical_request(method, path, body).encode()).hexdigest()[:32]


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


def parse_chunk(data: str) -> dict:
    """One SSE data payload → chunk dict; `BackendError` when malformed or an error object."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError as exc:
        raise BackendError(f"backend sent a malformed chunk: {data[:200]!r}") from exc
    if not isinstance(chunk, dict):
        raise BackendError(f"backend sent a chunk that is not an object: {data[:200]!r}")
    if "error" in chunk and "choices" not in chunk:
        err = chunk["error"]
        message = err.get("message") if isinstance(err, dict) else str(err)
        raise BackendError(f"backend error: {message}")
    return chunk


class BackendPool:
    """The router's backends. Create, `await start()`, use, `await aclose()`."""

    def __init__(
        self,
        urls: list[str],
        *,
        native_urls: list[str] | None = None,
        record_dir: str | Path | None = None,
        replay_dir: str | Path | None = None,
        read_timeout: float = READ_TIMEOUT,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        if record_dir and replay_dir:
            raise ValueError("choose one of record_dir and replay_dir")
        self.backends = [Backend(server_root(u)) for u in urls]
        self.backends += [Backend(server_root(u), native=True) for u in native_urls or []]
        if not self.backends and replay_dir:
            self.backends = [Backend("replay://")]
        if not self.backends:
            raise ValueError("at least one backend URL is required")
        self.record_dir = Path(record_dir) if record_dir else None
        self.replay_dir = Path(replay_dir) if replay_dir else None
        if self.record_dir:
            self.record_dir.mkdir(parents=True, exist_ok=True)
        timeout = httpx2.Timeout(read_timeout, connect=CONNECT_TIMEOUT)
        self._client = httpx2.AsyncClient(timeout=timeout, transport=transport)

    async def start(self) -> None:
        """Discover models and capabilities of every backend; failures leave it permissive."""
        await asyncio.gather(*(self._discover(b) for b in self.backends))

    async def _discover(self, backend: Backend) -> None:
        try:
            listing = await self._get_json(backend, MODELS_PATH)
            backend.models = {m["id"] for m in listing.get("data", []) if isinstance(m, dict) and "id" in m}
        except (BackendError, KeyError, TypeError, AttributeError):
            backend.models = None
        try:
            props = await self._get_json(backend, PROPS_PATH)
        except BackendError:
            return  # not llama.cpp: assume a capable backend
        # llama.cpp neither enforces "required" nor accepts a named tool_choice.
        backend.caps.native_tool_choice = False
        modalities = props.get("modalities") if isinstance(props, dict) else None
        backend.caps.vision = bool(isinstance(modalities, dict) and modalities.get("vision"))

    async def _get_json(self, backend: Backend, path: str) -> Any:
        key = request_key("GET", path, None)
        if self.replay_dir:
            record = self._load(key, "GET", path)
            if record.get("status", 200) >= 400:
                raise BackendError(f"GET {path}: HTTP {record['status']}", status=record["status"])
            return record["json"]
        try:
            resp = await self._client.get(backend.base_url + path, timeout=DISCOVERY_TIMEOUT)
        except httpx2.HTTPError as exc:
            raise BackendError(f"GET {path}: {exc!r}") from exc
        if resp.status_code >= 400:
            raise BackendError(f"GET {path}: HTTP {resp.status_code}", status=resp.status_code)
        try:
            data = resp.json()
        except ValueError as exc:
            raise BackendError(f"GET {path}: not JSON") from exc
        self._save(key, "GET", path, None, {"status": resp.status_code, "json": data})
        return data

    def choose(self, model: str) -> Backend:
        """The backend for ``model``: those that list it (else those with unknown models), least busy."""
        candidates = [b for b in self.backends if b.models is not None and model in b.models]
        candidates = candidates or [b for b in self.backends if b.models is None]
        if not candidates:
            raise ModelNotFound(f"The model '{model}' does not exist.", status=404, code="model_not_found")
        return min(candidates, key=lambda b: b.in_flight)

    def list_models(self) -> list[dict]:
        """Every discovered model in the ``/v1/models`` shape (unique ids)."""
        ids = sorted({m for b in self.backends for m in (b.models or ())})
        return [{"id": m, "object": "model", "created": 0, "owned_by": "reference_impl"} for m in ids]

    async def stream(self, backend: Backend, body: dict, *, path: str = CHAT_PATH) -> AsyncIterator[dict]:
        """POST ``body`` to ``path`` and yield each streamed chunk; `BackendError` on failure."""
        backend.in_flight += 1
        try:
            if self.replay_dir:
                record = self._load(request_key("POST", path, body), "POST", path)
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
                return
            chunks: list[dict] = []
            # Unless set below, the router stopped reading (a cancelled background response).
            outcome: dict[str, Any] | None = {"partial": True}
            try:
                async for chunk in self._stream_live(backend, body, path):
                    chunks.append(chunk)
                    yield chunk
                outcome = {}
            except BackendError as exc:
                # Failures before any byte are recorded by _stream_live (or are not replayable).
                outcome = {"error": str(exc)} if chunks else None
                raise
            finally:
                if outcome is not None:
                    self._save(request_key("POST", path, body), "POST", path, body,
                               {"status": 200, "chunks": chunks, **outcome})
        finally:
            backend.in_flight -= 1

    async def _stream_live(self, backend: Backend, body: dict, path: str) -> AsyncIterator[dict]:
        url = backend.base_url + path
        for attempt in range(MAX_ATTEMPTS):
            last = attempt == MAX_ATTEMPTS - 1
            try:
                async with self._client.stream("POST", url, json=body) as resp:
                    if resp.status_code >= 400:
                        text = (await resp.aread()).decode("utf-8", "replace")[:500]
                        error = BackendError(f"backend HTTP {resp.status_code}: {text}", status=resp.status_code)
                        if resp.status_code < 500 or last:
                            self._save(request_key("POST", path, body), "POST", path, body,
                                       {"status": resp.status_code, "error": text})
                            raise error
                    else:
                        async for chunk in self._chunks(resp):
                            yield chunk
                        return
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                if last:
                    raise BackendError(f"cannot connect to backend {backend.base_url}: {exc!r}") from exc
            except httpx2.ReadTimeout as exc:
                raise BackendError(f"backend {backend.base_url} timed out") from exc
            except httpx2.HTTPError as exc:
                raise BackendError(f"backend {backend.base_url} failed mid-stream: {exc!r}") from exc
            await asyncio.sleep(BACKOFF_SECONDS * 2 ** attempt)

    async def _chunks(self, resp: httpx2.Response) -> AsyncIterator[dict]:
        decoder = SSEDataDecoder()
        text_decoder = codecs.getincrementaldecoder("utf-8")("replace")
        body = resp.aiter_bytes()
        async for raw in body:
            for data in decoder.feed(text_decoder.decode(raw)):
                if data.strip() == "[DONE]":
                    # Read the body to its end: a connection closed mid-body cannot go back to
                    # the pool, and a new TCP connection per request was most of the added latency.
                    async for _ in body:
                        pass
                    return
                yield parse_chunk(data)
        for data in decoder.feed(text_decoder.decode(b"", final=True)) + decoder.flush():
            if data.strip() == "[DONE]":
                return
            yield parse_chunk(data)

    def _save(self, key: str, method: str, path: str, body: Any, result: dict) -> None:
        if not self.record_dir:
            return
        record = {"key": key, "request": json.loads(canonical_request(method, path, body)), **result}
        target = self.record_dir / f"{key}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(target)

    def _load(self, key: str, method: str, path: str) -> dict:
        assert self.replay_dir is not None
        target = self.replay_dir / f"{key}.json"
        if not target.exists():
            raise BackendError(
                f"no recorded backend exchange for {method} {path} (key {key}) in {self.replay_dir}; "
                f"record it by running the router with --backend URL --backend-record {self.replay_dir}"
            )
        return json.loads(target.read_text(encoding="utf-8"))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
