"""Pure translation of a Responses request into what a backend takes (no I/O).

Owns: the Response object skeleton, request input -> stored input items, Responses items -> chat
messages (current input and rehydrated chains), tools / tool_choice / ``text.format``, the Chat
Completions body, and the request for a backend that speaks Responses natively. Chat results back
into Responses shapes are translate_out.py (the events themselves are stream.py). Validation beyond what a shape needs is the route layer's job; a shape this
module cannot translate raises :class:`TranslationError` with the offending ``param`` path.
"""
from __future__ import annotations

import json
from typing import Any

from reference_impl.credentials import strip_credentials
from reference_impl.ids import new_id
from reference_impl.jsoncodec import copy_json
from reference_impl.translate_tools import (
    CLIENT_TOOL_TYPES, CUSTOM_TOOL_PARAMETERS, OpenCalls, chat_name, custom_parameters, find_tool,
    flat_tools,
)

# Defaults OpenAI reports when a request leaves a field out (never null where OpenAI is never null).
RESPONSE_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "truncation": "disabled",
    "store": True,
    "background": False,
    "top_logprobs": 0,
    "service_tier": "default",
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
# Request fields echoed verbatim (null when absent).
ECHOED_FIELDS = (
    "instructions", "max_output_tokens", "max_tool_calls", "previous_response_id",
    "prompt_cache_key", "safety_identifier", "user",
)
# Request fields the Response has, echoed verbatim only when the request sent them. Two are not
# verbatim: Response.image.context_compression is the resolved setting (``enabled``/``disabled``,
# so a sent ``auto`` is reported as ``disabled``: the router compresses nothing), and
# Response.moderation is a moderation *result* (``input``/``output``), which the router never
# produces, so the request's ``moderation`` is accepted and not echoed.
ECHOED_WHEN_SENT = ("prompt_cache_retention", "prompt_cache_options", "access_programs")
RESOLVED_IMAGE_COMPRESSION = {"auto": "disabled"}
# Chat Completions has no "developer" role on most non-OpenAI backends (llama.cpp templates
# reject it), while "system" means the same thing to them.
CHAT_ROLE = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
TEXT_PART_TYPES = ("input_text", "output_text")
# Items that exist for the client or the router only; the model never sees them in history.
SKIPPED_HISTORY_ITEMS = frozenset({"mcp_list_tools", "mcp_approval_request", "mcp_approval_response"})
LOGPROBS_INCLUDE = "message.output_text.logprobs"
# How an opened compaction item reaches the model: an assistant turn holding the summary, placed
# where the compacted items were (after the kept user messages, before the next user turn), so
# every chat template sees ordinary user/assistant alternation.
COMPACTION_PREFIX = "Summary of the earlier conversation: "
# Id prefixes of stored input items, by item type.
ITEM_ID_PREFIX = {
    "message": "msg", "function_call": "fc", "function_call_output": "fco",
    "custom_tool_call": "ctc", "custom_tool_call_output": "ctco", "mcp_call": "mcp",
    "mcp_list_tools": "mcpl", "mcp_approval_request": "mcpr", "mcp_approval_response": "mcpa",
    "reasoning": "rs", "compaction": "cmp",
}


class TranslationError(ValueError):
    """A request shape this translator cannot express; ``param`` names where (for a 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


# ---------------------------------------------------------------- Response skeleton


def error_text(error: Any) -> str:
    """What the model is told about a failed MCP call: the message or the tool's own text."""
    if isinstance(error, dict):
        parts = error.get("content") if isinstance(error.get("content"), list) else []
        texts = [p.get("text") for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return str(error.get("message") or "\n".join(texts) or json.dumps(error))
    return str(error)


def response_object(
    request: dict, *, response_id: str, created_at: int, model: str, status: str
) -> dict:
    """Return the Response skeleton echoing ``request``, with empty output and no usage yet."""
    text = request.get("text") or {}
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": [],
        "reasoning": copy_json(request.get("reasoning")) or {"effort": None, "summary": None},
        "text": {
            **copy_json(text),
            "format": copy_json(text.get("format") or {"type": "text"}),
            "verbosity": text.get("verbosity") or "medium",
        },
        "tools": strip_credentials(request.get("tools")) or [],
        "usage": None,
        "metadata": dict(request.get("metadata") or {}),
        "completed_at": None,
    }
    for field in ECHOED_FIELDS:
        response[field] = copy_json(request.get(field))
    for field in ECHOED_WHEN_SENT:
        if request.get(field) is not None:
            response[field] = copy_json(request[field])
    image = request.get("image")
    if isinstance(image, dict):
        response["image"] = copy_json(image)
        compression = image.get("context_compression")
        if compression in RESOLVED_IMAGE_COMPRESSION:
            response["image"]["context_compression"] = RESOLVED_IMAGE_COMPRESSION[compression]
    for field, default in RESPONSE_DEFAULTS.items():
        value = request.get(field)
        response[field] = default if value is None else copy_json(value)
    return response


# ---------------------------------------------------------------- input items

def _normalise_item(item: dict) -> dict:
    """Give an input item its explicit type, list content and an id, as the store keeps it."""
    item = copy_json(item)
    if "type" not in item and "role" in item:
        item["type"] = "message"
    if item.get("type") == "message":
        content = item.get("content")
        if isinstance(content, str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            item["content"] = [{"type": part, "text": content}]
            if part == "output_text":
                item["content"][0]["annotations"] = []
        item.setdefault("status", "completed")
    if "id" not in item and item.get("type") in ITEM_ID_PREFIX:
        item = {"id": new_id(ITEM_ID_PREFIX[item["type"]]), **item}
    return item


def is_item_reference(item: Any) -> bool:
    """An ``item_reference`` input item (its ``type`` is optional: an ``id`` alone is one)."""
    if not isinstance(item, dict):
        return False
    return item.get("type") == "item_reference" or (
        "type" not in item and "role" not in item and "id" in item)


def request_to_input_items(request: dict) -> list[dict]:
    """Return the request ``input`` as stored input items, each with an ``id``."""
    raw = request.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise TranslationError("input must be a string or a list of items", "input")
    return [_normalise_item(item) for item in raw]


# ---------------------------------------------------------------- items -> chat messages

def _image_part(part: dict, param: str) -> dict:
    url = part.get("image_url")
    if not url:
        # file ids need the Files API, which a chat backend does not have.
        raise TranslationError("input_image needs image_url (file_id is not supported)", param)
    image: dict[str, Any] = {"url": url}
    if part.get("detail"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _message_content(role: str, content: Any, param: str) -> Any:
    """Responses message content -> chat content (a string wherever chat allows no parts)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TranslationError("message content must be a string or a list of parts", param)
    if role != "user" or len(content) == 1:
        # The common case, and every turn of a rehydrated chain: text parts only, joined into the
        # plain string below without building the parts first.
        texts = [part.get("text", part.get("refusal", "")) for part in content
                 if isinstance(part, dict) and part.get("type") in TEXT_PART_TYPES]
        if texts and len(texts) == len(content):
            return "".join(texts)
    parts: list[dict] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PART_TYPES or (kind == "refusal" and role == "assistant"):
            parts.append({"type": "text", "text": part.get("text", part.get("refusal", ""))})
        elif kind == "input_image" and role == "user":
            parts.append(_image_part(part, f"{param}[{j}]"))
        else:
            raise TranslationError(
                f"unsupported content part type {kind!r} for role {role!r}", f"{param}[{j}].type"
            )
    if all(p["type"] == "text" for p in parts) and (len(parts) == 1 or role != "user"):
        # Templates of small backends expect plain strings for system/assistant turns.
        return "".join(p["text"] for p in parts)
    return parts


def _plain_text(content: Any) -> str | None:
    """The chat content of a message whose content is a string or one text part with a string
    ``text``, as `_message_content` gives it; None for any other content."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and len(content) == 1:
        part = content[0]
        if isinstance(part, dict) and part.get("type") in TEXT_PART_TYPES:
            text = part.get("text")
            if isinstance(text, str):
                return text
    return None


def _output_text(output: Any, param: str) -> str:
    """A tool output (string or text parts) as the string a chat tool message carries."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for j, part in enumerate(output):
            if not isinstance(part, dict) or part.get("type") not in TEXT_PART_TYPES:
                kind = part.get("type") if isinstance(part, dict) else None
                raise TranslationError(
                    f"unsupported tool output part type {kind!r}", f"{param}[{j}].type"
                )
            texts.append(part.get("text", ""))
        return "".join(texts)
    return json.dumps(output)


def _append_tool_call(messages: list[dict], call: dict) -> None:
    """Add a tool call to the open assistant turn, so parallel calls share one message."""
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        last = {"role": "assistant", "content": None}
        messages.append(last)
    last.setdefault("tool_calls", []).append(call)


def _field(obj: dict, name: str, param: str) -> str:
    """A required string field, or a TranslationError naming it (not a KeyError and a 500)."""
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise TranslationError(f"missing required parameter {name!r}", f"{param}.{name}")
    return value


def _tool_call(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _call_name(item: dict, param: str) -> str:
    """The chat function name of a call item (``namespace__name`` for a namespaced tool)."""
    return chat_name(item.get("namespace"), _field(item, "name", param))


def _output_call_id(item: dict, param: str, open_calls: OpenCalls) -> str:
    """The call a tool output answers: its ``call_id``, else the most recent unanswered call of
    the tool it names (``name``, ``namespace``)."""
    call_id = item.get("call_id")
    if isinstance(call_id, str) and call_id:
        open_calls.answer(call_id)
        return call_id
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError("missing required parameter 'call_id'", f"{param}.call_id")
    namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
    matched = open_calls.match(name, namespace)
    if matched is None:
        shown = chat_name(namespace, name).replace("__", ".")
        raise TranslationError(f"no call_id, and no unanswered call of tool '{shown}' precedes this "
                               "output in the history", f"{param}.call_id")
    return matched


def items_to_messages(items: list[dict], *, param_prefix: str = "input",
                      open_calls: OpenCalls | None = None) -> list[dict]:
    """Return chat messages for Responses items (inputs and outputs alike).

    ``param_prefix`` names the list in error params (``input[2].content[0].type``).
    ``open_calls`` carries the unanswered calls from one list to the next (history, then input),
    so that an output naming its tool without a ``call_id`` finds its call.
    """
    open_calls = OpenCalls() if open_calls is None else open_calls
    messages: list[dict] = []
    thought: str | None = None  # a reasoning item's text, for the assistant turn that follows
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise TranslationError("input items must be objects", f"{param_prefix}[{i}]")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind in SKIPPED_HISTORY_ITEMS:
            continue
        if kind == "reasoning":
            thought = reasoning_text(item) or thought
            continue
        # Chat backends (llama.cpp, vLLM) take earlier reasoning as the assistant message's
        # reasoning_content; reasoning before a user turn has no message to go to.
        pending_thought = thought if kind in CALL_ITEMS or (
            kind == "message" and item.get("role") == "assistant") else None
        thought = None
        if kind == "message" and pending_thought is None:
            # Most items of a long chain: one text part, taken as it is, before any error
            # parameter is even formatted (a rehydrated 1000-turn chain has 2000 of them).
            role = CHAT_ROLE.get(item.get("role", ""))
            text = _plain_text(item.get("content", "")) if role is not None else None
            if text is not None:
                messages.append({"role": role, "content": text})
                continue
        param = f"{param_prefix}[{i}]"
        if kind == "message":
            role = CHAT_ROLE.get(item.get("role", ""))
            if role is None:
                raise TranslationError(f"unsupported role {item.get('role')!r}", f"{param}.role")
            content = _message_content(role, item.get("content", ""), f"{param}.content")
            messages.append({"role": role, "content": content})
        elif kind in ("function_call", "custom_tool_call"):
            if kind == "function_call":
                arguments = item.get("arguments") or "{}"
            else:
                arguments = json.dumps({"input": item.get("input", "")})
            call_id = _field(item, "call_id", param)
            _append_tool_call(messages, _tool_call(call_id, _call_name(item, param), arguments))
            open_calls.add(call_id, item.get("namespace"), item["name"])
        elif kind in ("function_call_output", "custom_tool_call_output"):
            content = _output_text(item.get("output", ""), f"{param}.output")
            messages.append({"role": "tool", "tool_call_id": _output_call_id(item, param, open_calls),
                             "content": content})
        elif kind == "mcp_call":
            # An earlier server-side call: shown as a call plus its result so the model sees it.
            call_id = item.get("id") or new_id("mcp")
            _append_tool_call(
                messages, _tool_call(call_id, _field(item, "name", param),
                                     item.get("arguments") or "{}")
            )
            result = item.get("output")
            if result is None and item.get("error") is not None:
                result = "Error: " + error_text(item["error"])
            messages.append({"role": "tool", "tool_call_id": call_id, "content": result or ""})
        elif kind == "compaction":
            # Only an opened item (compaction.open_items) carries its summary as content; the
            # trial translation in engine.prepare sees the sealed item and skips it.
            summary = "".join(str(p.get("text") or "") for p in item.get("content") or [] if isinstance(p, dict))
            if summary:
                messages.append({"role": "assistant", "content": COMPACTION_PREFIX + summary})
        elif kind == "item_reference":
            raise TranslationError("item_reference must be resolved before translation", param)
        else:
            raise TranslationError(f"unsupported input item type {kind!r}", f"{param}.type")
        if pending_thought:
            turn = next(m for m in reversed(messages) if m.get("role") == "assistant")
            turn.setdefault("reasoning_content", pending_thought)
    return messages


# Items that become an assistant turn's tool call.
CALL_ITEMS = frozenset({"function_call", "custom_tool_call", "mcp_call"})


def reasoning_text(item: dict) -> str:
    """The text of a reasoning item: its reasoning_text content, else its summary."""
    for field, part_type in (("content", "reasoning_text"), ("summary", "summary_text")):
        parts = item.get(field)
        if isinstance(parts, list):
            text = "".join(p.get("text") or "" for p in parts
                           if isinstance(p, dict) and p.get("type") == part_type)
            if text:
                return text
    return ""


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
            function: dict[str, Any] = {"name": chat_name(flat.namespace, _field(tool, "name", param))}
            if tool.get("description"):
                function["description"] = tool["description"]
            function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
            if tool.get("strict") is not None:
                function["strict"] = tool["strict"]
        elif kind == "custom":
            function = {"name": chat_name(flat.namespace, _field(tool, "name", param)),
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
        name = _field(choice, "name", "tool_choice")
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
