"""Tests for fixtures.grammar: real vectors pass, edited vectors fail, each §5 deviation is caught."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import pytest

from fixtures.grammar import (
    PAIRS,
    RULES,
    Violation,
    check_stream,
    final_response,
)
from fixtures.grammar_checker import known_event_types
from fixtures.response_compare import check_stored_matches
from fixtures.schemas import errors_only, validate_event
from fixtures.sse import parse_frames
from tests.streams import (
    CANONICAL,
    failed_stream,
    function_call_stream,
    incomplete_stream,
    mcp_stream,
    renumber,
    text_message_stream,
    to_sse,
)

VECTORS = Path(__file__).parent / "vectors" / "openai"
# Vectors that need a special mode (see tests/vectors/README.md, "mode" column).
VECTOR_MODES = {
    "legacy-noseq-function-call-gpt4o.sse": "legacy",
    "background-resume-starting-after-gpt4o.sse": "resume",
    "background-queued-gpt4o.sse": "background",
}
EDITED_EXPECTED = {
    "text-gpt41nano-dup-seq.sse": {"sequence.monotonic", "final.output_matches_items", "usage.total"},
    "reasoning-summary-o4mini-compressed.sse": {"reasoning.delta_concat"},
}


def violations(events: list[dict], mode: str = "normal") -> list[Violation]:
    """Check `events` through real SSE bytes, and make sure every rule id is a documented one."""
    found = check_stream(parse_frames(to_sse(events)), mode=mode)
    assert all(v.rule in RULES for v in found), [v.rule for v in found if v.rule not in RULES]
    return found


def rules(events: list[dict], mode: str = "normal") -> set[str]:
    return {v.rule for v in violations(events, mode)}


def index_of(events: list[dict], event_type: str, nth: int = 0) -> int:
    return [i for i, e in enumerate(events) if e["type"] == event_type][nth]


# --- real recordings ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in VECTORS.glob("*.sse")))
def test_must_pass_vector_is_accepted(name: str) -> None:
    mode = VECTOR_MODES.get(name, "normal")
    frames = parse_frames((VECTORS / name).read_bytes())
    assert [str(v) for v in check_stream(frames, mode=mode)] == []
    schema_errors = [(i, str(issue)) for i, frame in enumerate(frames)
                     for issue in errors_only(validate_event(frame.json(), legacy=mode == "legacy"))]
    assert schema_errors == []


@pytest.mark.parametrize("name", sorted(EDITED_EXPECTED))
def test_edited_vector_is_rejected_for_its_known_edits(name: str) -> None:
    frames = parse_frames((VECTORS / "edited" / name).read_bytes())
    assert {v.rule for v in check_stream(frames)} == EDITED_EXPECTED[name]


def test_every_must_pass_vector_is_covered() -> None:
    assert len(list(VECTORS.glob("*.sse"))) == 12


# --- canonical builders ------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_canonical_stream_is_clean(name: str) -> None:
    build, mode = CANONICAL[name]
    events = build()
    assert violations(events, mode) == []
    assert [(e["type"], str(i)) for e in events for i in validate_event(e)] == []


# --- DESIGN §5 streaming deviations, one rule id each ------------------------------------------

def drop(event_type: str) -> Callable[[list[dict]], None]:
    def edit(events: list[dict]) -> None:
        events[:] = renumber([e for e in events if e["type"] != event_type])
    return edit


def drop_many(*event_types: str) -> Callable[[list[dict]], None]:
    def edit(events: list[dict]) -> None:
        events[:] = renumber([e for e in events if e["type"] not in event_types])
    return edit


def _close_early(events: list[dict]) -> None:
    del events[-1]


def _empty_output(events: list[dict]) -> None:
    events[-1]["response"]["output"] = []


def _no_sequence(events: list[dict]) -> None:
    for e in events:
        del e["sequence_number"]


def _zero_sequence(events: list[dict]) -> None:
    for e in events:
        e["sequence_number"] = 0


def _gap(events: list[dict]) -> None:
    for e in events[3:]:
        e["sequence_number"] += 1


def _swap_numbers(events: list[dict]) -> None:
    events[3]["sequence_number"], events[4]["sequence_number"] = 4, 3


def _completed_before_created(events: list[dict]) -> None:
    events.insert(0, events.pop())
    renumber(events)


def _delta_item_id(events: list[dict]) -> None:
    events[index_of(events, "response.output_text.delta")]["item_id"] = "msg_other"


def _final_item_id(events: list[dict]) -> None:
    events[-1]["response"]["output"][0]["id"] = "msg_other"


def _call_id_missing(events: list[dict]) -> None:
    for e in events:
        if "item" in e:
            del e["item"]["call_id"]


def _call_id_is_item_id(events: list[dict]) -> None:
    for e in events:
        if "item" in e:
            e["item"]["call_id"] = e["item"]["id"]


def _off_by_one(events: list[dict]) -> None:
    for e in events:
        if "output_index" in e:
            e["output_index"] += 1


def _chat_usage(events: list[dict]) -> None:
    events[-1]["response"]["usage"] = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


def _no_details(events: list[dict]) -> None:
    usage = events[-1]["response"]["usage"]
    del usage["input_tokens_details"], usage["output_tokens_details"]


def _mcp_dotted(events: list[dict]) -> None:
    events[index_of(events, "response.mcp_call_arguments.delta")]["type"] = "response.mcp_call.arguments.delta"


def _failed_null_error(events: list[dict]) -> None:
    events[-1]["response"]["error"] = None


def _reason_length(events: list[dict]) -> None:
    events[-1]["response"]["incomplete_details"] = {"reason": "length"}


def _error_without_message(events: list[dict]) -> None:
    events[index_of(events, "error")]["error"] = {"code": "server_error"}


def _text_delta_mismatch(events: list[dict]) -> None:
    events[index_of(events, "response.output_text.delta")]["delta"] = "Jello"


def _arguments_mismatch(events: list[dict]) -> None:
    events[index_of(events, "response.function_call_arguments.done")]["arguments"] = '{"city":"Rome"}'


DEVIATIONS = [
    pytest.param(text_message_stream, drop("response.output_item.added"), "items.added_missing", id="missing-output_item.added"),
    pytest.param(text_message_stream, drop_many("response.content_part.added", "response.content_part.done"),
                 "message.content_part_events", id="missing-content_part-events"),
    pytest.param(text_message_stream, drop("response.output_text.done"), "text.done_missing", id="missing-output_text.done"),
    pytest.param(text_message_stream, _close_early, "lifecycle.terminal_missing", id="closes-before-completed"),
    pytest.param(text_message_stream, _empty_output, "final.output_matches_items", id="empty-output-in-completed"),
    pytest.param(text_message_stream, _empty_output, "final.output_empty", id="empty-output-flagged-as-such"),
    pytest.param(text_message_stream, _no_sequence, "sequence.present", id="sequence_number-missing"),
    pytest.param(text_message_stream, _zero_sequence, "sequence.monotonic", id="sequence_number-zero-everywhere"),
    pytest.param(text_message_stream, _gap, "sequence.contiguous", id="sequence_number-gap"),
    pytest.param(text_message_stream, _swap_numbers, "sequence.monotonic", id="sequence_number-not-monotonic"),
    pytest.param(text_message_stream, _completed_before_created, "lifecycle.created_first", id="completed-before-created"),
    pytest.param(text_message_stream, _delta_item_id, "items.id_consistent", id="item-id-differs-in-delta"),
    pytest.param(text_message_stream, _final_item_id, "final.output_matches_items", id="item-id-differs-in-final"),
    pytest.param(function_call_stream, _call_id_missing, "function.call_id_missing", id="call_id-missing"),
    pytest.param(function_call_stream, _call_id_is_item_id, "function.call_id_distinct", id="call_id-equals-item-id"),
    pytest.param(text_message_stream, _off_by_one, "items.output_index_order", id="output_index-off-by-one"),
    pytest.param(text_message_stream, _chat_usage, "usage.chat_names", id="usage-with-prompt_tokens"),
    pytest.param(text_message_stream, _no_details, "usage.details", id="usage-without-tokens-details"),
    pytest.param(mcp_stream, _mcp_dotted, "mcp.event_names", id="mcp-event-name-drift"),
    pytest.param(failed_stream, _failed_null_error, "failed.error_null", id="failed-with-null-error"),
    pytest.param(incomplete_stream, _reason_length, "incomplete.reason", id="incomplete-reason-length"),
    pytest.param(failed_stream, _error_without_message, "error.event_shape", id="error-event-without-message"),
    pytest.param(text_message_stream, _text_delta_mismatch, "text.delta_concat", id="text-deltas-differ-from-done"),
    pytest.param(function_call_stream, _arguments_mismatch, "function.delta_concat", id="arguments-deltas-differ-from-done"),
]


@pytest.mark.parametrize(("build", "edit", "rule"), DEVIATIONS)
def test_deviation_is_reported_with_its_rule(build: Callable[[], list[dict]], edit: Callable[[list[dict]], None], rule: str) -> None:
    events = build()
    assert rule not in rules(events)
    edit(events)
    assert rule in rules(events)


@pytest.mark.parametrize(
    ("field", "profile"),
    [("tools", "openai"), ("tool_choice", "openai"), ("temperature", "openresponses"), ("top_p", "openresponses")],
    ids=["tools-null-openai", "tool_choice-null-openai", "temperature-null-openresponses", "top_p-null-openresponses"],
)
def test_required_response_field_null_is_a_schema_error(field: str, profile: str) -> None:
    event = text_message_stream()[-1]
    event["response"][field] = None
    paths = [i.path for i in errors_only(validate_event(event, profile))]
    assert f"$.response.{field}" in paths


# --- modes and other rules ---------------------------------------------------------------------

def test_mode_background_requires_queued_created() -> None:
    events = CANONICAL["background-queued"][0]()
    assert {"lifecycle.queued_unexpected", "lifecycle.created_status"} <= rules(events, "normal")
    assert rules(events, "background") == set()


def test_mode_resume_accepts_a_mid_stream_start() -> None:
    events = text_message_stream("a", "b", "c")[4:]  # from the second delta on
    assert rules(events, "resume") == set()
    assert {"lifecycle.created_first", "sequence.starts_at_zero", "items.added_missing"} <= rules(events, "normal")


def test_mode_legacy_needs_all_or_none_sequence_numbers() -> None:
    events = text_message_stream()
    _no_sequence(events)
    assert rules(events, "legacy") == set()
    events = text_message_stream()
    del events[2]["sequence_number"]
    assert "sequence.present" in rules(events, "legacy")


def test_done_without_deltas_is_allowed() -> None:
    events = function_call_stream()
    events[:] = renumber([e for e in events if e["type"] != "response.function_call_arguments.delta"])
    assert rules(events) == set()


def test_unknown_event_type_and_event_line_mismatch() -> None:
    events = text_message_stream()
    events.insert(2, {"type": "response.vendor.thinking", "sequence_number": 0})
    renumber(events)
    assert "event.unknown_type" in rules(events)
    body = to_sse(text_message_stream()).replace(b"event: response.in_progress", b"event: response.progress", 1)
    assert [v.rule for v in check_stream(parse_frames(body))] == ["frame.event_matches_type"]


def test_events_after_terminal_and_second_terminal() -> None:
    events = text_message_stream()
    events.append(copy.deepcopy(events[-1]))
    renumber(events)
    assert {"lifecycle.terminal_not_last", "lifecycle.terminal_repeated"} <= rules(events)


def test_a_failed_stream_needs_an_error_and_nothing_but_response_failed_after_error() -> None:
    assert rules(failed_stream()) == set()
    events = failed_stream()
    events[-1]["response"]["error"] = None
    assert "failed.error_null" in rules(events)
    events = failed_stream()
    error_at = index_of(events, "error")
    events.insert(error_at + 1, copy.deepcopy(events[error_at]))
    renumber(events)
    assert "lifecycle.error_not_final" in rules(events)


def test_bad_json_and_truncated_last_frame() -> None:
    body = to_sse(text_message_stream())[:-2] + b"\n\ndata: {nope\n"
    found = {v.rule for v in check_stream(parse_frames(body))}
    assert {"frame.json", "frame.truncated"} <= found


def test_a_final_done_sentinel_is_not_judged_but_one_elsewhere_is() -> None:
    """`data: [DONE]` last (the SDK stops there) passes; before the terminal event it is bad JSON."""
    body = to_sse(text_message_stream())
    assert check_stream(parse_frames(body + b"data: [DONE]\n\n")) == []
    assert final_response(parse_frames(body + b"data: [DONE]\n\n")) is not None
    cut = body.rindex(b"event: response.completed")
    found = {v.rule for v in check_stream(parse_frames(body[:cut] + b"data: [DONE]\n\n" + body[cut:]))}
    assert "frame.json" in found


def test_response_id_must_not_change() -> None:
    events = text_message_stream()
    events[-1]["response"]["id"] = "resp_other"
    assert "response.id_consistent" in rules(events)


def test_mcp_call_without_in_progress() -> None:
    events = mcp_stream()
    drop("response.mcp_call.in_progress")(events)
    assert {"mcp.lifecycle", "pairs.start_missing", "pairs.outside_container"} <= rules(events)


def test_pairs_table_is_what_drives_pairing() -> None:
    assert PAIRS["response.mcp_call.completed"] == "response.mcp_call.in_progress"
    assert set(PAIRS) | set(PAIRS.values()) <= known_event_types()


def test_encrypted_content_is_ignored_when_comparing_items() -> None:
    events = text_message_stream()
    events[-1]["response"]["output"][0]["encrypted_content"] = "gAAAA-final"
    assert rules(events) == set()


def test_violation_str_names_every_part() -> None:
    events = text_message_stream()
    _gap(events)
    text = str(violations(events)[0])
    assert text.startswith("[sequence.contiguous] event 3 sequence_number:")
    assert "expected 3" in text and "got 4" in text


def test_final_response_and_stored_comparison() -> None:
    frames = parse_frames(to_sse(text_message_stream()))
    final = final_response(frames)
    assert final is not None and final["status"] == "completed"
    stored = copy.deepcopy(final)
    assert check_stored_matches(final, stored) == []
    stored["output"][0]["content"][0]["text"] = "changed"
    found = check_stored_matches(final, stored)
    assert [(v.rule, v.field) for v in found] == [("stored.field", "output[0].content[0].text")]
    assert [v.rule for v in check_stored_matches(final, {**stored, "id": "resp_x"})] == ["stored.id"]
    assert final_response(parse_frames(to_sse(text_message_stream()[:-1]))) is None


def test_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown grammar mode 'strict'"):
        check_stream([], mode="strict")
