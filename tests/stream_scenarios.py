"""Realistic chat chunk sequences for reference_impl.stream, and the invariants their events keep.

Chunk builders (``text``, ``call``, ``finish``, ``usage``), ``new_stream``/``run_turns`` to drive
a ``ResponseStream``, the named scenarios (``SCENARIOS``: text, parallel calls, a custom tool, MCP
items, incomplete, queued, a failure mid-stream), and ``invariant_problems``, the invariants of a
normal stream asserted directly (sequence numbers, pairing, delta concatenation, final output).
tests/test_stream.py runs every scenario through them, the grammar and the schemas.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from reference_impl.stream import ResponseStream
from reference_impl.translate_skeleton import response_object

TERMINAL = {"response.completed", "response.incomplete", "response.failed"}
# delta event -> (done event, field of the done event holding the full value)
DELTA_PAIRS = {
    "response.output_text.delta": ("response.output_text.done", "text"),
    "response.function_call_arguments.delta": ("response.function_call_arguments.done",
                                               "arguments"),
    "response.custom_tool_call_input.delta": ("response.custom_tool_call_input.done", "input"),
    "response.mcp_call_arguments.delta": ("response.mcp_call_arguments.done", "arguments"),
}


# ---------------------------------------------------------------- chunk builders

def text(content: str) -> dict:
    return {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


def call(index: int, *, id: str | None = None, name: str | None = None,
         arguments: str = "") -> dict:
    fragment: dict = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        fragment["id"], fragment["type"] = id, "function"
    if name is not None:
        fragment["function"]["name"] = name
    return {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"tool_calls": [fragment]}, "finish_reason": None}]}


def finish(reason: str) -> dict:
    return {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def usage(prompt: int, completion: int) -> dict:
    return {"object": "chat.completion.chunk", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}


def new_stream(status: str = "in_progress", tool_kinds: dict | None = None) -> ResponseStream:
    skeleton = response_object({"input": "hi"}, response_id="resp_test", created_at=1700000000,
                               model="smollm2", status=status)
    return ResponseStream(skeleton, tool_kinds=tool_kinds)


def run_turns(stream: ResponseStream, *turns: list[dict]) -> list[dict]:
    events = stream.start()
    for chunks in turns:
        for chunk in chunks:
            events += stream.feed(chunk)
        events += stream.end_turn()
    return events + stream.finish()


# ---------------------------------------------------------------- scenarios

def scenario_text() -> list[dict]:
    return run_turns(new_stream(), [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        text("The "), text("Earth"), text(" \u2028is round."), finish("stop"), usage(12, 5)])


def scenario_parallel_calls() -> list[dict]:
    return run_turns(new_stream(), [
        call(0, id="call_paris", name="get_weather", arguments=""),
        call(0, arguments='{"ci'),
        call(1, id="call_rome", name="get_weather", arguments='{"city"'),
        call(0, arguments='ty": "Paris"}'),
        call(1, arguments=': "Rome"}'),
        finish("tool_calls"), usage(40, 22)])


def scenario_custom_tool() -> list[dict]:
    # The JSON string escape \" is split across chunks: only the whole text decodes.
    return run_turns(new_stream(tool_kinds={"shell": "custom"}), [
        call(0, id="call_sh", name="shell", arguments='{"input": "echo \\'),
        call(0, arguments='"hi\\" \\u00e9"}'), finish("tool_calls"), usage(30, 9)])


def scenario_text_then_call() -> list[dict]:
    return run_turns(new_stream(), [
        text("Let me check."), call(0, id="call_1", name="get_time", arguments='{"tz":"CET"}'),
        finish("tool_calls")])


def scenario_call_then_text() -> list[dict]:
    return run_turns(new_stream(), [
        call(0, name="get_time", arguments='{"tz":'), text("Checking"),
        call(0, arguments='"UTC"}'), text(" now."), finish("tool_calls")])


def scenario_length() -> list[dict]:
    return run_turns(new_stream(), [text("Once upon"), text(" a"), finish("length"), usage(8, 3)])


def scenario_content_filter() -> list[dict]:
    return run_turns(new_stream(), [text("I"), finish("content_filter")])


def scenario_queued() -> list[dict]:
    return run_turns(new_stream(status="queued"), [text("Hello"), finish("stop")])


def scenario_mcp_loop() -> list[dict]:
    stream = new_stream(tool_kinds={"roll": "mcp"})
    events = stream.start()
    events += stream.add_item({"type": "mcp_list_tools", "server_label": "dice", "tools": [
        {"name": "roll", "input_schema": {"type": "object"}}]})
    events += stream.add_item({"type": "mcp_list_tools", "server_label": "down", "tools": [],
                               "error": "connection refused"})
    for chunk in (call(0, id="call_r", name="roll", arguments='{"sides":'),
                  call(0, arguments="6}"), finish("tool_calls"), usage(50, 10)):
        events += stream.feed(chunk)
    events += stream.end_turn()
    [pending] = stream.pending_tool_calls
    assert (pending["name"], pending["arguments"]) == ("roll", '{"sides":6}')
    events += stream.add_item({"type": "mcp_call", "server_label": "dice", "name": "roll",
                               "arguments": pending["arguments"], "output": "4", "error": None})
    events += stream.add_item({"type": "mcp_call", "server_label": "dice", "name": "roll",
                               "arguments": "{}", "output": None,
                               "error": {"type": "mcp_protocol_error", "code": -32602,
                                         "message": "sides is required"}})
    events += stream.add_item({"type": "mcp_approval_request", "server_label": "dice",
                               "name": "roll", "arguments": "{}"})
    for chunk in (text("You rolled "), text("4."), finish("stop"), usage(70, 4)):
        events += stream.feed(chunk)
    return events + stream.end_turn() + stream.finish()


def scenario_fail_mid_stream() -> list[dict]:
    stream = new_stream()
    events = stream.start() + stream.feed(text("partial"))
    events += stream.feed(call(0, id="call_x", name="get_time", arguments="{"))
    return events + stream.fail("server_error", "backend closed the connection")


SCENARIOS: dict[str, Callable[[], list[dict]]] = {
    name.removeprefix("scenario_").replace("_", "-"): fn
    for name, fn in list(globals().items()) if name.startswith("scenario_")
}


# ---------------------------------------------------------------- invariants, asserted directly

def invariant_problems(events: list[dict]) -> list[str]:
    """Every broken invariant of a normal stream, as text (empty when all hold)."""
    problems = []
    if [e["sequence_number"] for e in events] != list(range(len(events))):
        problems.append("sequence numbers are not 0..n")
    if events[0]["type"] != "response.created":
        problems.append("first event is not response.created")
    terminals = [i for i, e in enumerate(events) if e["type"] in TERMINAL]
    if terminals != [len(events) - 1]:
        problems.append(f"terminal events at {terminals}, want only the last")
    final = events[-1]["response"]
    if final["status"] != events[-1]["type"].removeprefix("response."):
        problems.append("terminal type and status differ")
    added = [e for e in events if e["type"] == "response.output_item.added"]
    done = [e for e in events if e["type"] == "response.output_item.done"]
    if [e["output_index"] for e in added] != list(range(len(added))):
        problems.append("output_index not assigned 0, 1, 2 ... on added")
    if sorted(e["output_index"] for e in done) != list(range(len(added))):
        problems.append("not exactly one output_item.done per added item")
    if [e["item"] for e in done] != final["output"]:
        problems.append("final output differs from the output_item.done items")
    index_of = {e["item"]["id"]: e["output_index"] for e in added}
    deltas: dict[tuple[str, str], str] = defaultdict(str)
    for e in events:
        if "item_id" in e and index_of.get(e["item_id"]) != e["output_index"]:
            problems.append(f"{e['type']} #{e['sequence_number']} has a wrong output_index")
        if e["type"] in DELTA_PAIRS:
            deltas[(e["item_id"], e["type"])] += e["delta"]
    for (item_id, delta_type), joined in deltas.items():
        done_type, field = DELTA_PAIRS[delta_type]
        values = [e[field] for e in events if e["type"] == done_type and e["item_id"] == item_id]
        if values != [joined]:
            problems.append(f"{delta_type} of {item_id} join to {joined!r}, done has {values}")
    if final["status"] != "failed":
        usage_ = final["usage"]
        if usage_["total_tokens"] != usage_["input_tokens"] + usage_["output_tokens"]:
            problems.append("usage total is not input + output")
    return problems
