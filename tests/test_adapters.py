"""Unit tests for reference_impl.adapters: forced tool calls and image degradation."""
from __future__ import annotations

import base64
import json

import jsonschema
import pytest

from reference_impl.adapters import (
    FORCED_CALL_OVERHEAD_TOKENS,
    MAX_FORCED_CALLS,
    degrade_images,
    force_tool_call_request,
    forced_reply_to_chunks,
    parse_forced_reply,
)
from reference_impl.stream import ResponseStream
from reference_impl.translate_skeleton import response_object

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                                       "required": ["tz"]}}}


def chat_req(**fields: object) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": "weather in Paris?"}],
            "tools": [WEATHER, TIME], "stream": True, **fields}


def forced_schema(req: dict) -> dict:
    forced = force_tool_call_request(req)
    assert forced is not None
    return forced["response_format"]["json_schema"]["schema"]


@pytest.mark.parametrize("choice", [None, "auto", "none",
                                    {"type": "function", "function": {"name": "not_offered"}}],
                         ids=["absent", "auto", "none", "named-unknown"])
def test_nothing_forced(choice: object) -> None:
    req = chat_req() if choice is None else chat_req(tool_choice=choice)
    assert force_tool_call_request(req) is None


def test_named_choice_admits_only_that_tool() -> None:
    req = chat_req(tool_choice={"type": "function", "function": {"name": "get_time"}})
    forced = force_tool_call_request(req)
    assert forced is not None
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & forced.keys()
    assert forced["response_format"]["type"] == "json_schema"
    schema = forced["response_format"]["json_schema"]["schema"]
    jsonschema.validate({"name": "get_time", "arguments": {"tz": "UTC"}}, schema)
    for bad in ({"name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "get_time", "arguments": {}}, {"name": "get_time"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    hint = forced["messages"][0]
    assert hint["role"] == "system" and "get_time" in hint["content"]
    assert "get_weather" not in hint["content"]
    assert forced["messages"][1:] == req["messages"]
    assert req["tool_choice"]["function"]["name"] == "get_time"  # input not mutated


def test_required_without_parallel_is_one_call_of_any_tool() -> None:
    schema = forced_schema(chat_req(tool_choice="required", parallel_tool_calls=False))
    jsonschema.validate({"name": "get_weather", "arguments": {"city": "Rome"}}, schema)
    jsonschema.validate({"name": "get_time", "arguments": {"tz": "CET"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "get_weather", "arguments": {"tz": "CET"}}, schema)


def test_required_with_parallel_is_a_calls_array() -> None:
    schema = forced_schema(chat_req(tool_choice="required", parallel_tool_calls=True))
    jsonschema.validate({"calls": [{"name": "get_weather", "arguments": {"city": "Rome"}},
                                   {"name": "get_time", "arguments": {"tz": "CET"}}]}, schema)
    call = {"name": "get_time", "arguments": {"tz": "CET"}}
    for bad in ({"calls": []}, call, {"calls": [call] * (MAX_FORCED_CALLS + 1)}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_hint_joins_existing_leading_system_message() -> None:
    req = chat_req(tool_choice="required")
    req["messages"].insert(0, {"role": "system", "content": "be brief"})
    forced = force_tool_call_request(req)
    assert forced is not None
    assert [m["role"] for m in forced["messages"]] == ["system", "user"]
    assert forced["messages"][0]["content"].endswith("be brief")
    assert "get_weather" in forced["messages"][0]["content"]


def run_chunks(chunks: list[dict]) -> dict:
    skeleton = response_object({}, response_id="resp_t", created_at=1, model="m",
                               status="in_progress")
    stream = ResponseStream(skeleton)
    stream.start()
    for chunk in chunks:
        stream.feed(chunk)
    stream.end_turn()
    stream.finish()
    return stream.response


def test_forced_reply_single_call_streams_as_native_call() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 5}
    chunks = forced_reply_to_chunks('{"name":"get_weather","arguments":{"city":"Tokyo"}}', usage)
    assert chunks[-1]["usage"] == usage
    response = run_chunks(chunks)
    [item] = response["output"]
    assert item["type"] == "function_call" and item["name"] == "get_weather"
    assert json.loads(item["arguments"]) == {"city": "Tokyo"}
    assert item["call_id"].startswith("call_")
    assert response["usage"]["total_tokens"] == 14


def test_forced_reply_parallel_calls() -> None:
    reply = json.dumps({"calls": [{"name": "get_weather", "arguments": {"city": "Paris"}},
                                  {"name": "get_time", "arguments": {"tz": "CET"}}]})
    response = run_chunks(forced_reply_to_chunks(reply, None))
    assert [(i["name"], json.loads(i["arguments"])) for i in response["output"]] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    assert len({i["call_id"] for i in response["output"]}) == 2


@pytest.mark.parametrize(("content", "finish", "status"), [
    pytest.param('{"name":"get_weather","argu', "length", "incomplete", id="cut-by-length"),
    pytest.param("I cannot", None, "completed", id="not-json"),
])
def test_forced_reply_that_is_not_a_call_passes_as_text(content: str, finish: str | None,
                                                        status: str) -> None:
    response = run_chunks(forced_reply_to_chunks(content, None, finish_reason=finish))
    assert response["status"] == status
    [item] = response["output"]
    assert item["type"] == "message" and item["content"][0]["text"] == content


def test_degrade_images() -> None:
    png = b"\x89PNG" + bytes(60)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    req = {"model": "m", "messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [
            {"type": "text", "text": "compare"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": data_url}}]},
        {"role": "user", "content": [{"type": "text", "text": "a"},
                                     {"type": "text", "text": "b"}]}]}
    out = degrade_images(req)
    assert out["messages"][0] == req["messages"][0]
    assert out["messages"][1]["content"] == (
        "compare\n[image: https://x/cat.png]\n[image: data URL (image/png, 64 bytes)]")
    # a message without images is left exactly as it was
    assert out["messages"][2] == req["messages"][2]
    assert req["messages"][1]["content"][1]["type"] == "image_url"  # input not mutated


def test_required_without_an_explicit_parallel_request_forces_one_call() -> None:
    schema = forced_schema(chat_req(tool_choice="required"))
    jsonschema.validate({"name": "get_weather", "arguments": {"city": "Rome"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}, schema)


def test_a_forced_call_gets_the_wrapper_overhead_on_top_of_max_tokens() -> None:
    forced = force_tool_call_request(chat_req(tool_choice="required", max_tokens=64))
    assert forced is not None and forced["max_tokens"] == 64 + FORCED_CALL_OVERHEAD_TOKENS


def test_identical_repeated_calls_collapse_into_one() -> None:
    call = {"name": "get_weather", "arguments": {"city": "Rome"}}
    other = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert parse_forced_reply(json.dumps({"calls": [call, call, other]})) == [
        ("get_weather", '{"city": "Rome"}'), ("get_weather", '{"city": "Oslo"}')]
