"""Native passthrough: a backend that speaks the Responses API itself, driven like a chat backend.

The router keeps all state (translate.responses_request_for_upstream sends ``store: false`` and
inlines the chain), and the upstream's events are folded back into ``chat.completion.chunk``
dicts so that stream.py makes every id, index and sequence number itself: upstream ids never
reach the client.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

from . import translate
from .backend import BackendError

FINISH_FOR_STATUS = {"completed": "stop", "incomplete": "length"}
INCOMPLETE_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}
ROUTER_ONLY_FIELDS = ("x_cache",)


def upstream_body(request: dict, inputs: list[dict], history: list[dict], extra_tools: list[dict]) -> dict:
    """The upstream /v1/responses body: MCP tools replaced by the toolset's function tools."""
    body = translate.responses_request_for_upstream({**request, "input": inputs}, history_items=history,
                                                    model=request["model"])
    for key in ROUTER_ONLY_FIELDS:
        body.pop(key, None)
    tools = [t for t in body.get("tools") or [] if t.get("type") != "mcp"]
    tools += [{"type": "function", "name": t["function"]["name"],
               "parameters": t["function"].get("parameters") or {"type": "object", "properties": {}},
               "description": t["function"].get("description")} for t in extra_tools]
    if tools:
        body["tools"] = tools
    else:
        body.pop("tools", None)
        body.pop("tool_choice", None)
    return body


def _chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    chunk: dict = {"object": "chat.completion.chunk",
                   "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def _chat_usage(usage: dict | None) -> dict | None:
    if not usage:
        return None
    return {"prompt_tokens": usage.get("input_tokens", 0), "completion_tokens": usage.get("output_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)}


async def events_to_chunks(events: AsyncIterator[dict]) -> AsyncIterator[dict]:
    """Upstream Responses events → chat chunks (text, function calls, finish reason, usage)."""
    calls: dict[str, int] = {}  # upstream item id -> chat tool call index
    async for event in events:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            yield _chunk({"content": event.get("delta", "")})
        elif kind == "response.output_item.added" and event.get("item", {}).get("type") == "function_call":
            item = event["item"]
            calls[item.get("id", str(len(calls)))] = len(calls)
            yield _chunk({"tool_calls": [{"index": len(calls) - 1, "id": item.get("call_id"), "type": "function",
                                          "function": {"name": item.get("name", ""), "arguments": ""}}]})
        elif kind == "response.function_call_arguments.delta" and event.get("item_id") in calls:
            yield _chunk({"tool_calls": [{"index": calls[event["item_id"]],
                                          "function": {"arguments": event.get("delta", "")}}]})
        elif kind in ("response.completed", "response.incomplete"):
            response = event.get("response") or {}
            reason = (response.get("incomplete_details") or {}).get("reason")
            finish = INCOMPLETE_FINISH.get(reason, "length") if kind == "response.incomplete" else (
                "tool_calls" if calls else "stop")
            yield _chunk({}, finish)
            usage = _chat_usage(response.get("usage"))
            if usage:
                yield _chunk(usage=usage)
            return
        elif kind in ("response.failed", "error"):
            error = (event.get("response") or {}).get("error") or event
            raise BackendError(f"native backend failed: {error.get('message') or error}")
