"""The live HTTP transport to Chat Completions backends, on http1.py's client.

Why not the httpx2 client the rest of the project uses: this is the router's hot path. Measured
per streamed request (docs/benchmarks.md), httpx2 (httpcore2, h11 and anyio, all pure Python)
spent about 0.9 ms of CPU, aiohttp about 0.14 ms, and http1.py's client on httptools' compiled
parser about 0.06 ms. Pooled keep-alive connections in every case.

`LiveTransport` retries connect failures and 5xx answers before the first byte, decodes the SSE
body into chunk dicts (backend.parse_chunk), and reads a body to its end after ``[DONE]`` so the
connection goes back to the pool. A consumer that stops early closes the connection instead.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from .backend import READ_TIMEOUT, BackendError, parse_chunk
from .http1 import ConnectError, DisconnectedError, Http1Client, HttpError, Response
from .sse import SSEDataDecoder

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.2  # doubled after each failed attempt
CONNECT_TIMEOUT = 5.0
DISCOVERY_TIMEOUT = 5.0
ERROR_BODY_CHARS = 500  # of an upstream error body, kept in the message
MAX_CONNECTIONS = 100  # per transport, as httpx2's default pool
JSON_HEADERS = {"Content-Type": "application/json"}


def encode_body(body: Any) -> bytes:
    """A request body as compact UTF-8 JSON (NaN refused, as an HTTP client's json= does)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


class LiveTransport:
    """HTTP to the backends, with retries before the first byte."""

    offline = False

    def __init__(self, *, read_timeout: float = READ_TIMEOUT) -> None:
        self._client = Http1Client(connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout,
                                   max_connections=MAX_CONNECTIONS)

    async def get_json(self, base_url: str, path: str) -> Any:
        """GET ``path`` as JSON; `BackendError` on any failure."""
        return await self._json("GET", base_url, path, None)

    async def post_json(self, base_url: str, path: str, body: dict) -> Any:
        """POST ``body`` and return the JSON reply; `BackendError` on any failure."""
        return await self._json("POST", base_url, path, body)

    async def _json(self, method: str, base_url: str, path: str, body: dict | None) -> Any:
        data = None if body is None else encode_body(body)
        for attempt in range(MAX_ATTEMPTS):
            try:
                async with self._client.request(method, base_url + path, body=data,
                                                headers=JSON_HEADERS if data is not None else None,
                                                read_timeout=DISCOVERY_TIMEOUT) as resp:
                    raw = await resp.read()
                    status = resp.status
                break
            except (ConnectError, DisconnectedError) as exc:
                # llama.cpp closes an idle keep-alive connection; a request sent on it as it
                # closed gets no answer (make conformance: a token count failed so, once, with 502).
                if not _worth_another_attempt(exc) or attempt == MAX_ATTEMPTS - 1:
                    raise BackendError(f"{method} {path}: {exc!r}") from exc
            except (HttpError, ValueError) as exc:  # ValueError: not an http(s) URL
                raise BackendError(f"{method} {path}: {exc!r}") from exc
            await asyncio.sleep(BACKOFF_SECONDS * 2 ** attempt)
        if status >= 400:
            raise BackendError(f"{method} {path}: HTTP {status}", status=status)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise BackendError(f"{method} {path}: not JSON") from exc

    async def stream(self, base_url: str, path: str, body: dict) -> AsyncIterator[dict]:
        """POST ``body`` and yield each streamed chunk; `BackendError` on failure."""
        url, data = base_url + path, encode_body(body)
        for attempt in range(MAX_ATTEMPTS):
            last = attempt == MAX_ATTEMPTS - 1
            started = False
            try:
                async with self._client.request("POST", url, body=data, headers=JSON_HEADERS) as resp:
                    started = True
                    if resp.status >= 400:
                        text = (await resp.read()).decode("utf-8", "replace")[:ERROR_BODY_CHARS]
                        if resp.status < 500 or last:
                            raise BackendError(f"backend HTTP {resp.status}: {text}", status=resp.status, body=text)
                    else:
                        async for chunk in _chunks(resp):
                            yield chunk
                        return
            except (ConnectError, DisconnectedError) as exc:
                if started or not _worth_another_attempt(exc):
                    raise BackendError(f"backend {base_url} failed mid-stream: {exc!r}") from exc
                if last:
                    raise BackendError(f"cannot connect to backend {base_url}: {exc!r}") from exc
            except TimeoutError as exc:
                raise BackendError(f"backend {base_url} timed out") from exc
            except (HttpError, ValueError) as exc:
                raise BackendError(f"backend {base_url} failed mid-stream: {exc!r}") from exc
            await asyncio.sleep(BACKOFF_SECONDS * 2 ** attempt)

    async def aclose(self) -> None:
        """Release connections."""
        await self._client.aclose()


def _worth_another_attempt(exc: ConnectError | DisconnectedError) -> bool:
    """Before any byte of the answer, worth another attempt: the connection could not be made, or
    a pooled keep-alive connection turned out closed by the backend."""
    return isinstance(exc, ConnectError) or exc.before_response


async def _chunks(resp: Response) -> AsyncIterator[dict]:
    """The chunk dicts of an SSE body, up to ``[DONE]`` (the rest of the body is read and dropped)."""
    decoder = SSEDataDecoder()
    async for raw in resp.iter_any():
        for data in decoder.feed(raw):
            if data.strip() == "[DONE]":
                # Read the body to its end: a connection closed mid-body cannot go back to the
                # pool, and a new TCP connection per request was most of the added latency.
                async for _ in resp.iter_any():
                    pass
                return
            yield parse_chunk(data)
    for data in decoder.flush():
        if data.strip() == "[DONE]":
            return
        yield parse_chunk(data)
