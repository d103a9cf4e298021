"""The router's HTTP/1.1 client (reference_impl/http1.py) against a scripted socket server.

Each test runs a real asyncio TCP server on loopback whose handler reads one request and then
answers with the raw bytes the test scripts (a good response, chunks with pauses, a close at a
chosen point), so every framing and failure path is exercised on real sockets.
"""
from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from reference_impl.http1 import HIGH_WATER, ConnectError, DisconnectedError, Http1Client, HttpError, ReadTimeout

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and body (by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def fixed(body: bytes, *extra: bytes) -> bytes:
    """A 200 response with a Content-Length body."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), b"".join(extra), body)


class Server:
    """A loopback server that runs ``handler`` for every request of every connection."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        # A certificate names a host, not an address: https goes to localhost.
        self.url = f"https://localhost:{port}" if self.tls else f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while not reader.at_eof():
                self.requests.append(await read_request(reader))
                await self.handler(reader, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def answer(raw: bytes, *, close: bool = False) -> Handler:
    """A handler that sends ``raw`` for every request (then closes the connection with ``close``)."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        if close:
            writer.close()
    return handler


def client(**kwargs: float) -> Http1Client:
    return Http1Client(connect_timeout=kwargs.get("connect_timeout", 2.0),
                       read_timeout=kwargs.get("read_timeout", 2.0))


def test_a_post_sends_its_body_and_reads_status_headers_and_body() -> None:
    async def test() -> None:
        async with Server(answer(fixed(b'{"ok":true}', b"Content-Type: application/json\r\n"))) as server:
            http = client()
            async with http.request("POST", server.url + "/v1/chat?x=1", body=b'{"a":1}',
                                    headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200
                assert resp.headers["content-type"] == "application/json"
                assert await resp.read() == b'{"ok":true}'
            await http.aclose()
        request = server.requests[0]
        assert request.startswith(b"POST /v1/chat?x=1 HTTP/1.1\r\n")
        assert f"Host: {server.url.removeprefix('http://')}\r\n".encode() in request
        assert b"Content-Length: 7\r\n" in request and request.endswith(b'\r\n\r\n{"a":1}')
    run(test)


def test_a_chunked_body_arrives_piece_by_piece_as_the_server_sends_it() -> None:
    async def test() -> None:
        release = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await release.wait()
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()

        async with Server(handler) as server:
            http = client()
            pieces = []
            async with http.request("GET", server.url + "/") as resp:
                async for piece in resp.iter_any():
                    pieces.append(piece)
                    release.set()  # the second piece is sent only once the first was read
            await http.aclose()
        assert pieces == [b"first", b"second"]
    run(test)


def test_a_connection_read_to_the_end_is_reused_and_one_left_early_is_not() -> None:
    async def test() -> None:
        async with Server(answer(fixed(b"x" * 10))) as server:
            http = client()
            for _ in range(3):
                async with http.request("GET", server.url + "/") as resp:
                    assert await resp.read() == b"x" * 10
            assert server.connections == 1
            async with http.request("GET", server.url + "/") as resp:
                pass  # body not read: the connection cannot carry another request
            async with http.request("GET", server.url + "/") as resp:
                assert await resp.read() == b"x" * 10
            await http.aclose()
        assert server.connections == 2
    run(test)


@pytest.mark.parametrize("raw, body", [
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", b"until the end"),
    (fixed(b"ok"), b"ok"),  # keep-alive said nothing, but the server goes away after answering
], ids=["connection-close-with-a-body-ended-by-the-close", "closed-after-a-keep-alive-answer"])
def test_a_connection_the_server_closed_is_not_used_again(raw: bytes, body: bytes) -> None:
    async def test() -> None:
        async with Server(answer(raw, close=True)) as server:
            http = client()
            for _ in range(2):
                async with http.request("GET", server.url + "/") as resp:
                    assert await resp.read() == body
                await asyncio.sleep(0.05)  # the close reaches the client
            await http.aclose()
        assert server.connections == 2
    run(test)


def test_a_close_before_the_response_is_retryable_and_one_mid_body_is_not() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def test() -> None:
        async with Server(silent) as server:
            with pytest.raises(DisconnectedError) as before:
                async with client().request("GET", server.url + "/"):
                    pass
        assert before.value.before_response
        async with Server(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", close=True)) as server:
            received = []
            with pytest.raises(DisconnectedError) as during:
                async with client().request("GET", server.url + "/") as resp:
                    async for piece in resp.iter_any():
                        received.append(piece)
        assert not during.value.before_response
        assert b"".join(received) == b"partial"  # what came before the close is delivered
    run(test)


def test_a_silent_server_is_a_read_timeout_and_a_closed_port_a_connect_error() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async def test() -> None:
        async with Server(never) as server:
            with pytest.raises(ReadTimeout):
                async with client(read_timeout=0.2).request("GET", server.url + "/"):
                    pass
            url = server.url
        with pytest.raises(ConnectError):
            async with client().request("GET", url + "/"):
                pass
    run(test)


def test_gzip_bodies_are_decoded_and_other_encodings_refused() -> None:
    async def test() -> None:
        body = gzip.compress(b"compressed text " * 50)
        async with Server(answer(fixed(body, b"Content-Encoding: gzip\r\n"))) as server:
            async with client().request("GET", server.url + "/") as resp:
                assert await resp.read() == b"compressed text " * 50
        async with Server(answer(fixed(b"??", b"Content-Encoding: br\r\n"))) as server:
            with pytest.raises(HttpError, match="Content-Encoding"):
                async with client().request("GET", server.url + "/"):
                    pass
    run(test)


def test_a_malformed_response_is_an_http_error() -> None:
    async def test() -> None:
        async with Server(answer(b"NOT HTTP AT ALL\r\n\r\n")) as server:
            with pytest.raises(HttpError, match="malformed"):
                async with client().request("GET", server.url + "/"):
                    pass
    run(test)


def test_aclose_closes_connections_in_use() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome")
        await writer.drain()
        await asyncio.sleep(10)

    async def test() -> None:
        async with Server(slow) as server:
            http = client()
            async with http.request("GET", server.url + "/") as resp:
                pieces = resp.iter_any()
                assert await anext(pieces) == b"some"
                await http.aclose()
                with pytest.raises(DisconnectedError):
                    await anext(pieces)
    run(test)


def test_a_url_that_is_not_http_is_refused() -> None:
    async def test() -> None:
        with pytest.raises(ValueError, match="not an http"):
            async with client().request("GET", "ftp://example.com/"):
                pass
    run(test)


def test_a_large_body_read_slowly_is_buffered_only_up_to_the_high_water_mark() -> None:
    size = 4 * HIGH_WATER

    async def test() -> None:
        async with Server(answer(fixed(b"z" * size))) as server:
            http = client()
            async with http.request("GET", server.url + "/") as resp:
                received = 0
                async for piece in resp.iter_any():
                    received += len(piece)
                    await asyncio.sleep(0.05)  # the server sends the rest meanwhile
                    (connection,) = http._busy
                    # One socket read past the mark at most: the socket was paused there.
                    assert connection.buffered <= HIGH_WATER + 512 * 1024
            await http.aclose()
        assert received == size  # and resumed: everything arrived
    run(test)


def test_https_is_spoken_with_the_server_certificate_verified(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path, "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def test() -> None:
        async with Server(answer(fixed(b"secret")), tls=server_tls) as server:
            http = Http1Client(connect_timeout=2.0, read_timeout=2.0, tls=trusting)
            async with http.request("GET", server.url + "/") as resp:
                assert await resp.read() == b"secret"
            await http.aclose()
            with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                async with client().request("GET", server.url + "/"):  # the system's roots do not know it
                    pass
    run(test)


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` signed by its own key, as PEM files (certificate, key)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_backend_transport_sends_a_json_request_again_when_its_pooled_connection_closes() -> None:
    """A backend that closes a kept-alive connection as the next request arrives on it (llama.cpp's
    idle timeout racing a token count) costs a new connection, not a failed request."""
    from reference_impl.backend_http import LiveTransport

    answered: set[int] = set()

    async def once_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if id(writer) in answered:
            writer.close()  # the second request on a connection gets no answer
            return
        answered.add(id(writer))
        writer.write(fixed(b'{"tokens": [1, 2]}'))
        await writer.drain()

    async def test() -> None:
        async with Server(once_per_connection) as server:
            transport = LiveTransport()
            for _ in range(2):
                assert await transport.post_json(server.url, "/tokenize", {"content": "hi"}) == {"tokens": [1, 2]}
            await transport.aclose()
        assert server.connections == 2 and len(server.requests) == 3
    run(test)
