"""Tests for reference_impl.mcp.McpToolset against the real fixture MCP server."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from fixtures.mcp_server import McpServerHandle, serve_mcp
from fixtures.processes import free_port
from reference_impl.credentials import strip_credentials
from reference_impl.mcp import CHAT_NAME_MAX, McpToolset
from reference_impl.mcp_request import McpToolError

TOKEN = "toolset-token"


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


def _tool(url: str, label: str = "fx", **extra: Any) -> dict:
    return {"type": "mcp", "server_label": label, "server_url": url, **extra}


def _toolset(*tools: dict) -> McpToolset:
    toolset = McpToolset.from_request_tools([{"type": "function", "name": "local"}, *tools])
    assert toolset is not None
    return toolset


def _list(toolset: McpToolset) -> list[dict]:
    return anyio.run(toolset.list_tools)


def _call(toolset: McpToolset, name: str, arguments: str) -> dict:
    return anyio.run(toolset.call, name, arguments)


def test_no_mcp_tools_gives_none() -> None:
    assert McpToolset.from_request_tools([{"type": "function", "name": "f"}]) is None
    assert McpToolset.from_request_tools([]) is None


def test_list_tools_item_shape(open_server: McpServerHandle) -> None:
    toolset = _toolset(_tool(open_server.url))
    [item] = _list(toolset)
    assert item["id"].startswith("mcpl_")
    assert (item["type"], item["server_label"], item["error"]) == ("mcp_list_tools", "fx", None)
    tools = {tool["name"]: tool for tool in item["tools"]}
    assert set(tools) == {"add", "always_fails", "get_weather"}
    assert tools["add"]["description"] == "Add two integers."
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert tools["add"]["annotations"]["readOnlyHint"] is True


def test_chat_tools_are_namespaced_functions(open_server: McpServerHandle) -> None:
    toolset = _toolset(_tool(open_server.url), _tool(open_server.sse_url, label="other"))
    _list(toolset)
    names = [tool["function"]["name"] for tool in toolset.chat_tools()]
    assert names == ["fx__add", "fx__get_weather", "fx__always_fails",
                     "other__add", "other__get_weather", "other__always_fails"]
    add = toolset.chat_tools()[0]
    assert add["type"] == "function"
    assert add["function"]["parameters"]["properties"]["a"]["type"] == "integer"
    assert toolset.owns("fx__add") and not toolset.owns("local") and not toolset.owns("add")
    assert toolset.describe("other__get_weather") == ("other", "get_weather")


def test_call_over_streamable_http(open_server: McpServerHandle) -> None:
    toolset = _toolset(_tool(open_server.url))
    _list(toolset)
    item = _call(toolset, "fx__add", json.dumps({"a": 2, "b": 3}))
    assert item["id"].startswith("mcp_") and not item["id"].startswith("mcpl_")
    assert item["type"] == "mcp_call"
    assert (item["server_label"], item["name"]) == ("fx", "add")
    assert item["arguments"] == '{"a": 2, "b": 3}'
    assert (item["output"], item["error"], item["status"]) == ("5", None, "completed")


def test_call_over_sse(open_server: McpServerHandle) -> None:
    toolset = _toolset(_tool(open_server.sse_url))
    _list(toolset)
    item = _call(toolset, "fx__get_weather", '{"city": "Tokyo"}')
    assert item["output"] == "Sunny, 21°C in Tokyo"


@pytest.mark.parametrize(
    "allowed", [["get_weather"], {"tool_names": ["get_weather"]}], ids=["list", "filter"]
)
def test_allowed_tools_limit_listing_and_chat_tools(
    open_server: McpServerHandle, allowed: Any
) -> None:
    toolset = _toolset(_tool(open_server.url, allowed_tools=allowed))
    [item] = _list(toolset)
    assert [tool["name"] for tool in item["tools"]] == ["get_weather"]
    assert [tool["function"]["name"] for tool in toolset.chat_tools()] == ["fx__get_weather"]
    assert not toolset.owns("fx__add")


def test_read_only_filter_uses_annotations(open_server: McpServerHandle) -> None:
    kept = _list(_toolset(_tool(open_server.url, allowed_tools={"read_only": True})))
    dropped = _list(_toolset(_tool(open_server.url, allowed_tools={"read_only": False})))
    assert len(kept[0]["tools"]) == 3 and dropped[0]["tools"] == []


@pytest.mark.parametrize(
    ("require_approval", "expected"),
    [
        (None, {"add": True, "get_weather": True}),
        ("always", {"add": True, "get_weather": True}),
        ("never", {"add": False, "get_weather": False}),
        ({"never": {"tool_names": ["add"]}}, {"add": False, "get_weather": True}),
        ({"always": {"tool_names": ["add"]}, "never": {"tool_names": ["get_weather"]}},
         {"add": True, "get_weather": False}),
    ],
    ids=["default", "always", "never", "never-filter", "both-filters"],
)
def test_approval_flags(open_server: McpServerHandle, require_approval: Any, expected: dict) -> None:
    extra = {} if require_approval is None else {"require_approval": require_approval}
    toolset = _toolset(_tool(open_server.url, **extra))
    _list(toolset)
    assert {name: toolset.needs_approval(f"fx__{name}") for name in expected} == expected


def test_missing_credentials_give_an_error_item(gated_server: McpServerHandle) -> None:
    toolset = _toolset(_tool(gated_server.url), _tool(gated_server.sse_url, label="sse"))
    items = _list(toolset)
    assert [item["tools"] for item in items] == [[], []]
    for item in items:
        assert "401" in item["error"] and item["server_label"] in item["error"]
    assert toolset.chat_tools() == []
    failed = _call(toolset, "fx__add", '{"a": 1, "b": 1}')
    assert failed["status"] == "failed" and failed["output"] is None
    assert failed["error"]["type"] == "http_error" and failed["error"]["code"] == 401


@pytest.mark.parametrize(
    "credentials",
    [{"headers": {"Authorization": f"Bearer {TOKEN}"}}, {"authorization": TOKEN}],
    ids=["headers", "authorization"],
)
def test_credentials_open_the_server(gated_server: McpServerHandle, credentials: dict) -> None:
    toolset = _toolset(_tool(gated_server.url, **credentials))
    [item] = _list(toolset)
    assert item["error"] is None and len(item["tools"]) == 3
    assert _call(toolset, "fx__add", '{"a": 20, "b": 22}')["output"] == "42"


def test_authorization_overrides_a_header_in_any_case(gated_server: McpServerHandle) -> None:
    tool = _tool(gated_server.url, headers={"authorization": "Bearer wrong"}, authorization=TOKEN)
    [item] = _list(_toolset(tool))
    assert item["error"] is None


def test_unreachable_server_gives_an_error_item() -> None:
    toolset = _toolset(_tool(f"http://127.0.0.1:{free_port()}/mcp", label="gone"))
    [item] = _list(toolset)
    assert item["tools"] == [] and "gone" in item["error"] and "connection failed" in item["error"]
    failed = _call(toolset, "gone__add", "{}")
    assert failed["status"] == "failed" and failed["name"] == "add"


def test_bad_arguments_and_tool_errors_give_failed_calls(open_server: McpServerHandle) -> None:
    toolset = _toolset(_tool(open_server.url))
    _list(toolset)
    assert "Invalid JSON" in _call(toolset, "fx__add", "{not json")["error"]["message"]
    assert "JSON object" in _call(toolset, "fx__add", "[1, 2]")["error"]["message"]
    wrong = _call(toolset, "fx__add", '{"a": "x", "b": 1}')
    assert wrong["status"] == "failed" and wrong["output"] is None
    assert wrong["error"]["type"] == "mcp_tool_execution_error" and wrong["error"]["content"][0]["text"]


def test_request_shape_errors_name_the_parameter() -> None:
    cases = [
        ({"type": "mcp", "server_url": "http://x/mcp"}, "tools[0].server_label"),
        ({"type": "mcp", "server_label": "a", "server_url": "ftp://x"}, "tools[0].server_url"),
        (_tool("http://x/mcp", require_approval="sometimes"), "tools[0].require_approval"),
        (_tool("http://x/mcp", allowed_tools="add"), "tools[0].allowed_tools"),
        (_tool("http://x/mcp", headers={"X": 1}), "tools[0].headers"),
    ]
    for tool, param in cases:
        with pytest.raises(McpToolError) as info:
            McpToolset.from_request_tools([tool])
        assert info.value.param == param
    with pytest.raises(McpToolError, match="Duplicate"):
        McpToolset.from_request_tools([_tool("http://x/mcp"), _tool("http://y/mcp")])


def test_long_and_odd_labels_give_valid_unique_names(open_server: McpServerHandle) -> None:
    toolset = _toolset(_tool(open_server.url, label="a.b" * 30), _tool(open_server.url, label="a_b"))
    _list(toolset)
    names = [tool["function"]["name"] for tool in toolset.chat_tools()]
    assert len(set(names)) == 6
    assert all(len(n) <= CHAT_NAME_MAX and n.replace("_", "").replace("-", "").isalnum() for n in names)
    assert _call(toolset, names[0], '{"a": 1, "b": 2}')["output"] == "3"


def test_strip_secrets_removes_credentials_only_from_mcp_tools() -> None:
    tools = [
        _tool("http://x/mcp", headers={"Authorization": "Bearer s"}, authorization="s",
              require_approval="never"),
        {"type": "function", "name": "f", "headers": "not a secret here"},
    ]
    stripped = strip_credentials(tools)
    assert stripped is not None
    assert "headers" not in stripped[0] and "authorization" not in stripped[0]
    assert stripped[0]["require_approval"] == "never"
    assert stripped[1] == tools[1]
    assert "authorization" in tools[0]  # the request itself is left alone
    assert strip_credentials(None) is None
