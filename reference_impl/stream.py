"""Chat completion chunks -> the canonical Responses event sequence (DESIGN.md §3).

Owns :class:`ResponseStream`, the only producer of Responses events in the router: sequence
numbers, output indices, item ids, deltas and the terminal event, for one response that may span
several backend turns (the MCP loop), plus :func:`encode_sse` for the wire format.

Pure state machine: no I/O, fed one ``chat.completion.chunk`` dict at a time. Items close at the
end of a backend turn, in ``output_index`` order, so ``response.output`` (the done items in done
order) always equals the items in index order.

Tool names: ``tool_names`` maps the chat name of a tool inside a namespace to ``(namespace,
name)``; its call items carry both (``name`` is the inner name).

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

Tool kinds (``tool_kinds`` maps a chat function name to a kind):
- ``"function"`` (the default for unknown names): a ``function_call`` item, arguments streamed.
- ``"custom"``: a ``custom_tool_call`` item. The backend streams the JSON text ``{"input": "..."}``
  and a fragment of JSON-escaped text cannot be decoded on its own (an escape may be split across
  chunks), so the arguments are buffered and the decoded input is emitted as one delta at close.
- ``"dropped"``: a call beyond the response's limits (``max_tool_calls`` over the whole
  response, one call per turn with ``parallel_tool_calls: false``): never shown, never run.
- ``"mcp"``: a server-side MCP tool. Its call is not shown to the client as a function call: it is
  buffered silently and handed to the MCP loop via :attr:`ResponseStream.pending_tool_calls`,
  which then reports it through :meth:`ResponseStream.add_item` as an ``mcp_call``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from reference_impl.ids import new_id
from reference_impl.jsoncodec import copy_json
from reference_impl.translate_out import add_usage, decode_custom_input, usage_from_chat

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
# Message content kinds: part type, delta event, done event, the part's text field.
PART_KINDS = {
    "text": ("output_text", "response.output_text.delta", "response.output_text.done", "text"),
    "refusal": ("refusal", "response.refusal.delta", "response.refusal.done", "refusal"),
}


def _logprob(entry: dict) -> dict:
    """A chat ``logprobs.content[]`` entry -> an ``output_text`` part's logprob (with bytes)."""
    def one(e: dict) -> dict:
        token = str(e.get("token", ""))
        raw = e.get("bytes")
        return {"token": token, "logprob": float(e.get("logprob") or 0.0),
                "bytes": list(raw) if isinstance(raw, list) else list(token.encode("utf-8"))}
    return {**one(entry), "top_logprobs": [one(t) for t in entry.get("top_logprobs") or []
                                           if isinstance(t, dict)]}


def _event_logprob(entry: dict) -> dict:
    """The same logprob as ``output_text.delta``/``.done`` events carry it (no bytes)."""
    return {"token": entry["token"], "logprob": entry["logprob"],
            "top_logprobs": [{"token": t["token"], "logprob": t["logprob"]} for t in entry["top_logprobs"]]}


def encode_sse(event: dict) -> bytes:
    """One SSE frame: ``event: <type>``, ``data: <compact json>`` and a blank line."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode("utf-8")


class _Call:
    """One tool call of the current turn, keyed by the chat chunk's tool call index."""

    def __init__(self, chat_index: int) -> None:
        self.chat_index = chat_index
        self.call_id: str | None = None
        self.name = ""
        self.arguments = ""
        self.kind: str | None = None   # set once the name is known
        self.item: dict | None = None  # visible item (function/custom), once added
        self.output_index: int | None = None


class ResponseStream:
    """Turns chat chunks (over one or more backend turns) into Responses events."""

    def __init__(self, response: dict, *, tool_kinds: dict[str, str] | None = None,
                 tool_names: dict[str, tuple[str, str]] | None = None,
                 reasoning_summary: bool = False, seal: Callable[[str], str] | None = None,
                 quiet: bool = False) -> None:
        """``response`` is the skeleton from translate.response_object (in_progress or queued);
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
        self._open: dict[int, Any] = {}  # output_index -> open message dict or _Call
        self._message: dict | None = None  # the open message of this turn
        self._calls: dict[int, _Call] = {}
        self._turn_usage: dict | None = None
        self._usage: dict | None = None
        self._finish_reason: str | None = None
        self._turn_active = False
        self._terminated = False

    def add_tool_kinds(self, kinds: dict[str, str]) -> None:
        """Learn more chat function names; MCP tools are only known once listing is done."""
        self._tool_kinds.update(kinds)

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
            if isinstance(entry, _Call):
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

    # ------------------------------------------------------------ messages

    def _message_delta(self, kind: str, fragment: str, logprobs: list[dict]) -> list[dict]:
        events: list[dict] = []
        message = self._message
        if message is None:
            events += self._end_reasoning()
            item = {"id": new_id("msg"), "type": "message", "status": "in_progress",
                    "content": [], "role": "assistant"}
            index, added = self._add(item)
            events += added
            message = self._message = {"item": item, "index": index, "part": None}
            self._open[index] = message
        part = message["part"]
        if part is not None and part["kind"] != kind:
            events += self._close_part(message)
            part = None
        ids = {"item_id": message["item"]["id"], "output_index": message["index"]}
        if part is None:
            part = message["part"] = {"kind": kind, "text": "", "logprobs": [],
                                      "content_index": len(message["item"]["content"])}
            events.append(self._event("response.content_part.added", **ids,
                                      content_index=part["content_index"],
                                      part=self._part(kind, "")))
        part["text"] += fragment
        entries = [_logprob(entry) for entry in logprobs if isinstance(entry, dict)]
        part["logprobs"] += entries
        delta_type = PART_KINDS[kind][1]
        extra = {"logprobs": [_event_logprob(e) for e in entries]} if kind == "text" else {}
        events.append(self._event(delta_type, **ids, content_index=part["content_index"],
                                  delta=fragment, **extra))
        return events

    @staticmethod
    def _part(kind: str, text: str, logprobs: list[dict] | None = None) -> dict:
        if kind == "text":
            return {"type": "output_text", "annotations": [], "logprobs": copy_json(logprobs or []),
                    "text": text}
        return {"type": "refusal", "refusal": text}

    def _close_part(self, message: dict) -> list[dict]:
        part = message["part"]
        message["part"] = None
        _, _, done_type, field = PART_KINDS[part["kind"]]
        ids = {"item_id": message["item"]["id"], "output_index": message["index"],
               "content_index": part["content_index"]}
        extra = ({"logprobs": [_event_logprob(e) for e in part["logprobs"]]}
                 if part["kind"] == "text" else {})
        final = self._part(part["kind"], part["text"], part["logprobs"])
        message["item"]["content"].append(final)
        return [self._event(done_type, **ids, **{field: part["text"]}, **extra),
                self._event("response.content_part.done", **ids, part=copy_json(final))]

    def _close_message(self, message: dict, status: str) -> list[dict]:
        events = self._close_part(message) if message["part"] is not None else []
        message["item"]["status"] = status
        events.append(self._done(message["index"], message["item"]))
        return events

    # ------------------------------------------------------------ reasoning

    def _reasoning_delta(self, fragment: str) -> list[dict]:
        """Reasoning text (chat ``reasoning_content``): one ``reasoning`` item per turn, with a
        ``reasoning_text`` part, and a ``summary_text`` part when a summary was asked for.

        The router has no separate summariser: the summary is the reasoning text itself.
        """
        events: list[dict] = []
        entry = self._reasoning
        if entry is None:
            item = {"id": new_id("rs"), "type": "reasoning", "summary": [], "content": []}
            index, events = self._add(item)
            entry = self._reasoning = {"item": item, "index": index, "text": "", "reasoning": True}
            self._open[index] = entry
            ids = {"item_id": item["id"], "output_index": index}
            events.append(self._event("response.content_part.added", **ids, content_index=0,
                                      part={"type": "reasoning_text", "text": ""}))
            if self._reasoning_summary:
                events.append(self._event("response.reasoning_summary_part.added", **ids,
                                          summary_index=0, part={"type": "summary_text", "text": ""}))
        ids = {"item_id": entry["item"]["id"], "output_index": entry["index"]}
        entry["text"] += fragment
        events.append(self._event("response.reasoning_text.delta", **ids, content_index=0,
                                  delta=fragment))
        if self._reasoning_summary:
            events.append(self._event("response.reasoning_summary_text.delta", **ids,
                                      summary_index=0, delta=fragment))
        return events

    def _end_reasoning(self) -> list[dict]:
        """Close the open reasoning item: the answer that follows it starts its own item."""
        entry, self._reasoning = self._reasoning, None
        if entry is None:
            return []
        self._open.pop(entry["index"], None)
        return self._close_reasoning(entry)

    def _close_reasoning(self, entry: dict) -> list[dict]:
        item, text = entry["item"], entry["text"]
        ids = {"item_id": item["id"], "output_index": entry["index"]}
        part = {"type": "reasoning_text", "text": text}
        events = [self._event("response.reasoning_text.done", **ids, content_index=0, text=text),
                  self._event("response.content_part.done", **ids, content_index=0,
                              part=dict(part))]
        item["content"] = [part]
        if self._reasoning_summary:
            summary = {"type": "summary_text", "text": text}
            events += [self._event("response.reasoning_summary_text.done", **ids, summary_index=0,
                                   text=text),
                       self._event("response.reasoning_summary_part.done", **ids, summary_index=0,
                                   part=dict(summary))]
            item["summary"] = [summary]
        if self._seal is not None:
            item["encrypted_content"] = self._seal(text)
        events.append(self._done(entry["index"], item))
        return events

    # ------------------------------------------------------------ tool calls

    def _find_call(self, fragment: dict) -> _Call:
        """The call a fragment continues: by index, else by id, else the latest one."""
        if "index" in fragment:
            key = fragment["index"]
        else:
            # Some backends omit the index: a new id or a name starts a new call.
            same_id = [c for c in self._calls.values() if fragment.get("id")
                       and c.call_id == fragment["id"]]
            if same_id:
                return same_id[0]
            starts = fragment.get("id") or (fragment.get("function") or {}).get("name")
            key = len(self._calls) if starts or not self._calls else max(self._calls)
        if key not in self._calls:
            self._calls[key] = _Call(key)
        return self._calls[key]

    def _tool_call_delta(self, fragment: dict) -> list[dict]:
        call = self._find_call(fragment)
        function = fragment.get("function") or {}
        if fragment.get("id") and call.call_id is None:
            call.call_id = fragment["id"]
        if function.get("name") and call.kind is None:
            call.name = function["name"]
        arguments = function.get("arguments") or ""
        events: list[dict] = []
        if call.kind is None and call.name:
            # Arguments seen before the name were buffered; they go out right after .added.
            events += self._reveal_call(call)
            pending, call.arguments = call.arguments, ""
            arguments = pending + arguments
        if arguments:
            call.arguments += arguments
            if call.kind == "function":
                events.append(self._event("response.function_call_arguments.delta",
                                          item_id=call.item["id"],
                                          output_index=call.output_index, delta=arguments))
        return events

    def _over_limit(self) -> bool:
        """Whether one more call in this turn would break max_tool_calls or parallel_tool_calls."""
        if self.response.get("parallel_tool_calls") is False and self._turn_calls >= 1:
            return True
        limit = self.response.get("max_tool_calls")
        return isinstance(limit, int) and self._calls_made + self._turn_hidden >= limit

    def _reveal_call(self, call: _Call) -> list[dict]:
        call.kind = self._tool_kinds.get(call.name, "function")
        call.call_id = call.call_id or new_id("call")
        if self._over_limit():
            call.kind = "dropped"
            return []
        self._turn_calls += 1
        if call.kind == "mcp":
            self._turn_hidden += 1
            return self._end_reasoning()
        self._calls_made += 1
        namespace, name = self._tool_names.get(call.name, (None, call.name))
        if call.kind == "custom":
            item = {"id": new_id("ctc"), "type": "custom_tool_call", "call_id": call.call_id,
                    "name": name, "input": ""}
        else:
            item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress",
                    "arguments": "", "call_id": call.call_id, "name": name}
        if namespace:
            item["namespace"] = namespace
        call.item = item
        events = self._end_reasoning()
        call.output_index, added = self._add(item)
        events += added
        self._open[call.output_index] = call
        return events

    def _close_call(self, call: _Call, status: str) -> list[dict]:
        item = call.item
        ids = {"item_id": item["id"], "output_index": call.output_index}
        events: list[dict] = []
        if call.kind == "custom":
            item["input"] = decode_custom_input(call.arguments)
            if item["input"]:
                events.append(self._event("response.custom_tool_call_input.delta", **ids,
                                          delta=item["input"]))
            events.append(self._event("response.custom_tool_call_input.done", **ids,
                                      input=item["input"]))
        else:
            item["arguments"] = call.arguments
            item["status"] = status
            events.append(self._event("response.function_call_arguments.done", **ids,
                                      arguments=call.arguments))
        events.append(self._done(call.output_index, item))
        return events

    def _call_item(self, call: _Call, status: str) -> dict:
        """The finished call as an item for the MCP loop (hidden MCP calls get one here)."""
        if call.item is not None:
            return copy_json(call.item)
        return {"id": new_id("fc"), "type": "function_call", "status": status,
                "arguments": call.arguments, "call_id": call.call_id or new_id("call"),
                "name": call.name}
