"""Unit tests for reference_impl.stream: realistic chat chunk sequences -> Responses events.

Each scenario (tests/stream_scenarios.py) is checked three ways: invariants asserted directly
(sequence numbers, pairing, delta concatenation, final output), the harness grammar
(fixtures.grammar, on SSE frames made by encode_sse and parsed by fixtures.sse) and the event
schemas (fixtures.schemas).
"""
from __future__ import annotations

import json
import re
from typing import Callable

import pytest

from fixtures.sse import parse_frames
from reference_impl import stream as stream_module
from reference_impl.stream import ResponseStream, encode_sse
from tests import stream_scenarios
from tests.stream_scenarios import (SCENARIOS, call, finish, invariant_problems, new_stream, run_turns,
                                    scenario_call_then_text, scenario_content_filter, scenario_custom_tool,
                                    scenario_fail_mid_stream, scenario_length, scenario_mcp_loop,
                                    scenario_parallel_calls, scenario_queued, scenario_text,
                                    scenario_text_then_call, text)


@pytest.mark.parametrize("name", SCENARIOS)
def test_invariants_hold(name: str) -> None:
    assert invariant_problems(SCENARIOS[name]()) == []


@pytest.mark.parametrize("name", SCENARIOS)
def test_grammar_accepts(name: str) -> None:
    grammar = pytest.importorskip("fixtures.grammar")
    events = SCENARIOS[name]()
    frames = parse_frames(b"".join(encode_sse(e) for e in events))
    mode = "background" if name == "queued" else "normal"
    violations = grammar.check_stream(frames, mode=mode)
    assert [str(v) for v in violations] == []


@pytest.mark.parametrize("name", SCENARIOS)
def test_events_match_schemas(name: str) -> None:
    schemas = pytest.importorskip("fixtures.schemas")
    for event in SCENARIOS[name]():
        errors = schemas.errors_only(schemas.validate_event(event, "openai"))
        assert [str(e) for e in errors] == [], event["type"]


def _final_responses(name: str, monkeypatch: pytest.MonkeyPatch, *, quiet: bool) -> list[dict]:
    """Every stream's final Response after the scenario ``name`` ran with ``quiet`` streams, the
    random item ids and the completion second replaced by placeholders."""
    made: list[ResponseStream] = []
    real = stream_module.ResponseStream  # the class itself, whatever stream_scenarios holds now

    def factory(*args, **kwargs) -> ResponseStream:
        made.append(real(*args, **kwargs, quiet=quiet))
        return made[-1]
    monkeypatch.setattr(stream_scenarios, "ResponseStream", factory)  # what new_stream makes
    events = SCENARIOS[name]()
    assert (events == []) is quiet
    text_ = json.dumps([s.response for s in made])
    return json.loads(re.sub(r'"completed_at": \d+', '"completed_at": 0',
                             re.sub(r"\b([a-z]+)_[0-9a-f]{48}\b", r"\1_ID", text_)))


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_quiet_stream_builds_the_same_response_without_events(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The non-streamed path (quiet) must answer exactly what the streamed path's final event holds."""
    loud = _final_responses(name, monkeypatch, quiet=False)
    assert loud and _final_responses(name, monkeypatch, quiet=True) == loud


def test_invariant_checker_can_fail() -> None:
    events = scenario_text()
    events[3]["sequence_number"] = 99
    events[-1]["response"]["output"] = []
    problems = invariant_problems(events)
    assert "sequence numbers are not 0..n" in problems
    assert "final output differs from the output_item.done items" in problems


# ---------------------------------------------------------------- scenario specifics

def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def test_text_sequence_is_canonical() -> None:
    events = scenario_text()
    assert types(events) == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    added = events[2]["item"]
    assert (added["type"], added["status"], added["content"]) == ("message", "in_progress", [])
    assert events[3]["part"] == {"type": "output_text", "annotations": [], "logprobs": [],
                                 "text": ""}
    assert all(e["logprobs"] == [] for e in events if e["type"].startswith("response.output_text"))
    final = events[-1]["response"]
    assert final["output"][0]["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "The Earth \u2028is round."
    assert final["usage"]["input_tokens"] == 12 and final["usage"]["output_tokens"] == 5
    assert final["id"] == "resp_test" and final["incomplete_details"] is None


def test_parallel_calls_keep_ids_and_arguments_apart() -> None:
    final = scenario_parallel_calls()[-1]["response"]
    assert [(i["type"], i["call_id"], json.loads(i["arguments"])) for i in final["output"]] == [
        ("function_call", "call_paris", {"city": "Paris"}),
        ("function_call", "call_rome", {"city": "Rome"})]
    for item in final["output"]:
        assert item["id"].startswith("fc_") and item["id"] != item["call_id"]
        assert item["status"] == "completed"


def test_custom_tool_input_is_decoded() -> None:
    events = scenario_custom_tool()
    final = events[-1]["response"]
    [item] = final["output"]
    assert item["type"] == "custom_tool_call" and item["id"].startswith("ctc_")
    assert item["input"] == 'echo "hi" \u00e9' and item["call_id"] == "call_sh"
    assert "response.function_call_arguments.delta" not in types(events)


def test_text_and_calls_share_consistent_indices() -> None:
    first = scenario_text_then_call()[-1]["response"]["output"]
    assert [i["type"] for i in first] == ["message", "function_call"]
    later = scenario_call_then_text()
    output = later[-1]["response"]["output"]
    assert [i["type"] for i in output] == ["function_call", "message"]
    assert output[1]["content"][0]["text"] == "Checking now."
    assert output[0]["arguments"] == '{"tz":"UTC"}' and output[0]["call_id"].startswith("call_")


@pytest.mark.parametrize(("scenario", "reason"), [(scenario_length, "max_output_tokens"),
                                                  (scenario_content_filter, "content_filter")],
                         ids=["length", "content-filter"])
def test_incomplete(scenario: Callable[[], list[dict]], reason: str) -> None:
    events = scenario()
    assert events[-1]["type"] == "response.incomplete"
    final = events[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": reason}
    assert final["output"][0]["status"] == "incomplete"


def test_queued_start() -> None:
    events = scenario_queued()
    assert types(events)[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert [e["response"]["status"] for e in events[:3]] == ["queued", "queued", "in_progress"]


def test_mcp_loop_sequences_and_usage_sum() -> None:
    events = scenario_mcp_loop()
    mcp_types = [t for t in types(events) if "mcp" in t or t.startswith("response.output_item")]
    assert mcp_types[:8] == [
        "response.output_item.added", "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed", "response.output_item.done",
        "response.output_item.added", "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.failed", "response.output_item.done"]
    assert mcp_types[8:20] == [
        "response.output_item.added", "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
        "response.mcp_call.completed", "response.output_item.done",
        "response.output_item.added", "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
        "response.mcp_call.failed", "response.output_item.done"]
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == [
        "mcp_list_tools", "mcp_list_tools", "mcp_call", "mcp_call", "mcp_approval_request",
        "message"]
    assert "function_call" not in json.dumps(final["output"])  # the MCP call stayed hidden
    assert final["output"][2]["output"] == "4" and final["output"][2]["id"].startswith("mcp_")
    assert final["output"][0]["id"].startswith("mcpl_")
    assert final["output"][4]["id"].startswith("mcpr_")
    assert (final["usage"]["input_tokens"], final["usage"]["output_tokens"]) == (120, 14)


def test_fail_closes_items_then_error_then_failed() -> None:
    events = scenario_fail_mid_stream()
    assert types(events)[-7:] == [
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.function_call_arguments.done", "response.output_item.done",
        "error", "response.failed"]
    error = events[-2]
    assert error == {"type": "error", "sequence_number": error["sequence_number"],
                     "code": "server_error", "message": "backend closed the connection",
                     "param": None}
    final = events[-1]["response"]
    assert final["status"] == "failed"
    assert final["error"] == {"code": "server_error", "message": "backend closed the connection"}
    assert [i["status"] for i in final["output"]] == ["incomplete", "incomplete"]


def test_terminal_is_emitted_once_and_late_chunks_are_ignored() -> None:
    stream = new_stream()
    run_turns(stream, [text("x"), finish("stop")])
    assert stream.finish() == [] and stream.fail("server_error", "late") == []
    assert stream.feed(text("late")) == [] and stream.terminated


def test_cancel_returns_cancelled_response_without_events() -> None:
    stream = new_stream()
    stream.start()
    stream.feed(text("half"))
    response = stream.cancel()
    assert response["status"] == "cancelled"
    assert response["output"][0]["content"][0]["text"] == "half"
    assert stream.feed(text("more")) == [] and stream.finish() == []


def test_arguments_before_name_are_buffered_and_missing_call_id_generated() -> None:
    stream = new_stream()
    events = run_turns(stream, [call(0, arguments='{"a":'), call(0, name="f", arguments="1}"),
                                finish("tool_calls")])
    assert invariant_problems(events) == []
    [item] = events[-1]["response"]["output"]
    assert item["arguments"] == '{"a":1}' and item["name"] == "f"
    assert item["call_id"].startswith("call_")
    assert stream.pending_tool_calls == [item]


def test_encode_sse_frame() -> None:
    event = {"type": "response.output_text.delta", "sequence_number": 4, "delta": "a\u2028b\n"}
    raw = encode_sse(event)
    assert raw.startswith(b"event: response.output_text.delta\ndata: {")
    assert raw.endswith(b"}\n\n") and raw.count(b"\n") == 3
    [frame] = parse_frames(raw)
    assert frame.event == "response.output_text.delta" and frame.json() == event


def test_grammar_rejects_a_stream_broken_on_purpose() -> None:
    grammar = pytest.importorskip("fixtures.grammar")
    events = [e for e in scenario_parallel_calls() if e["type"] != "response.output_item.done"]
    frames = parse_frames(b"".join(encode_sse(e) for e in events))
    assert grammar.check_stream(frames, mode="normal") != []
