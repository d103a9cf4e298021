"""Server-side MCP tools: the request's ``type: mcp`` tools as chat functions, listed and called.

Owns one ``McpToolset`` per request (mcp_loop.py decides when it lists and calls):
listing each server's tools into ``mcp_list_tools`` items, exposing the allowed ones to the chat
backend as function tools, deciding approvals, and calling a tool into an ``mcp_call`` item. The
official ``mcp`` SDK client does the talking: streamable HTTP, or the legacy SSE transport when
the server URL's path ends in ``/sse``.

Chat function names are ``<server_label>__<tool>`` (``CHAT_NAME_SEPARATOR``), reduced to the
characters chat APIs accept and cut to 64 characters with a hash suffix when longer; the toolset
maps them back. Failures of a server (unreachable, 401, timeout, bad JSON arguments, tool errors)
become items with an ``error`` string and never raise. Request shape errors raise
``McpToolError`` (a ``ValueError`` naming the parameter), from ``reference_impl.mcp_request``,
which parses each ``type: mcp`` tool into an ``McpServer``.

Credentials (``headers``, ``authorization``) are used for the calls only; credentials.py keeps
them out of everything echoed or stored.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from .ids import new_id
from .mcp_request import McpServer, McpToolError, parse_server

CONNECT_TIMEOUT_S = 5.0
LIST_TIMEOUT_S = 15.0  # whole list operation per server: connect, handshake, tools/list
CALL_TIMEOUT_S = 60.0  # whole call operation: connect, handshake, tools/call
CHAT_NAME_SEPARATOR = "__"
CHAT_NAME_MAX = 64  # OpenAI-style function names: ^[a-zA-Z0-9_-]{1,64}$
CHAT_NAME_HASH_CHARS = 8
SSE_PATH_SUFFIX = "/sse"
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def _chat_name(label: str, tool: str, taken: set[str]) -> str:
    name = _UNSAFE_NAME_CHARS.sub("_", f"{label}{CHAT_NAME_SEPARATOR}{tool}")
    if len(name) > CHAT_NAME_MAX or name in taken:
        digest = hashlib.sha256(f"{label}\0{tool}".encode()).hexdigest()[:CHAT_NAME_HASH_CHARS]
        name = f"{name[: CHAT_NAME_MAX - CHAT_NAME_HASH_CHARS - 1]}_{digest}"
    return name


def _http_factory(statuses: list[int]) -> Callable[..., httpx2.AsyncClient]:
    """An httpx2 client factory that remembers error statuses (the SDK hides them)."""

    async def remember(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            statuses.append(response.status_code)

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers,
            timeout=timeout or httpx2.Timeout(CONNECT_TIMEOUT_S, read=CALL_TIMEOUT_S),
            auth=auth,
            event_hooks={"response": [remember]},
        )

    return factory


@asynccontextmanager
async def _session(server: McpServer, statuses: list[int], read_timeout: float) -> AsyncIterator[Client]:
    factory = _http_factory(statuses)
    if urlsplit(server.url).path.rstrip("/").endswith(SSE_PATH_SUFFIX):
        transport: Any = sse_client(
            server.url,
            headers=server.headers,
            timeout=CONNECT_TIMEOUT_S,
            sse_read_timeout=read_timeout,
            httpx_client_factory=factory,
        )
        async with Client(transport, read_timeout_seconds=read_timeout) as client:
            yield client
        return
    timeout = httpx2.Timeout(CONNECT_TIMEOUT_S, read=read_timeout)
    async with factory(headers=server.headers, timeout=timeout) as http:
        transport = streamable_http_client(server.url, http_client=http)
        async with Client(transport, read_timeout_seconds=read_timeout) as client:
            yield client


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


JSONRPC_INVALID_PARAMS = -32602


def call_error(message: str, *, http_status: int | None = None) -> dict[str, Any]:
    """An ``mcp_call.error`` in the SDK's typed shape: an HTTP error, or an MCP protocol error.

    The arguments never reaching the server, or the server failing the exchange, is a protocol
    error; a tool that ran and failed is ``mcp_tool_execution_error`` (built where it happens).
    """
    if http_status is not None and http_status >= 400:
        return {"type": "http_error", "code": http_status, "message": message}
    return {"type": "mcp_protocol_error", "code": JSONRPC_INVALID_PARAMS, "message": message}


def _describe_failure(exc: BaseException, statuses: list[int], timeout: float) -> str:
    if statuses:
        code = statuses[-1]
        try:
            phrase = httpx2.codes(code).phrase
        except ValueError:
            phrase = ""
        return f"HTTP status {code} {phrase}".rstrip()
    leaf = _leaves(exc)[0]
    if isinstance(leaf, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(leaf, httpx2.ConnectError):
        return f"connection failed ({leaf})" if str(leaf) else "connection failed"
    return f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__


def _text_output(result: Any) -> str:
    texts = [part.text for part in result.content if getattr(part, "type", None) == "text"]
    if texts:
        return "\n".join(texts)
    if result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return json.dumps([part.model_dump(mode="json", exclude_none=True) for part in result.content])


class McpToolset:
    """The MCP tools of one request. Build with :meth:`from_request_tools`, then list first."""

    def __init__(self, servers: list[McpServer]) -> None:
        self._servers = {server.label: server for server in servers}
        self._functions: dict[str, tuple[str, str]] = {}  # chat name -> (label, tool)

    @classmethod
    def from_request_tools(cls, tools: list[dict]) -> McpToolset | None:
        """The toolset for the request's ``type: mcp`` tools, or None when there are none."""
        servers: list[McpServer] = []
        for index, tool in enumerate(tools or []):
            if isinstance(tool, dict) and tool.get("type") == "mcp":
                server = parse_server(tool, index)
                if any(s.label == server.label for s in servers):
                    raise McpToolError(
                        f"Duplicate server_label '{server.label}'", f"tools[{index}].server_label"
                    )
                servers.append(server)
        return cls(servers) if servers else None

    async def list_tools(self) -> list[dict]:
        """One ``mcp_list_tools`` item per server (request order); failures carry ``error``."""
        labels = list(self._servers)
        items: dict[str, dict] = {}

        async def one(label: str) -> None:
            items[label] = await self._list_server(self._servers[label])

        async with anyio.create_task_group() as group:
            for label in labels:
                group.start_soon(one, label)
        self._functions.clear()
        for label in labels:
            for tool in self._servers[label].tools:
                name = _chat_name(label, tool["name"], set(self._functions))
                self._functions[name] = (label, tool["name"])
        return [items[label] for label in labels]

    async def _list_server(self, server: McpServer) -> dict:
        item: dict[str, Any] = {
            "id": new_id("mcpl"),
            "type": "mcp_list_tools",
            "server_label": server.label,
            "tools": [],
            "error": None,
        }
        statuses: list[int] = []
        try:
            with anyio.fail_after(LIST_TIMEOUT_S):
                async with _session(server, statuses, LIST_TIMEOUT_S) as client:
                    listed = await client.list_tools()
        except Exception as exc:  # noqa: BLE001 - any failure becomes the item's error
            reason = _describe_failure(exc, statuses, LIST_TIMEOUT_S)
            item["error"] = f"Error retrieving tool list from MCP server '{server.label}': {reason}"
            server.tools = []
            return item
        tools = []
        for tool in listed.tools:
            annotations = (
                tool.annotations.model_dump(by_alias=True, exclude_none=True)
                if tool.annotations is not None
                else None
            )
            if server.allows(tool.name, annotations):
                tools.append(
                    {
                        "name": tool.name,
                        "description": tool.description,
                        "input_schema": tool.input_schema,
                        "annotations": annotations,
                    }
                )
        server.tools = tools
        item["tools"] = tools
        return item

    def chat_tools(self) -> list[dict]:
        """Chat Completions function tools for every listed, allowed MCP tool."""
        out = []
        for name, (label, tool_name) in self._functions.items():
            tool = next(t for t in self._servers[label].tools if t["name"] == tool_name)
            function: dict[str, Any] = {
                "name": name,
                "parameters": tool["input_schema"] or {"type": "object", "properties": {}},
            }
            if tool["description"]:
                function["description"] = tool["description"]
            out.append({"type": "function", "function": function})
        return out

    def describe(self, function_name: str) -> tuple[str, str]:
        """``(server_label, tool name)`` for a chat function name; KeyError when not ours."""
        if function_name in self._functions:
            return self._functions[function_name]
        # Not listed in this request (e.g. a call approved in a later request after a failed
        # listing): the name still says which server it belongs to.
        label, sep, tool = function_name.partition(CHAT_NAME_SEPARATOR)
        if sep and tool and label in self._servers:
            return label, tool
        raise KeyError(function_name)

    def owns(self, function_name: str) -> bool:
        """Whether a chat function name is one of this toolset's MCP tools."""
        return function_name in self._functions

    def needs_approval(self, function_name: str) -> bool:
        """Whether calling this tool must wait for an ``mcp_approval_response``."""
        label, tool = self.describe(function_name)
        server = self._servers[label]
        return server.needs_approval(tool, server.annotations_of(tool))

    async def call(self, function_name: str, arguments: str) -> dict:
        """Call the MCP tool behind a chat function name; returns an ``mcp_call`` item."""
        label, tool = self.describe(function_name)
        return await self.call_tool(label, tool, arguments)

    async def call_tool(self, server_label: str, tool_name: str, arguments: str) -> dict:
        """Call ``tool_name`` on the server labelled ``server_label``; an ``mcp_call`` item."""
        server = self._servers[server_label]
        item: dict[str, Any] = {
            "id": new_id("mcp"),
            "type": "mcp_call",
            "server_label": server_label,
            "name": tool_name,
            "arguments": arguments,
            "output": None,
            "error": None,
            "status": "completed",
        }
        try:
            parsed = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            return {**item, "error": call_error(f"Invalid JSON arguments: {exc}"), "status": "failed"}
        if not isinstance(parsed, dict):
            return {**item, "error": call_error("Arguments must be a JSON object"), "status": "failed"}
        statuses: list[int] = []
        try:
            with anyio.fail_after(CALL_TIMEOUT_S):
                async with _session(server, statuses, CALL_TIMEOUT_S) as client:
                    result = await client.call_tool(tool_name, parsed)
        except Exception as exc:  # noqa: BLE001 - any failure becomes the item's error
            reason = _describe_failure(exc, statuses, CALL_TIMEOUT_S)
            message = f"Error calling tool '{tool_name}' on MCP server '{server_label}': {reason}"
            return {**item, "error": call_error(message, http_status=statuses[-1] if statuses else None),
                    "status": "failed"}
        text = _text_output(result)
        if result.is_error:
            return {**item, "error": {"type": "mcp_tool_execution_error",
                                      "content": [{"type": "text", "text": text}]}, "status": "failed"}
        return {**item, "output": text}
