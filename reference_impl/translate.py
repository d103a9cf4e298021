"""Pure translation of a Responses request into what a backend takes (no I/O).

Owns: tools / tool_choice / ``text.format`` for chat, the Chat Completions body, and the request
for a backend that speaks Responses natively. The family: the request's items and their chat
messages are translate_items.py (with :class:`TranslationError`), tools as clients send them
translate_tools.py, the Response skeleton translate_skeleton.py, chat results back into Responses
shapes translate_out.py (the events themselves are stream.py). Validation beyond what a shape
needs is the route layer's job; a shape this family cannot translate raises
:class:`TranslationError` with the offending ``param`` path.
"""
from __future__ import annotations

from typing import Any

from reference_impl.jsoncodec import copy_json
from reference_impl.translate_items import (
    TranslationError, items_to_messages, request_to_input_items, required_field,
)
from reference_impl.translate_tools import (
    CLIENT_TOOL_TYPES, OpenCalls, chat_name, custom_parameters, find_tool, flat_tools,
)

LOGPROBS_INCLUDE = "message.output_text.logprobs"


# ---------------------------------------------------------------- tools and formats

def tool_kinds(tools: list[dict] | None) -> dict[str, str]:
    """Map each chat function name to ``"function"`` or ``"custom"`` (for ResponseStream)."""
    return {t.chat_name: t.kind for t in flat_tools(tools) if t.kind in CLIENT_TOOL_TYPES}


def chat_tools(tools: list[dict] | None) -> list[dict]:
    """Responses tools -> chat function tools; MCP tools are skipped (the MCP toolset adds them)."""
    out = []
    for flat in flat_tools(tools):
        kind, tool, param = flat.kind, flat.tool, flat.param
        if kind == "function":
            function: dict[str, Any] = {
                "name": chat_name(flat.namespace, required_field(tool, "name", param))}
            if tool.get("description"):
                function["description"] = tool["description"]
            function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
            if tool.get("strict") is not None:
                function["strict"] = tool["strict"]
        elif kind == "custom":
            function = {"name": chat_name(flat.namespace, required_field(tool, "name", param)),
                        "parameters": custom_parameters(tool)}
            if tool.get("description"):
                function["description"] = tool["description"]
        else:
            raise TranslationError(f"unsupported tool type {kind!r}", f"{param}.type")
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: Any, tools: list[dict] | None = None) -> tuple[Any, set[str] | None]:
    """Responses tool_choice -> (chat tool_choice, allowed function names or None for all).

    A named tool inside a namespace is chosen by its chat name; allowed names hold both forms.
    """
    if choice is None or isinstance(choice, str):
        return choice, None
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name = required_field(choice, "name", "tool_choice")
        found = find_tool(tools, name, choice.get("namespace"))
        return {"type": "function", "function": {"name": found.chat_name if found else name}}, None
    if kind == "mcp":
        # The MCP toolset names its chat functions; "a tool must be called" is what survives.
        return "required", None
    if kind == "allowed_tools":
        names = {t["name"] for t in choice.get("tools", []) if "name" in t}
        return choice.get("mode", "auto"), names
    raise TranslationError(f"unsupported tool_choice type {kind!r}", "tool_choice.type")


def response_format(text: dict | None) -> dict | None:
    """``text.format`` -> chat ``response_format`` (None for plain text)."""
    fmt = (text or {}).get("format") or {"type": "text"}
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema: dict[str, Any] = {"name": fmt.get("name", "response"), "schema": fmt.get("schema")}
        if fmt.get("description"):
            schema["description"] = fmt["description"]
        if fmt.get("strict") is not None:
            schema["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": schema}
    raise TranslationError(f"unsupported text.format type {kind!r}", "text.format.type")


# ---------------------------------------------------------------- the chat request

def _input_messages(request: dict, open_calls: OpenCalls) -> list[dict]:
    raw = request.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise TranslationError("input must be a string or a list of items", "input")
    return items_to_messages(raw, param_prefix="input", open_calls=open_calls)


def chat_request(request: dict, history_items: list[dict], *, model: str) -> dict:
    """Return the streaming Chat Completions body for one Responses request."""
    messages: list[dict] = []
    instructions = request.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):
        messages.extend(items_to_messages(instructions, param_prefix="instructions"))
    open_calls = OpenCalls()
    messages.extend(items_to_messages(history_items, param_prefix="previous_response_id",
                                      open_calls=open_calls))
    messages.extend(_input_messages(request, open_calls))

    body: dict[str, Any] = {"model": model, "messages": messages}
    tools = chat_tools(request.get("tools"))
    choice, allowed = chat_tool_choice(request.get("tool_choice"), request.get("tools"))
    if allowed is not None:
        names = {t.chat_name: t.name for t in flat_tools(request.get("tools"))}
        tools = [t for t in tools if t["function"]["name"] in allowed
                 or names.get(t["function"]["name"]) in allowed]
    has_mcp = any(t.get("type") == "mcp" for t in request.get("tools") or [])
    if tools:
        body["tools"] = tools
    # Chat rejects tool_choice without tools; MCP tools are added later by the toolset.
    if tools or has_mcp:
        if choice is not None:
            body["tool_choice"] = choice
        if request.get("parallel_tool_calls") is not None:
            body["parallel_tool_calls"] = request["parallel_tool_calls"]
    fmt = response_format(request.get("text"))
    if fmt is not None:
        body["response_format"] = fmt
    for src, dst in (("temperature", "temperature"), ("top_p", "top_p"),
                     ("max_output_tokens", "max_tokens")):
        if request.get(src) is not None:
            body[dst] = request[src]
    if LOGPROBS_INCLUDE in (request.get("include") or []):
        body["logprobs"] = True
        if request.get("top_logprobs"):
            body["top_logprobs"] = request["top_logprobs"]
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return body


# ---------------------------------------------------------------- native Responses backends

def responses_request_for_upstream(
    request: dict, *, history_items: list[dict] | None = None, model: str | None = None
) -> dict:
    """The request to forward to a backend that speaks Responses itself.

    The router keeps all state: upstream gets ``store: false``, no ``previous_response_id`` and
    the chain inlined as input items (ids dropped, since upstream never stored them).
    """
    body = copy_json(request)
    for key in ("previous_response_id", "background", "conversation"):
        body.pop(key, None)
    body["store"] = False
    body["stream"] = True
    if model is not None:
        body["model"] = model
    items = [dict(item) for item in history_items or []]
    items += request_to_input_items(request)
    for item in items:
        item.pop("id", None)
    body["input"] = items
    return body
