"""Tests for fixtures.mcp_server and fixtures.image_server, driven by the official SDK client."""
from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from fixtures.image_server import IMAGES, png_data_url, serve_images, solid_png
from fixtures.mcp_server import McpServerHandle, serve_mcp

TOKEN = "fixture-token"


@pytest.fixture(scope="module")
def open_server() -> Iterator[McpServerHandle]:
    """The fixture MCP server without auth."""
    with serve_mcp() as handle:
        yield handle


@pytest.fixture(scope="module")
def gated_server() -> Iterator[McpServerHandle]:
    """The fixture MCP server requiring a bearer token."""
    with serve_mcp(token=TOKEN) as handle:
        yield handle


def _streamable(url: str, headers: dict[str, str] | None = None) -> Callable[[], Any]:
    def connect() -> Any:
        return streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers))

    return connect


def _sse(url: str, headers: dict[str, str] | None = None) -> Callable[[], Any]:
    return lambda: sse_client(url, headers=headers)


def _run(transport: Callable[[], Any], body: Callable[[Client], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with Client(transport()) as client:
            return await body(client)

    return anyio.run(main)


async def _exercise(client: Client) -> dict[str, Any]:
    listed = await client.list_tools()
    total = await client.call_tool("add", {"a": 2, "b": 40})
    weather = await client.call_tool("get_weather", {"city": "Tokyo"})
    failure = await client.call_tool("always_fails", {})
    return {
        "names": sorted(tool.name for tool in listed.tools),
        "add": [part.text for part in total.content],
        "weather": [part.text for part in weather.content],
        "errors": (total.is_error, weather.is_error, failure.is_error),
    }


def _check(result: dict[str, Any]) -> None:
    assert result["names"] == ["add", "always_fails", "get_weather"]
    assert result["add"] == ["42"]
    assert result["weather"] == ["Sunny, 21°C in Tokyo"]
    assert result["errors"] == (False, False, True)


def test_streamable_http_lists_and_calls(open_server: McpServerHandle) -> None:
    assert open_server.url.endswith("/mcp") and open_server.url.startswith("http://127.0.0.1:")
    _check(_run(_streamable(open_server.url), _exercise))


def test_sse_lists_and_calls(open_server: McpServerHandle) -> None:
    assert open_server.sse_url.endswith("/sse")
    _check(_run(_sse(open_server.sse_url), _exercise))


def test_tools_carry_schema_and_annotations(open_server: McpServerHandle) -> None:
    async def body(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in _run(_streamable(open_server.url), body)}
    assert tools["add"].input_schema["required"] == ["a", "b"]
    assert tools["get_weather"].input_schema["properties"]["city"]["type"] == "string"
    assert tools["add"].annotations is not None and tools["add"].annotations.read_only_hint


def test_missing_token_is_401(gated_server: McpServerHandle) -> None:
    for path in ("/mcp", "/sse"):
        reply = httpx2.post(f"http://127.0.0.1:{gated_server.port}{path}", json={}, timeout=5)
        assert reply.status_code == 401, path
    wrong = httpx2.post(gated_server.url, json={}, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401


def test_sdk_client_without_token_fails(gated_server: McpServerHandle) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises an ExceptionGroup here
        _run(_streamable(gated_server.url), _exercise)
    with pytest.raises(httpx2.HTTPStatusError, match="401"):
        _run(_sse(gated_server.sse_url), _exercise)


def test_token_opens_both_transports(gated_server: McpServerHandle) -> None:
    headers = gated_server.auth_headers
    assert headers == {"Authorization": f"Bearer {TOKEN}"}
    _check(_run(_streamable(gated_server.url, headers), _exercise))
    _check(_run(_sse(gated_server.sse_url, headers), _exercise))


def test_stop_frees_the_port() -> None:
    handle = serve_mcp()
    server = handle.__enter__()
    assert httpx2.post(server.url, json={}, timeout=5).status_code != 401
    handle.__exit__(None, None, None)
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(server.url, timeout=2)


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    return width, height, zlib.decompress(data[41 : 41 + length])


def test_red_png_is_8x8_red() -> None:
    width, height, raw = _png_pixels(IMAGES["red.png"])
    assert (width, height) == (8, 8)
    assert raw == (b"\x00" + b"\xff\x00\x00" * 8) * 8
    assert solid_png((0, 0, 255)) != IMAGES["red.png"]


def test_image_server_serves_png_and_404() -> None:
    with serve_images() as images:
        reply = httpx2.get(images.url_for("red.png"), timeout=5)
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "image/png"
        assert reply.content == IMAGES["red.png"]
        assert httpx2.get(images.url_for("missing.png"), timeout=5).status_code == 404
        assert png_data_url("red.png").startswith("data:image/png;base64,iVBORw0KGgo")
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(images.url_for("red.png"), timeout=2)
