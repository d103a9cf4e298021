"""Chat completion chunks -> the canonical Responses event sequence (DESIGN.md §3).

Owns :class:`ResponseStream`, the only producer of Responses events in the router: sequence
numbers, output indices, item ids, deltas and the terminal event, for one response that may span
several backend turns (the MCP loop), plus :func:`encode_sse` for the wire format.

Pure state machine: no I/O, fed one ``chat.completion.chunk`` dict at a time. Items close at the
end of a backend turn, in ``output_index`` order, so ``response.output`` (the done items in done
order) always equals the items in index order.

Copies: an event is a snapshot, never changed after it is yielded, but it is not a deep copy.
A finished item (``output_item.done``) is frozen: the stream never changes it again, so
``response.output`` and every later snapshot share it, and a snapshot of the Response is a new
top-level dict with a new ``output`` list (everything the stream changes later is replaced at the
top level, never mutated in place). An item still being built is copied (`copy_json`, JSON values
only) when it is announced. Consumers encode, store or send events as they are; none mutates one.
A ``copy.deepcopy`` of the whole Response for each snapshot was about a quarter of the router's
CPU per request (docs/benchmarks.md).

Quiet (``quiet=True``): for a non-streamed request, whose client sees only the final Response.
The stream keeps the same state and builds the same Response, but makes no event: every method
returns an empty list (sequence numbers still advance, so nothing else differs). Building 16
events, three of them snapshots of the Response, for an answer that sends none was most of the
engine's CPU per non-streamed request (docs/benchmarks.md).

Items by kind: the assistant message and reasoning items are built by :class:`TextEvents`
(stream_text.py), tool calls by :class:`ToolCallEvents` (stream_calls.py, which also says what
each tool kind becomes); both are mixins of :class:`ResponseStream`, so ``feed`` calls their
methods as its own.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from reference_impl.ids import new_id
from reference_impl.jsoncodec import copy_json
from reference_impl.stream_calls import ToolCall, ToolCallEvents
from reference_impl.stream_text import PART_KINDS, TextEvents
from reference_impl.translate_out import add_usage, usage_from_chat

# chat finish_reason -> Responses incomplete_details.reason (any other reason completes).
# The events that end a response stream, one per response.
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Router-made items add_item accepts, and their event family prefix.
ROUTER_ITEM_EVENTS = {"mcp_list_tools": "response.mcp_list_tools", "mcp_call": "response.mcp_call",
                      "mcp_approval_request": None}
ROUTER_ITEM_ID_PREFIX = {"mcp_list_tools": "mcpl", "mcp_call": "mcp", "mcp_approval_request": "mcpr"}
# What an event-making helper returns in a quiet stream; the public methods return no events.
_NO_EVENT: dict = {}


def encode_sse(event: dict) -> bytes:
    """One SSE frame: ``event: <type>``, ``data: <compact json>`` and a blank line."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode("utf-8")


class ResponseStream(TextEvents, ToolCallEvents):
    """Turns chat chunks (over one or more backend turns) into Responses events."""

    def __init__(self, response: dict, *, tool_kinds: dict[str, str] | None = None,
                 tool_names: dict[str, tuple[str, str]] | None = None,
                 reasoning_summary: bool = False, seal: Callable[[str], str] | None = None,
                 quiet: bool = False) -> None:
        """``response`` is the skeleton from translate_skeleton.response_object (in_progress or queued);
        its ``max_tool_calls`` and ``parallel_tool_calls`` limit the calls shown.

        ``reasoning_summary``: reasoning items also get a summary (the request asked for one);
        ``seal``: reasoning text -> ``encrypted_content`` (the request included it);
        ``quiet``: make no events, only the final Response (see the module's docstring).
        """
        self._quiet = quiet
        self._started = False
        # The caller keeps its skeleton: this stream owns a new top level and new output items.
        self.response: dict = {**response, "output": copy_json(response.get("output") or [])}
        self._reasoning_summary = reasoning_summary
        self._seal = seal
        self._reasoning: dict | None = None  # the open reasoning item of this turn
        self.pending_tool_calls: list[dict] = []
        self._tool_kinds = dict(tool_kinds or {})
        self._tool_names = dict(tool_names or {})
        self._calls_made = 0   # call items of this response (function, custom, mcp_call)
        self._turn_calls = 0   # calls admitted in this backend turn, hidden MCP calls included
        self._turn_hidden = 0  # hidden MCP calls admitted in this turn (run later by the loop)
        self._seq = 0
        self._next_index = len(self.response["output"])
        self._open: dict[int, Any] = {}  # output_index -> open message dict or ToolCall
        self._message: dict | None = None  # the open message of this turn
        self._calls: dict[int, ToolCall] = {}
        self._turn_usage: dict | None = None
        self._usage: dict | None = None
        self._finish_reason: str | None = None
        self._turn_active = False
        self._terminated = False

    # ------------------------------------------------------------ helpers

    def _event(self, type_: str, **fields: Any) -> dict:
        self._seq += 1
        if self._quiet:
            return _NO_EVENT
        return {"type": type_, "sequence_number": self._seq - 1, **fields}

    def _snapshot(self, type_: str) -> dict:
        if self._quiet:
            self._seq += 1
            return _NO_EVENT
        return self._event(type_, response=self._frozen())

    @property
    def quiet(self) -> bool:
        """Whether this stream makes no events (a non-streamed response)."""
        return self._quiet

    def _out(self, events: list[dict]) -> list[dict]:
        """What a public method returns: ``events``, or none in a quiet stream."""
        return [] if self._quiet else events

    def _frozen(self) -> dict:
        """The Response as it is now: later changes replace top-level fields or append to
        ``output`` (whose items are finished), so a new top level and list are enough."""
        return {**self.response, "output": list(self.response["output"])}

    def _add(self, item: dict) -> tuple[int, list[dict]]:
        index = self._next_index
        self._next_index += 1
        if self._quiet:
            self._seq += 1
            return index, []
        return index, [self._event("response.output_item.added", output_index=index,
                                   item=copy_json(item))]

    def _done(self, index: int, item: dict) -> dict:
        finished = copy_json(item)  # frozen from here on: the output and the event share it
        self.response["output"].append(finished)
        return self._event("response.output_item.done", output_index=index, item=finished)

    def _closing_status(self) -> str:
        return "incomplete" if self._finish_reason in INCOMPLETE_REASONS else "completed"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> list[dict]:
        """response.created (+ response.queued when queued) and response.in_progress."""
        self._started = True
        events = [self._snapshot("response.created")]
        if self.response["status"] == "queued":
            events.append(self._snapshot("response.queued"))
        self.response["status"] = "in_progress"
        events.append(self._snapshot("response.in_progress"))
        return self._out(events)

    def feed(self, chunk: dict) -> list[dict]:
        """One ``chat.completion.chunk`` -> the events it causes (possibly none)."""
        if self._terminated:
            return []  # a late chunk after cancel or failure changes nothing
        self._turn_active = True
        events: list[dict] = []
        if chunk.get("usage"):
            # Last report wins: some backends repeat cumulative usage on every chunk.
            self._turn_usage = usage_from_chat(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # n > 1 is never requested
            delta = choice.get("delta") or {}
            thought = delta.get("reasoning_content", delta.get("reasoning"))
            if isinstance(thought, str) and thought:
                events += self._reasoning_delta(thought)
            logprobs = (choice.get("logprobs") or {}).get("content") or []
            for kind in PART_KINDS:
                fragment = delta.get("content" if kind == "text" else "refusal")
                if isinstance(fragment, str) and fragment:
                    events += self._message_delta(kind, fragment,
                                                  logprobs if kind == "text" else [])
            for call in delta.get("tool_calls") or []:
                events += self._tool_call_delta(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return self._out(events)

    def end_turn(self) -> list[dict]:
        """The backend stream ended: close open parts and items (in output_index order)."""
        if self._terminated:
            return []
        return self._out(self._close_turn(self._closing_status()))

    def _close_turn(self, status: str) -> list[dict]:
        events: list[dict] = []
        # A call whose name never arrived is still shown rather than silently dropped.
        for call in self._calls.values():
            if call.kind is None:
                events += self._reveal_call(call)
        for index in sorted(self._open):
            entry = self._open.pop(index)
            if isinstance(entry, ToolCall):
                events += self._close_call(entry, status)
            elif entry.get("reasoning"):
                events += self._close_reasoning(entry)
            else:
                events += self._close_message(entry, status)
        self.pending_tool_calls = [self._call_item(c, status) for c in
                                   sorted(self._calls.values(), key=lambda c: c.chat_index)
                                   if c.kind != "dropped"]
        self._message = None
        self._reasoning = None
        self._calls = {}
        self._usage = add_usage(self._usage, self._turn_usage)
        self._turn_usage = None
        self._turn_active = False
        self._turn_calls = self._turn_hidden = 0
        return events

    def add_item(self, item: dict) -> list[dict]:
        """Emit a router-made item (mcp_list_tools, mcp_call, mcp_approval_request) in full."""
        kind = item.get("type")
        if kind not in ROUTER_ITEM_EVENTS:
            raise ValueError(f"add_item does not emit {kind!r} items")
        if self._terminated:
            return []
        # Open items close first, so that output order stays output_index order.
        events = self.end_turn() if self._turn_active else []
        item = copy_json(item)
        if not item.get("id"):
            item["id"] = new_id(ROUTER_ITEM_ID_PREFIX[kind])
        family = ROUTER_ITEM_EVENTS[kind]
        failed = bool(item.get("error"))
        if kind == "mcp_list_tools":
            index, added = self._add({**item, "tools": []})
            events += added
            ids = {"output_index": index, "item_id": item["id"]}
            events.append(self._event(f"{family}.in_progress", **ids))
            events.append(self._event(f"{family}.{'failed' if failed else 'completed'}", **ids))
        elif kind == "mcp_call":
            self._calls_made += 1
            arguments = item.get("arguments") or ""
            index, added = self._add({**item, "arguments": "", "output": None, "error": None,
                                      "status": "in_progress"})
            events += added
            ids = {"output_index": index, "item_id": item["id"]}
            events.append(self._event(f"{family}.in_progress", **ids))
            if arguments:
                events.append(self._event("response.mcp_call_arguments.delta", **ids,
                                          delta=arguments))
            events.append(self._event("response.mcp_call_arguments.done", **ids,
                                      arguments=arguments))
            events.append(self._event(f"{family}.{'failed' if failed else 'completed'}", **ids))
            item["arguments"] = arguments
            item["status"] = "failed" if failed else "completed"
        else:
            index, added = self._add(item)
            events += added
        events.append(self._done(index, item))
        return self._out(events)

    def finish(self) -> list[dict]:
        """The terminal event: response.completed, or response.incomplete after length/filter."""
        if self._terminated:
            return []
        events = self.end_turn() if self._turn_active else []
        self._terminated = True
        reason = INCOMPLETE_REASONS.get(self._finish_reason or "")
        self.response["usage"] = self._usage or usage_from_chat(None)
        if reason:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": reason}
            events.append(self._snapshot("response.incomplete"))
        else:
            self.response["status"] = "completed"
            self.response["completed_at"] = int(time.time())
            events.append(self._snapshot("response.completed"))
        return self._out(events)

    def fail(self, code: str, message: str) -> list[dict]:
        """An ``error`` event, then response.failed whose ``error`` is ``{code, message}``."""
        if self._terminated:
            return []
        events = self._close_turn("incomplete") if self._turn_active else []
        self._terminated = True
        events.append(self._event("error", code=code, message=message, param=None))
        self.response["status"] = "failed"
        self.response["error"] = {"code": code, "message": message}
        self.response["usage"] = self._usage
        events.append(self._snapshot("response.failed"))
        return self._out(events)

    def cancel(self) -> dict:
        """The final response with status cancelled; no event is produced."""
        if not self._terminated:
            if self._turn_active:
                self._close_turn("incomplete")  # events are dropped: cancel emits none
            self._terminated = True
            self.response["status"] = "cancelled"
            self.response["usage"] = self._usage
        return self._frozen()

    @property
    def started(self) -> bool:
        """True once `start` has run (its events are the first of every response)."""
        return self._started

    @property
    def terminated(self) -> bool:
        """True once a terminal event (or cancel) has been produced."""
        return self._terminated
