"""The backend-turn loop of one response, with server-side MCP calls and approvals.

A response is one backend turn unless the model calls MCP tools: then the router calls them,
reports each as an ``mcp_call`` item and runs another turn, up to `MAX_MCP_TURNS`. A tool that
needs approval stops the loop with ``mcp_approval_request`` items; the client answers them with
``mcp_approval_response`` input items in a later request, checked by `check_approvals` before any
event and run by `turns` before the first backend turn. The MCP client itself lives in mcp.py;
this module only decides when to list, call, ask and stop.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from .errors import ApiError
from .ids import new_id
from .stream import ResponseStream

if TYPE_CHECKING:
    from .mcp import McpToolset

MAX_MCP_TURNS = 8  # backend turns per response when MCP tools keep being called
APPROVAL_REQUEST = "mcp_approval_request"
APPROVAL_RESPONSE = "mcp_approval_response"

# One backend turn: (output items so far, extra chat tools) -> chat completion chunks.
BackendTurn = Callable[[list[dict], list[dict]], AsyncIterator[dict]]


def toolset_for(tools: list[dict]) -> McpToolset | None:
    """The request's MCP toolset (None without MCP tools); 400 for a malformed MCP tool."""
    if not any(isinstance(t, dict) and t.get("type") == "mcp" for t in tools):
        return None
    from .mcp import McpToolset  # imported lazily: the MCP SDK is heavy, often unused
    from .mcp_request import McpToolError

    try:
        return McpToolset.from_request_tools(tools)
    except McpToolError as exc:
        raise ApiError(400, str(exc), param=exc.param) from exc


def _approval_requests(input_items: list[dict], history: list[dict]) -> dict[str, dict]:
    """The approval requests a response may answer: in the previous responses' chain, or sent
    back by the client in this request's input (a stateless loop with ``store: false``)."""
    return {i.get("id"): i for i in [*history, *input_items] if i.get("type") == APPROVAL_REQUEST}


def check_approvals(input_items: list[dict], history: list[dict]) -> None:
    """Every mcp_approval_response must answer a request of the previous responses or the input."""
    known = _approval_requests(input_items, history)
    for position, item in enumerate(input_items):
        if item.get("type") == APPROVAL_RESPONSE and item.get("approval_request_id") not in known:
            raise ApiError(400, f"No mcp_approval_request with id '{item.get('approval_request_id')}' "
                                "in the previous responses or the input.",
                           param=f"input[{position}].approval_request_id", code="invalid_value")


def has_approvals(input_items: list[dict]) -> bool:
    """Whether the input answers approval requests (their calls run before the first turn)."""
    return any(item.get("type") == APPROVAL_RESPONSE for item in input_items)


async def list_tools(toolset: McpToolset | None, stream: ResponseStream) -> list[dict]:
    """List the MCP tools (before the stream starts) and tell the stream their chat names.

    Returns the ``mcp_list_tools`` items to emit; an exception means MCP could not be set up.
    """
    if toolset is None:
        return []
    listed = await toolset.list_tools()
    stream.add_tool_kinds({t["function"]["name"]: "mcp" for t in toolset.chat_tools()})
    return listed


def _approval_request(toolset: McpToolset, call: dict) -> dict:
    label, name = toolset.describe(call["name"])
    return {"id": new_id("mcpr"), "type": APPROVAL_REQUEST, "server_label": label,
            "name": name, "arguments": call.get("arguments") or "{}"}


async def _approved_calls(toolset: McpToolset | None, input_items: list[dict],
                          history: list[dict]) -> list[dict]:
    """mcp_call items for the approvals granted in this request's input.

    An approval whose call already ran (an ``mcp_call`` with its ``approval_request_id`` in the
    history or the input, as a stateless loop sends it back every turn) does not run again.
    """
    approvals = [i for i in input_items if i.get("type") == APPROVAL_RESPONSE]
    if not approvals:
        return []
    requests = _approval_requests(input_items, history)
    ran = {i.get("approval_request_id") for i in [*history, *input_items] if i.get("type") == "mcp_call"}
    calls: list[dict] = []
    for approval in approvals:
        pending = requests[approval.get("approval_request_id")]  # known: check_approvals ran
        if not approval.get("approve") or toolset is None or pending.get("id") in ran:
            continue
        item = await toolset.call_tool(pending["server_label"], pending["name"],
                                       pending.get("arguments") or "{}")
        item.setdefault("approval_request_id", pending["id"])
        calls.append(item)
    return calls


async def turns(stream: ResponseStream, toolset: McpToolset | None, backend_turn: BackendTurn, *,
                input_items: list[dict], history: list[dict]) -> AsyncIterator[dict]:
    """Events from the started ``stream`` to its terminal event (`BackendError` passes through)."""
    for item in await _approved_calls(toolset, input_items, history):
        for event in stream.add_item(item):
            yield event
    extra_tools = toolset.chat_tools() if toolset is not None else []
    for _ in range(MAX_MCP_TURNS):
        async for chunk in backend_turn(stream.response["output"], extra_tools):
            for event in stream.feed(chunk):
                yield event
        for event in stream.end_turn():
            yield event
        pending = stream.pending_tool_calls
        owned = [c for c in pending if toolset is not None and toolset.owns(c["name"])]
        if toolset is None or not owned or len(owned) != len(pending):
            break  # no MCP call, or a client-side call the client must answer
        if any(toolset.needs_approval(c["name"]) for c in owned):
            for call in owned:
                for event in stream.add_item(_approval_request(toolset, call)):
                    yield event
            break
        for call in owned:
            item = await toolset.call(call["name"], call.get("arguments") or "{}")
            for event in stream.add_item(item):
                yield event
    for event in stream.finish():
        yield event
