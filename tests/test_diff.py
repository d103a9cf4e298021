"""The pure differential diff (fixtures/diff.py) on hand-built exchanges: each kind it can report,
and the volatile values it must not."""
from __future__ import annotations

import copy
import json
from typing import Any

from fixtures.capture import Exchange
from fixtures.diff import Difference, diff_exchanges, render, route
from fixtures.sse import parse_frames
from fixtures.ws_frames import WsFrame

RESPONSE: dict[str, Any] = {
    "id": "resp_0a1b2c3d4e5f", "object": "response", "created_at": 1700000000, "status": "completed",
    "model": "m", "previous_response_id": None, "store": True, "temperature": 1.0,
    "output": [{"id": "msg_aa11bb22cc33", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Paris.", "annotations": []}]}],
    "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15,
              "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
}


def json_exchange(body: Any, *, status: int = 200, method: str = "POST",
                  url: str = "http://127.0.0.1:1/v1/responses") -> Exchange:
    exchange = Exchange(method, url, {"input": "hi"}, {})
    exchange.status, exchange.complete = status, True
    exchange.headers = {"content-type": "application/json"}
    exchange.body = json.dumps(body).encode()
    return exchange


def sse_exchange(events: list[dict[str, Any]]) -> Exchange:
    exchange = Exchange("POST", "http://127.0.0.1:1/v1/responses", {"stream": True}, {})
    exchange.status, exchange.complete = 200, True
    exchange.headers = {"content-type": "text/event-stream; charset=utf-8"}
    exchange.body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    exchange.frames = parse_frames(exchange.body)
    return exchange


def stream(text_parts: list[str], *, response_id: str = "resp_0a1b2c3d4e5f") -> list[dict[str, Any]]:
    created = {**RESPONSE, "id": response_id, "status": "in_progress", "output": []}
    done = {**RESPONSE, "id": response_id}
    events = [{"type": "response.created", "sequence_number": 0, "response": created}]
    events += [{"type": "response.output_text.delta", "sequence_number": i + 1, "item_id": "msg_aa11bb22cc33",
                "output_index": 0, "content_index": 0, "delta": part} for i, part in enumerate(text_parts)]
    events.append({"type": "response.completed", "sequence_number": len(text_parts) + 1, "response": done})
    return events


def kinds(found: list[Difference]) -> list[tuple[str, str]]:
    return [(d.kind, d.path) for d in found]


def test_identical_exchanges_have_no_difference() -> None:
    assert diff_exchanges([json_exchange(RESPONSE)], [json_exchange(copy.deepcopy(RESPONSE))]) == []


def test_a_dropped_field_is_named_by_its_path() -> None:
    gateway = copy.deepcopy(RESPONSE)
    del gateway["usage"]["output_tokens_details"]
    found = diff_exchanges([json_exchange(gateway)], [json_exchange(RESPONSE)], case="c")
    assert found == [Difference("c", "#1 POST /responses", "$.usage.output_tokens_details", "field_dropped",
                                None, "object")]


def test_a_retyped_field_shows_both_types() -> None:
    gateway = {**RESPONSE, "temperature": None}
    assert kinds(diff_exchanges([json_exchange(gateway)], [json_exchange(RESPONSE)])) == [
        ("field_retyped", "$.temperature")]
    assert diff_exchanges([json_exchange(gateway)], [json_exchange(RESPONSE)])[0].gateway == "null"


def test_an_added_field_is_reported_once_not_for_each_child() -> None:
    gateway = {**RESPONSE, "extra": {"a": 1, "b": [1, 2]}}
    assert kinds(diff_exchanges([json_exchange(gateway)], [json_exchange(RESPONSE)])) == [("field_added", "$.extra")]


def test_renamed_usage_fields_are_dropped_and_added() -> None:
    usage = RESPONSE["usage"]
    gateway = {**RESPONSE, "usage": {"prompt_tokens": usage["input_tokens"], "completion_tokens": 3,
                                     "total_tokens": 15}}
    found = kinds(diff_exchanges([json_exchange(gateway)], [json_exchange(RESPONSE)]))
    assert found == [("field_added", "$.usage.completion_tokens"), ("field_dropped", "$.usage.input_tokens"),
                     ("field_dropped", "$.usage.input_tokens_details"), ("field_dropped", "$.usage.output_tokens"),
                     ("field_dropped", "$.usage.output_tokens_details"), ("field_added", "$.usage.prompt_tokens")]


def test_a_changed_status_is_reported() -> None:
    found = diff_exchanges([json_exchange({"error": {"message": "x"}}, status=500)],
                           [json_exchange({"error": {"message": "y"}}, status=404)])
    assert kinds(found) == [("status", "status")]
    assert (found[0].gateway, found[0].upstream) == ("500", "404")
    refused = diff_exchanges([json_exchange(RESPONSE)], [json_exchange({"error": {"message": "no"}}, status=400)])
    assert kinds(refused) == [("status", "status")]  # a result and an error body are not compared field by field


def test_the_models_text_token_counts_and_timestamps_are_ignored() -> None:
    gateway = copy.deepcopy(RESPONSE)
    gateway["output"][0]["content"][0]["text"] = "Lyon, a different answer entirely."
    gateway["usage"].update(input_tokens=99, output_tokens=41, total_tokens=140)
    gateway["created_at"] = 1800000000
    assert diff_exchanges([json_exchange(gateway)], [json_exchange(RESPONSE)]) == []


def test_ids_with_different_random_parts_are_ignored_but_a_new_prefix_is_not() -> None:
    other = copy.deepcopy(RESPONSE)
    other["id"], other["output"][0]["id"] = "resp_ffffffffffffffffffffffff", "msg_9999"
    assert diff_exchanges([json_exchange(other)], [json_exchange(RESPONSE)]) == []
    other["id"] = "chatcmpl_0a1b2c3d4e5f"
    found = diff_exchanges([json_exchange(other)], [json_exchange(RESPONSE)])
    assert [(d.kind, d.path, d.gateway, d.upstream) for d in found] == [
        ("id_format", "$.id", "chatcmpl_…", "resp_…")]


def test_protocol_values_are_compared() -> None:
    gateway = {**RESPONSE, "status": "incomplete", "store": False}
    assert kinds(diff_exchanges([json_exchange(gateway)], [json_exchange(RESPONSE)])) == [
        ("value", "$.status"), ("value", "$.store")]


def test_array_indices_do_not_matter_items_are_named_by_type() -> None:
    call = {"id": "fc_123456789", "type": "function_call", "call_id": "call_1234567", "name": "f", "arguments": "{}"}
    upstream = {**RESPONSE, "output": [*RESPONSE["output"], call]}
    gateway = {**RESPONSE, "output": [call, *RESPONSE["output"]]}
    assert diff_exchanges([json_exchange(gateway)], [json_exchange(upstream)]) == []


def test_stream_text_deltas_and_their_count_are_ignored() -> None:
    gateway = sse_exchange(stream(["Par", "is", "."], response_id="resp_777777777777"))
    upstream = sse_exchange(stream(["Paris is the capital."]))
    assert diff_exchanges([gateway], [upstream]) == []


def test_a_changed_event_order_is_reported() -> None:
    events = stream(["Paris"])
    swapped = [events[1], events[0], events[2]]
    found = diff_exchanges([sse_exchange(swapped)], [sse_exchange(events)])
    assert [(d.kind, d.gateway, d.upstream) for d in found] == [
        ("event_order", "response.output_text.delta > response.created > response.completed",
         "response.created > response.output_text.delta > response.completed")]


def test_a_dropped_event_type_and_an_event_field_are_reported() -> None:
    events = stream(["Paris"])
    no_delta = [events[0], events[2]]
    assert kinds(diff_exchanges([sse_exchange(no_delta)], [sse_exchange(events)])) == [("event_dropped", "events")]
    unnumbered = [{k: v for k, v in e.items() if k != "sequence_number"} for e in events]
    found = kinds(diff_exchanges([sse_exchange(unnumbered)], [sse_exchange(events)]))
    assert found == [("field_dropped", f"event {t} $.sequence_number") for t in
                     ("response.completed", "response.created", "response.output_text.delta")]


def test_a_stream_answered_as_json_is_a_content_type_difference() -> None:
    found = diff_exchanges([json_exchange(RESPONSE)], [sse_exchange(stream(["x"]))])
    assert kinds(found) == [("content_type", "content_type")]
    assert (found[0].gateway, found[0].upstream) == ("application/json", "text/event-stream")


def test_routes_mask_ids_and_base_paths() -> None:
    exchange = json_exchange({}, method="GET",
                             url="http://h:1/api/v1/responses/resp_0a1b2c3d4e5f/input_items?order=asc&limit=2")
    assert route(exchange) == "GET /responses/{id}/input_items?limit&order"


def test_an_extra_exchange_and_a_diverging_route_end_the_pairing() -> None:
    get = json_exchange(RESPONSE, method="GET", url="http://h:1/v1/responses/resp_0a1b2c3d4e5f")
    found = diff_exchanges([json_exchange(RESPONSE), get], [json_exchange(RESPONSE)])
    assert kinds(found) == [("exchange_added", "exchange")]
    found = diff_exchanges([get, json_exchange(RESPONSE)], [json_exchange(RESPONSE), json_exchange(RESPONSE)])
    assert kinds(found) == [("request", "route")]


def test_websocket_answers_compare_like_streams() -> None:
    def ws(events: list[dict[str, Any]]) -> Exchange:
        exchange = Exchange("WS", "ws://h:1/v1/responses", {"type": "response.create"}, {}, websocket=True)
        exchange.status, exchange.complete = 101, True
        exchange.frames = [WsFrame(json.dumps(e).encode()) for e in events]  # type: ignore[misc]
        return exchange
    events = stream(["a", "b"])
    assert diff_exchanges([ws(events)], [ws(events)]) == []
    assert kinds(diff_exchanges([ws(events[1:])], [ws(events)])) == [("event_dropped", "events")]


def test_the_rendering_groups_by_case_and_round_trips() -> None:
    found = diff_exchanges([json_exchange({**RESPONSE, "temperature": None})], [json_exchange(RESPONSE)], case="k")
    assert render(found) == ("k:\n  #1 POST /responses $.temperature: field_retyped "
                             "(gateway null, upstream number)")
    assert [Difference.from_dict(d.as_dict()) for d in found] == found


def test_polling_counts_as_its_last_answer() -> None:
    url = "http://h:1/v1/responses/resp_0a1b2c3d4e5f"
    queued = json_exchange({**RESPONSE, "status": "queued", "usage": None}, method="GET", url=url)
    done = json_exchange(RESPONSE, method="GET", url=url)
    created = json_exchange({**RESPONSE, "status": "queued", "usage": None})
    assert diff_exchanges([created, done], [created, queued, queued, done]) == []
    assert kinds(diff_exchanges([created, queued], [created, queued, done])) == [
        ("field_retyped", "$.usage"), ("value", "$.status")]


def test_a_test_stopped_by_its_failure_is_one_stopped_difference() -> None:
    get = json_exchange(RESPONSE, method="GET", url="http://h:1/v1/responses/resp_0a1b2c3d4e5f")
    three = [json_exchange(RESPONSE), get, get]
    found = diff_exchanges([json_exchange(RESPONSE)], three, gateway_failure="schema.response")
    assert [(d.exchange, d.kind, d.gateway, d.upstream) for d in found] == [
        ("#2 GET /responses/{id}", "stopped", "stopped: schema.response", "1 more exchange(s)")]
    found = diff_exchanges(three, [json_exchange(RESPONSE)], upstream_failure="http.status")
    assert [(d.kind, d.gateway, d.upstream) for d in found] == [
        ("stopped", "1 more exchange(s)", "stopped: http.status")]
