"""Responses items on the way in (pure): the request's ``input`` as stored input items, and any
list of items (input, instructions, a rehydrated chain) as Chat Completions messages.

Separate from translate.py, which builds the whole backend request around these messages (tools,
formats, the chat body): items have the most rules of the request direction (content parts,
roles, tool calls and their outputs, reasoning carried to the next assistant turn, MCP calls,
compaction summaries), and a long chain is translated item by item on every turn.

The family's base: :class:`TranslationError` (a shape that cannot be translated, with its
``param``) and `required_field` live here, and translate.py builds on them.
"""
from __future__ import annotations

import json
from typing import Any

from reference_impl.ids import new_id
from reference_impl.jsoncodec import copy_json
from reference_impl.translate_tools import OpenCalls, chat_name

# Chat Completions has no "developer" role on most non-OpenAI backends (llama.cpp templates
# reject it), while "system" means the same thing to them.
CHAT_ROLE = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
TEXT_PART_TYPES = ("input_text", "output_text")
# Items that exist for the client or the router only; the model never sees them in history.
SKIPPED_HISTORY_ITEMS = frozenset({"mcp_list_tools", "mcp_approval_request", "mcp_approval_response"})
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
# Items that become an assistant turn's tool call.
CALL_ITEMS = frozenset({"function_call", "custom_tool_call", "mcp_call"})


class TranslationError(ValueError):
    """A request shape this translator cannot express; ``param`` names where (for a 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def required_field(obj: dict, name: str, param: str) -> str:
    """A required string field, or a TranslationError naming it (not a KeyError and a 500)."""
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise TranslationError(f"missing required parameter {name!r}", f"{param}.{name}")
    return value


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

def error_text(error: Any) -> str:
    """What the model is told about a failed MCP call: the message or the tool's own text."""
    if isinstance(error, dict):
        parts = error.get("content") if isinstance(error.get("content"), list) else []
        texts = [p.get("text") for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return str(error.get("message") or "\n".join(texts) or json.dumps(error))
    return str(error)


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


def _tool_call(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _call_name(item: dict, param: str) -> str:
    """The chat function name of a call item (``namespace__name`` for a namespaced tool)."""
    return chat_name(item.get("namespace"), required_field(item, "name", param))


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
            call_id = required_field(item, "call_id", param)
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
                messages, _tool_call(call_id, required_field(item, "name", param),
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
