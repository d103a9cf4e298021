"""Builders for canonical Responses event streams, as lists of event dicts (and SSE bytes).

Tests use them to make good streams and, by editing the dicts, deliberately broken ones. Every
canonical stream passes `fixtures.grammar.check_stream` (in its mode) and the `openai` schemas.

    events = text_message_stream("Hello", " world")
    body = to_sse(events)              # b"event: response.created\\ndata: {...}\\n\\n..."
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

RESPONSE_ID = "resp_" + "a1" * 24
CREATED_AT = 1_760_000_000
MODEL = "test-model"


def to_sse(events: list[dict], *, event_lines: bool = True, line_end: str = "\n") -> bytes:
    """Serialise events as SSE: `event:` (optional), one `data:` line, a blank line each."""
    out = []
    for event in events:
        lines = ([f"event: {event.get('type')}"] if event_lines else []) + ["data: " + json.dumps(event, ensure_ascii=False)]
        out.append(line_end.join(lines) + line_end + line_end)
    return "".join(out).encode("utf-8")


def usage(input_tokens: int = 12, output_tokens: int = 5) -> dict:
    """A Responses usage object (total = input + output, with both details objects)."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(status: str, *, output: list[dict] | None = None, usage_obj: dict | None = None,
                    background: bool = False, response_id: str = RESPONSE_ID, **overrides: Any) -> dict:
    """A full Response object as OpenAI sends it (no null where OpenAI never sends null)."""
    response = {
        "id": response_id, "object": "response", "created_at": CREATED_AT, "status": status,
        "background": background, "error": None, "incomplete_details": None, "instructions": None,
        "max_output_tokens": None, "max_tool_calls": None, "model": MODEL, "output": output or [],
        "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
        "service_tier": "default", "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}},
        "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
        "usage": usage_obj, "user": None, "metadata": {},
    }
    response.update(overrides)
    return response


class StreamBuilder:
    """Appends events with running `sequence_number`s and `output_index`es."""

    def __init__(self, *, background: bool = False) -> None:
        self.events: list[dict] = []
        self.output: list[dict] = []
        self.background = background
        self._ids = 0

    def emit(self, event_type: str, **fields: Any) -> dict:
        """Append one event (type and sequence_number first, as OpenAI orders them)."""
        event = {"type": event_type, "sequence_number": len(self.events), **fields}
        self.events.append(event)
        return event

    def new_id(self, prefix: str) -> str:
        """A fresh id with `prefix` (deterministic, so streams compare equal across runs)."""
        self._ids += 1
        return f"{prefix}_{self._ids:048x}"

    def _response(self, status: str, **overrides: Any) -> dict:
        return response_object(status, output=copy.deepcopy(self.output), background=self.background, **overrides)

    def start(self) -> StreamBuilder:
        """response.created (+ response.queued in background) + response.in_progress."""
        first = "queued" if self.background else "in_progress"
        self.emit("response.created", response=self._response(first))
        if self.background:
            self.emit("response.queued", response=self._response("queued"))
        self.emit("response.in_progress", response=self._response("in_progress"))
        return self

    def _item(self, added: dict, body: Callable[[int, str], None], done: dict) -> StreamBuilder:
        index = len(self.output)
        self.emit("response.output_item.added", output_index=index, item=added)
        body(index, added["id"])
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)
        return self

    def message(self, *chunks: str) -> StreamBuilder:
        """An assistant message with one output_text part streamed as `chunks`."""
        item_id, text = self.new_id("msg"), "".join(chunks)

        def body(oi: int, iid: str) -> None:
            where = {"item_id": iid, "output_index": oi, "content_index": 0}
            self.emit("response.content_part.added", **where, part={"type": "output_text", "annotations": [], "text": ""})
            for chunk in chunks:
                self.emit("response.output_text.delta", **where, delta=chunk, logprobs=[])
            self.emit("response.output_text.done", **where, text=text, logprobs=[])
            self.emit("response.content_part.done", **where, part={"type": "output_text", "annotations": [], "text": text})

        base = {"id": item_id, "type": "message", "role": "assistant"}
        done_part = {"type": "output_text", "annotations": [], "text": text}
        return self._item({**base, "status": "in_progress", "content": []}, body,
                          {**base, "status": "completed", "content": [done_part]})

    def function_call(self, name: str, *chunks: str) -> StreamBuilder:
        """A function_call item whose arguments stream as `chunks`."""
        return self._call("function_call", "fc", "response.function_call_arguments", "arguments", name, chunks)

    def custom_tool_call(self, name: str, *chunks: str) -> StreamBuilder:
        """A custom_tool_call item whose input streams as `chunks`."""
        return self._call("custom_tool_call", "ctc", "response.custom_tool_call_input", "input", name, chunks)

    def _call(self, item_type: str, prefix: str, family: str, value_field: str, name: str, chunks: tuple[str, ...]) -> StreamBuilder:
        item_id, call_id = self.new_id(prefix), self.new_id("call")

        def body(oi: int, iid: str) -> None:
            for chunk in chunks:
                self.emit(f"{family}.delta", item_id=iid, output_index=oi, delta=chunk)
            self.emit(f"{family}.done", item_id=iid, output_index=oi, **{value_field: "".join(chunks)})

        base = {"id": item_id, "type": item_type, "call_id": call_id, "name": name}
        # Only function_call items have a status in the SDK models.
        added, done = ({"status": "in_progress"}, {"status": "completed"}) if item_type == "function_call" else ({}, {})
        return self._item({**base, value_field: "", **added}, body, {**base, value_field: "".join(chunks), **done})

    def mcp_list_tools(self, server: str, tools: list[str]) -> StreamBuilder:
        """An mcp_list_tools item (in_progress → completed)."""
        item_id = self.new_id("mcpl")

        def body(oi: int, iid: str) -> None:
            self.emit("response.mcp_list_tools.in_progress", item_id=iid, output_index=oi)
            self.emit("response.mcp_list_tools.completed", item_id=iid, output_index=oi)

        listed = [{"name": t, "input_schema": {"type": "object"}, "description": None, "annotations": None} for t in tools]
        base = {"id": item_id, "type": "mcp_list_tools", "server_label": server}
        return self._item({**base, "tools": []}, body, {**base, "tools": listed})

    def mcp_call(self, server: str, name: str, arguments: str, output: str) -> StreamBuilder:
        """An mcp_call item: in_progress, one arguments delta, arguments.done, completed."""
        item_id = self.new_id("mcp")

        def body(oi: int, iid: str) -> None:
            where = {"item_id": iid, "output_index": oi}
            self.emit("response.mcp_call.in_progress", **where)
            self.emit("response.mcp_call_arguments.delta", **where, delta=arguments)
            self.emit("response.mcp_call_arguments.done", **where, arguments=arguments)
            self.emit("response.mcp_call.completed", **where)

        base = {"id": item_id, "type": "mcp_call", "server_label": server, "name": name}
        return self._item({**base, "arguments": ""}, body, {**base, "arguments": arguments, "output": output, "error": None})

    def complete(self) -> list[dict]:
        """response.completed with usage; returns the events."""
        self.emit("response.completed", response=self._response("completed", usage_obj=usage()))
        return self.events

    def incomplete(self, reason: str = "max_output_tokens") -> list[dict]:
        """response.incomplete with `incomplete_details.reason`; returns the events."""
        self.emit("response.incomplete", response=self._response("incomplete", usage_obj=usage(),
                                                                  incomplete_details={"reason": reason}))
        return self.events

    def fail(self, code: str = "server_error", message: str = "The model failed.") -> list[dict]:
        """An `error` event then response.failed with a typed error; returns the events."""
        self.emit("error", error={"type": code, "code": code, "message": message, "param": None})
        self.emit("response.failed", response=self._response("failed", error={"code": code, "message": message}))
        return self.events


def text_message_stream(*chunks: str) -> list[dict]:
    """A plain text answer."""
    return StreamBuilder().start().message(*(chunks or ("Hello", "!"))).complete()


def function_call_stream() -> list[dict]:
    """One function call."""
    return StreamBuilder().start().function_call("get_weather", '{"city":', '"Paris"}').complete()


def parallel_function_calls_stream() -> list[dict]:
    """Two function calls in one response."""
    return (StreamBuilder().start().function_call("get_weather", '{"city":"Tokyo"}')
            .function_call("get_time", '{"city":', '"Paris"}').complete())


def custom_tool_call_stream() -> list[dict]:
    """One custom (freeform) tool call."""
    return StreamBuilder().start().custom_tool_call("run_sql", "SELECT ", "1").complete()


def mcp_stream() -> list[dict]:
    """MCP: list tools, call one, then answer."""
    return (StreamBuilder().start().mcp_list_tools("demo", ["echo", "add"])
            .mcp_call("demo", "add", '{"a":1,"b":2}', "3").message("It is ", "3.").complete())


def incomplete_stream() -> list[dict]:
    """A text answer cut by max_output_tokens."""
    return StreamBuilder().start().message("Once upon").incomplete("max_output_tokens")


def failed_stream() -> list[dict]:
    """A failed stream: error event, then response.failed."""
    return StreamBuilder().start().fail()


def background_queued_stream() -> list[dict]:
    """A background stream: created(queued), queued, in_progress, text, completed."""
    return StreamBuilder(background=True).start().message("Done.").complete()


# name -> (builder, grammar mode): the canonical streams tests parametrize over.
CANONICAL: dict[str, tuple[Callable[[], list[dict]], str]] = {
    "text-message": (text_message_stream, "normal"),
    "function-call": (function_call_stream, "normal"),
    "parallel-function-calls": (parallel_function_calls_stream, "normal"),
    "custom-tool-call": (custom_tool_call_stream, "normal"),
    "mcp-list-and-call": (mcp_stream, "normal"),
    "incomplete": (incomplete_stream, "normal"),
    "failed-with-error-event": (failed_stream, "normal"),
    "background-queued": (background_queued_stream, "background"),
}


def renumber(events: list[dict]) -> list[dict]:
    """Give events fresh sequence numbers 0..n-1 (after a test removed or moved some)."""
    for index, event in enumerate(events):
        event["sequence_number"] = index
    return events
