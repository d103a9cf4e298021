"""Tool calls of one backend turn, as Responses items and events.

Separate from stream.py because a call has rules of its own: chat chunks carry its fragments by
index (or, from some backends, by id or by nothing), its name may arrive after its arguments, its
kind decides whether it is shown at all, and the response's limits may drop it. stream.py owns
what every item shares (sequence numbers, output indices, turns, the terminal event).
:class:`ToolCallEvents` is a mixin of :class:`~reference_impl.stream.ResponseStream` and only
that: its methods are the stream's own (``ResponseStream.feed`` calls them directly, no extra call
on the per-chunk path), and they use the host's state and event makers declared below.

Tool names: ``tool_names`` maps the chat name of a tool inside a namespace to ``(namespace,
name)``; its call items carry both (``name`` is the inner name).

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

from collections.abc import Callable
from typing import Any

from reference_impl.ids import new_id
from reference_impl.jsoncodec import copy_json
from reference_impl.translate_out import decode_custom_input


class ToolCall:
    """One tool call of the current turn, keyed by the chat chunk's tool call index."""

    def __init__(self, chat_index: int) -> None:
        self.chat_index = chat_index
        self.call_id: str | None = None
        self.name = ""
        self.arguments = ""
        self.kind: str | None = None   # set once the name is known
        self.item: dict | None = None  # visible item (function/custom), once added
        self.output_index: int | None = None


class ToolCallEvents:
    """The tool call methods of :class:`~reference_impl.stream.ResponseStream`."""

    # Set by ResponseStream.__init__: the Response being built (its limits), the calls of this
    # turn by chat index, the open items by output_index, the tool names and kinds, and the counts
    # the limits are checked against.
    response: dict
    _calls: dict[int, ToolCall]
    _open: dict[int, Any]
    _tool_kinds: dict[str, str]
    _tool_names: dict[str, tuple[str, str]]
    _calls_made: int
    _turn_calls: int
    _turn_hidden: int
    # ResponseStream's event makers, and TextEvents' closing of the open reasoning item.
    _event: Callable[..., dict]
    _add: Callable[[dict], tuple[int, list[dict]]]
    _done: Callable[[int, dict], dict]
    _end_reasoning: Callable[[], list[dict]]

    def add_tool_kinds(self, kinds: dict[str, str]) -> None:
        """Learn more chat function names; MCP tools are only known once listing is done."""
        self._tool_kinds.update(kinds)

    def _find_call(self, fragment: dict) -> ToolCall:
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
            self._calls[key] = ToolCall(key)
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

    def _reveal_call(self, call: ToolCall) -> list[dict]:
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

    def _close_call(self, call: ToolCall, status: str) -> list[dict]:
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

    def _call_item(self, call: ToolCall, status: str) -> dict:
        """The finished call as an item for the MCP loop (hidden MCP calls get one here)."""
        if call.item is not None:
            return copy_json(call.item)
        return {"id": new_id("fc"), "type": "function_call", "status": status,
                "arguments": call.arguments, "call_id": call.call_id or new_id("call"),
                "name": call.name}
