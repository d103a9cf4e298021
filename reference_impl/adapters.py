"""Capability adapters for weak Chat Completions backends (pure, no I/O).

Owns two rewrites of an already translated chat request, applied by the router only when the
backend is known to lack the capability, and always documented as adapters (the Responses
request was translated faithfully upstream of them):

- Forced tool calls. llama.cpp ignores ``tool_choice: "required"`` from the first token and
  rejects a named ``tool_choice`` object, but it enforces ``response_format`` json_schema with a
  grammar. :func:`force_tool_call_request` turns "a tool must be called" into a schema that only
  admits a call (``anyOf`` of ``{name: const, arguments: <parameters>}``), and
  :func:`forced_reply_to_chunks` turns the JSON reply back into ordinary streamed tool-call
  chunks, so ``stream.py`` handles them exactly like native calls.
- Images for text-only backends. :func:`degrade_images` replaces each ``image_url`` part by a
  text placeholder naming the image, so the request is still served instead of rejected.
"""
from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from reference_impl.ids import new_id

# Name of the json_schema the forced reply must match.
FORCED_SCHEMA_NAME = "tool_call"
# Upper bound of calls in one forced parallel reply: without it a tiny model under a grammar can
# keep appending calls until max_tokens.
MAX_FORCED_CALLS = 4
# Tokens granted on top of max_tokens for a forced call: the {"name": …, "arguments": …} wrapper
# is the adapter's own overhead, which a native tool call would not spend, so it must not eat
# the client's max_output_tokens and cut the call short.
FORCED_CALL_OVERHEAD_TOKENS = 192
# Longest tool description quoted in the system hint (small context windows).
HINT_DESCRIPTION_CHARS = 120
HINT_PREFIX = "You must call a tool. Reply only with JSON naming the tool and its arguments."
# Parameters schema assumed for a function tool that declares none.
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
DATA_URL_PREFIX = "data:"


# ---------------------------------------------------------------- forced tool calls

def _forced_names(chat_req: dict) -> list[str] | None:
    """Names of the tools one of which must be called, or None when nothing is forced."""
    tools = [t["function"]["name"] for t in chat_req.get("tools") or []
             if t.get("type") == "function"]
    choice = chat_req.get("tool_choice")
    if not tools or choice in (None, "auto", "none"):
        return None
    if choice == "required":
        return tools
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        return [name] if name in tools else None
    return None


def _call_schema(tool: dict) -> dict:
    function = tool["function"]
    return {
        "type": "object",
        "properties": {
            "name": {"const": function["name"]},
            "arguments": copy.deepcopy(function.get("parameters") or EMPTY_PARAMETERS),
        },
        "required": ["name", "arguments"],
    }


def _hint(tools: list[dict]) -> str:
    lines = [HINT_PREFIX, "Tools:"]
    for tool in tools:
        function = tool["function"]
        description = (function.get("description") or "").strip()
        if len(description) > HINT_DESCRIPTION_CHARS:
            description = description[:HINT_DESCRIPTION_CHARS - 1] + "…"
        lines.append(f"- {function['name']}" + (f": {description}" if description else ""))
    return "\n".join(lines)


def _with_system_hint(messages: list[dict], hint: str) -> list[dict]:
    """Prepend the hint to a leading system message, or add one (some templates allow only one)."""
    messages = copy.deepcopy(messages)
    if messages and messages[0].get("role") == "system" and isinstance(
            messages[0].get("content"), str):
        messages[0]["content"] = f"{hint}\n\n{messages[0]['content']}"
    else:
        messages.insert(0, {"role": "system", "content": hint})
    return messages


def force_tool_call_request(chat_req: dict) -> dict | None:
    """A copy of ``chat_req`` that forces a tool call through ``response_format``.

    Returns None when the request does not force a call (``tool_choice`` auto/none/absent, or a
    named tool that is not offered): the model's own choice then stands. A named choice admits
    only that tool; ``required`` with ``parallel_tool_calls: true`` asked for explicitly admits
    ``{"calls": [call, ...]}`` with 1..MAX_FORCED_CALLS calls. Without that explicit request a
    single call is forced: a tiny model offered an array tends to repeat the same call.
    """
    names = _forced_names(chat_req)
    if names is None:
        return None
    tools = [t for t in chat_req["tools"] if t["function"]["name"] in names]
    one_call: dict = {"anyOf": [_call_schema(t) for t in tools]}
    parallel = chat_req.get("tool_choice") == "required" and chat_req.get("parallel_tool_calls") is True
    if parallel:
        schema = {
            "type": "object",
            "properties": {"calls": {"type": "array", "items": one_call, "minItems": 1,
                                     "maxItems": MAX_FORCED_CALLS}},
            "required": ["calls"],
        }
    else:
        schema = one_call
    forced = {k: copy.deepcopy(v) for k, v in chat_req.items()
              if k not in ("tools", "tool_choice", "parallel_tool_calls", "messages")}
    forced["messages"] = _with_system_hint(chat_req.get("messages") or [], _hint(tools))
    if isinstance(forced.get("max_tokens"), int):
        forced["max_tokens"] += FORCED_CALL_OVERHEAD_TOKENS
    forced["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": FORCED_SCHEMA_NAME, "schema": schema, "strict": True},
    }
    return forced


def _chunk(delta: dict | None, finish_reason: str | None = None,
           usage: dict | None = None) -> dict:
    choices = [] if delta is None else [
        {"index": 0, "delta": delta, "finish_reason": finish_reason}]
    chunk: dict[str, Any] = {"object": "chat.completion.chunk", "choices": choices}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def parse_forced_reply(content: str) -> list[tuple[str, str]] | None:
    """The ``(name, arguments JSON)`` calls in a forced reply, or None if it is not one."""
    try:
        value = json.loads(content)
    except ValueError:
        return None
    calls = value.get("calls") if isinstance(value, dict) and "calls" in value else [value]
    if not isinstance(calls, list) or not calls:
        return None
    out: list[tuple[str, str]] = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return None
        arguments = json.dumps(call.get("arguments", {}), ensure_ascii=False)
        if (call["name"], arguments) not in out:  # a repeated identical call adds nothing
            out.append((call["name"], arguments))
    return out


def forced_reply_to_chunks(content: str, usage: dict | None,
                           *, finish_reason: str | None = None) -> list[dict]:
    """Synthetic chat chunks for a forced reply: one streamed tool call per call in the JSON.

    A reply that is not a valid call (for instance cut off by ``max_tokens``) is passed on as
    plain text with the backend's ``finish_reason`` (``"stop"`` when unknown), so the client
    sees what the model produced and a ``length`` cut still ends as incomplete.
    """
    calls = parse_forced_reply(content)
    chunks: list[dict] = []
    if calls is None:
        chunks.append(_chunk({"role": "assistant", "content": content}))
        chunks.append(_chunk({}, finish_reason or "stop"))
    else:
        for index, (name, arguments) in enumerate(calls):
            chunks.append(_chunk({"role": "assistant", "tool_calls": [{
                "index": index, "id": new_id("call"), "type": "function",
                "function": {"name": name, "arguments": ""}}]}))
            chunks.append(_chunk({"tool_calls": [{
                "index": index, "function": {"arguments": arguments}}]}))
        chunks.append(_chunk({}, "tool_calls"))
    if usage is not None:
        chunks.append(_chunk(None, usage=usage))
    return chunks


# ---------------------------------------------------------------- images

def describe_image_url(url: str) -> str:
    """A short text for an image: the URL, or ``data URL (mime, N bytes)`` for inline data."""
    if not url.startswith(DATA_URL_PREFIX):
        return url
    header, _, payload = url[len(DATA_URL_PREFIX):].partition(",")
    mime = header.split(";")[0] or "text/plain"
    if ";base64" in header:
        try:
            size = len(base64.b64decode(payload, validate=False))
        except (binascii.Error, ValueError):
            size = len(payload)
    else:
        size = len(payload.encode("utf-8"))
    return f"data URL ({mime}, {size} bytes)"


def degrade_images(chat_req: dict) -> dict:
    """A copy of ``chat_req`` with every ``image_url`` part replaced by ``[image: ...]`` text.

    Messages left with text parts only collapse to one string (joined by newlines), which every
    text-only chat template accepts.
    """
    degraded = copy.deepcopy(chat_req)
    for message in degraded.get("messages") or []:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        if not any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            continue
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = (part.get("image_url") or {}).get("url", "")
                part = {"type": "text", "text": f"[image: {describe_image_url(url)}]"}
            parts.append(part)
        if all(p.get("type") == "text" for p in parts):
            message["content"] = "\n".join(p.get("text", "") for p in parts)
        else:
            message["content"] = parts
    return degraded
