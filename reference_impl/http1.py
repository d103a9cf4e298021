"""The router's HTTP/1.1 client to its backends: asyncio transports and httptools' compiled parser.

Why not a general client: this is the router's hot path. Measured against the canned upstream of
benchmarks/ (same event loop, one streamed 11-chunk reply per request), aiohttp spent 0.137 ms of
CPU per request and this client 0.016 ms; the router's whole cost was about 0.5 ms, so the client
was a quarter of it (docs/benchmarks.md). Parsing, chunked transfer decoding and keep-alive
decisions are httptools' (the parser uvicorn uses); this module only frames requests, pools
connections and hands body bytes to one reader.

What it does is what the router's backends need and no more: GET and POST over plain HTTP or TLS,
bodies by Content-Length or chunked, gzip or deflate bodies, keep-alive connections pooled per
origin, a connect timeout and a timeout per read. No proxies, redirects or cookies: the router
asked for none of them from aiohttp either.
"""
from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import httptools

USER_AGENT = b"responses-router"
HIGH_WATER = 1 << 20  # body bytes buffered before the socket stops being read
DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class HttpError(Exception):
    """A failed exchange: the parent of every error this client raises."""


class ConnectError(HttpError):
    """No connection could be made (refused, unknown host, TLS failure, connect timeout)."""


class DisconnectedError(HttpError):
    """The connection ended before the response was complete.

    ``before_response``: no byte of the response had arrived, so the request may not have been
    seen at all (a pooled connection the server had just closed) and can be sent again.
    """

    def __init__(self, message: str, *, before_response: bool) -> None:
        super().__init__(message)
        self.before_response = before_response


class ReadTimeout(HttpError, TimeoutError):
    """The server sent nothing for longer than the read timeout."""


@dataclass(frozen=True)
class _Target:
    """Where one URL's requests go, and the bytes that name it in a request."""

    scheme: str
    host: str
    port: int
    head: bytes  # request target and Host header, between the method and the other headers

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@functools.lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname if port == default else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:  # an IPv6 literal keeps its brackets in the Host header
        host = f"[{parts.hostname}]" + ("" if port == default else f":{port}")
    head = f" {path} HTTP/1.1\r\nHost: {host}\r\n".encode("latin-1")
    return _Target(parts.scheme, parts.hostname, port, head)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: the parser's callbacks fill a queue of body pieces."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._loop = asyncio.get_running_loop()
        self._reset()

    def _reset(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.pieces: deque[bytes] = deque()
        self.buffered = 0
        self.got_headers = False
        self.complete = False
        self.keep_alive = False
        self.error: HttpError | None = None
        self._waiter: asyncio.Future | None = None
        self._paused = False

    def send(self, data: bytes) -> None:
        """Start an exchange on this (idle) connection."""
        self._reset()
        assert self.transport is not None
        self.transport.write(data)

    async def wait(self, timeout: float) -> None:
        """Until the parser has more to give (body, headers, the end) or the connection fails."""
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(timeout, _expire, waiter, timeout)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def take(self) -> bytes:
        """Every body byte buffered so far (resuming the socket if it was paused)."""
        data = self.pieces.popleft() if len(self.pieces) == 1 else b"".join(self.pieces)
        self.pieces.clear()
        self.buffered = 0
        if self._paused and not self.lost and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:  # noqa: D102
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = HttpError(f"malformed HTTP response: {exc}")
            assert self.transport is not None
            self.transport.close()
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self.lost = True
        if not self.complete and self.error is None:
            if self.got_headers and _ends_with_connection(self.headers):
                self.complete = True
            else:
                reason = f": {exc}" if exc else ""
                self.error = DisconnectedError(f"the server closed the connection{reason}",
                                               before_response=not self.got_headers)
        self._wake()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:  # noqa: D102
        self.status = self._parser.get_status_code()
        self.got_headers = True
        self._wake()

    def on_body(self, body: bytes) -> None:  # noqa: D102
        self.pieces.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:  # noqa: D102
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()


def _ends_with_connection(headers: dict[str, str]) -> bool:
    """A response with neither a length nor chunks: its body is whatever comes before the close."""
    return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower()


def _expire(waiter: asyncio.Future, timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout(f"no data from the server for {timeout:g} s"))


class Response:
    """A response whose status and headers have arrived; its body is read through it."""

    def __init__(self, connection: _Connection, read_timeout: float) -> None:
        self._conn = connection
        self._timeout = read_timeout
        self.status = connection.status
        self.headers = connection.headers
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", *DECODERS):
            raise HttpError(f"unsupported Content-Encoding: {encoding!r}")
        self._decoder = zlib.decompressobj(DECODERS[encoding]) if encoding in DECODERS else None

    async def iter_any(self) -> AsyncIterator[bytes]:
        """The body as it arrives: all that was buffered at each step, never an empty piece."""
        conn = self._conn
        while True:
            if conn.pieces:
                data = conn.take()
                data = self._decoder.decompress(data) if self._decoder else data
                if data:
                    yield data
            elif conn.complete:
                if self._decoder and (tail := self._decoder.flush()):
                    yield tail
                return
            elif conn.error is not None:
                raise conn.error
            else:
                await conn.wait(self._timeout)

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([piece async for piece in self.iter_any()])


class _Exchange:
    """``async with client.request(...) as response``: the connection goes back to the pool at the
    end only when the response was read to its end and the server keeps it alive."""

    def __init__(self, client: Http1Client, method: str, url: str, body: bytes | None,
                 headers: dict[str, str] | None, read_timeout: float) -> None:
        self._client = client
        self._request = (method, url, body, headers)
        self._timeout = read_timeout
        self._conn: _Connection | None = None
        self._target: _Target | None = None

    async def __aenter__(self) -> Response:
        method, url, body, headers = self._request
        target = self._target = _target(url)
        self._conn = conn = await self._client._acquire(target)
        conn.send(_frame(method, target, body, headers))
        try:
            while not conn.got_headers:
                if conn.error is not None:
                    raise conn.error
                await conn.wait(self._timeout)
            return Response(conn, self._timeout)
        except BaseException:
            self._client._release(target, conn, reuse=False)
            self._conn = None
            raise

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._conn is not None and self._target is not None:
            conn, self._conn = self._conn, None
            reusable = kind is None and conn.complete and conn.keep_alive and not conn.lost and not conn.pieces
            self._client._release(self._target, conn, reuse=reusable)


def _frame(method: str, target: _Target, body: bytes | None, headers: dict[str, str] | None) -> bytes:
    lines = [method.encode("ascii"), target.head, b"User-Agent: ", USER_AGENT,
             b"\r\nAccept-Encoding: gzip, deflate\r\n"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    if body is not None:
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
    else:
        lines.append(b"\r\n")
    return b"".join(lines)


class Http1Client:
    """Pooled keep-alive HTTP/1.1 connections, at most ``max_connections`` in use at once."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, max_connections: int = 100,
                 tls: ssl.SSLContext | None = None) -> None:
        """``tls``: how https servers are verified (default: the system's trusted certificates)."""
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._max = max_connections
        self._slots: asyncio.Semaphore | None = None
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._tls = tls

    def request(self, method: str, url: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, read_timeout: float | None = None) -> _Exchange:
        """An exchange to use as ``async with``; its response's status and headers have arrived."""
        return _Exchange(self, method, url, body, headers,
                         self.read_timeout if read_timeout is None else read_timeout)

    async def _acquire(self, target: _Target) -> _Connection:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        await self._slots.acquire()
        try:
            idle = self._idle.get(target.origin)
            while idle:
                conn = idle.pop()
                if not conn.lost and conn.transport is not None and not conn.transport.is_closing():
                    self._busy.add(conn)
                    return conn
            conn = await self._connect(target)
        except BaseException:
            self._slots.release()
            raise
        self._busy.add(conn)
        return conn

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if target.scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, target.host, target.port, ssl=tls,
                                       server_hostname=target.host if tls else None),
                self.connect_timeout)
        except asyncio.TimeoutError as exc:
            raise ConnectError(f"cannot connect to {target.host}:{target.port}: no answer in "
                               f"{self.connect_timeout:g} s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
        return conn

    def _release(self, target: _Target, conn: _Connection, *, reuse: bool) -> None:
        self._busy.discard(conn)
        if reuse:
            self._idle.setdefault(target.origin, []).append(conn)
        elif conn.transport is not None and not conn.lost:
            conn.transport.close()
        if self._slots is not None:
            self._slots.release()

    async def aclose(self) -> None:
        """Close every connection, idle or in use."""
        for conn in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            if conn.transport is not None and not conn.lost:
                conn.transport.close()
        self._idle.clear()
        self._busy.clear()
        await asyncio.sleep(0)  # let the transports run their connection_lost
