"""Tools as clients send them, through the router over the scripted upstream: hosted tools
refused or dropped, namespace tools, outputs by name, item references, client-made history,
allowed_tools, and the max_tool_calls / parallel_tool_calls limits (docs/parameters.md)."""
from __future__ import annotations

import json

import pytest

from reference_impl.__main__ import parse_args
from upstream import DEFAULT_MODEL, Reply, Router, stream_events

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME = {**WEATHER, "name": "get_time", "description": "Local time in a city."}
NAMESPACE = {"type": "namespace", "name": "weather", "description": "Weather tools.", "tools": [WEATHER]}
HOSTED = ["web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11",
          "file_search", "code_interpreter", "image_generation", "computer", "computer_use_preview",
          "local_shell", "shell", "apply_patch", "tool_search", "programmatic_tool_calling"]


def _error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()["error"]


# ---------------------------------------------------------------- hosted tools

@pytest.mark.parametrize("kind", HOSTED)
def test_a_hosted_tool_is_refused_by_name(router, upstream, kind):
    error = _error(router.create(input="hi", tools=[WEATHER, {"type": kind}]), 400)
    assert error["param"] == "tools[1]" and error["code"] == "unsupported_tool"
    assert error["type"] == "invalid_request_error" and f"'{kind}'" in error["message"]
    assert upstream.requests == []


def test_the_drop_option_serves_the_request_without_hosted_tools(upstream, tmp_path):
    upstream.script(Reply(text="yes"))
    with Router(tmp_path / "db.sqlite", [upstream.url], hosted_tools="drop") as router:
        resp = router.create(input="hi", tools=[{"type": "web_search"}, WEATHER],
                             tool_choice={"type": "web_search"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tools"] == [WEATHER] and body["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in upstream.requests[-1]["tools"]] == ["get_weather"]


def test_the_cli_takes_the_hosted_tools_option():
    assert parse_args(["--backend", "http://x"]).hosted_tools == "reject"
    assert parse_args(["--backend", "http://x", "--hosted-tools", "drop"]).hosted_tools == "drop"
    with pytest.raises(SystemExit):
        parse_args(["--backend", "http://x", "--hosted-tools", "run"])


# ---------------------------------------------------------------- namespace tools

def test_a_namespace_tool_is_flattened_and_its_calls_carry_the_namespace(router, upstream):
    upstream.script(Reply(tool_calls=[("weather__get_weather", '{"city": "Paris"}')]))
    resp = router.create(input="weather?", tools=[NAMESPACE], tool_choice="required", stream=True)
    sent = upstream.requests[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["weather__get_weather"]
    events = stream_events(resp.content)
    call = events[-1]["response"]["output"][0]
    assert (call["type"], call["name"], call["namespace"]) == ("function_call", "get_weather", "weather")
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["namespace"] == "weather"
    assert events[-1]["response"]["tools"] == [NAMESPACE]


def test_a_named_choice_of_a_namespaced_tool_uses_its_chat_name(router, upstream):
    upstream.script(Reply(tool_calls=[("weather__get_weather", '{"city": "Paris"}')]))
    router.create(input="weather?", tools=[NAMESPACE], tool_choice={"type": "function", "name": "get_weather"})
    assert upstream.requests[-1]["tool_choice"] == {"type": "function", "function": {"name": "weather__get_weather"}}


def test_a_namespaced_call_and_an_output_by_name_go_back_as_a_tool_exchange(router, upstream):
    upstream.script(Reply(text="Sunny."))
    resp = router.create(store=False, tools=[NAMESPACE], input=[
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "call_a", "name": "get_weather", "namespace": "weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "name": "get_weather", "namespace": "weather", "output": "Sunny, 21 C"},
    ])
    assert resp.status_code == 200, resp.text
    messages = upstream.requests[-1]["messages"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "weather__get_weather"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_a", "content": "Sunny, 21 C"}


def test_an_output_by_name_answers_the_most_recent_unanswered_call(router, upstream):
    upstream.script(Reply(text="ok"))
    call = {"type": "function_call", "name": "get_weather", "arguments": "{}"}
    resp = router.create(store=False, tools=[WEATHER], input=[
        {"role": "user", "content": "weather?"},
        {**call, "call_id": "call_1"}, {"type": "function_call_output", "call_id": "call_1", "output": "a"},
        {**call, "call_id": "call_2"}, {**call, "call_id": "call_3"},
        {"type": "function_call_output", "name": "get_weather", "output": "b"},
        {"type": "function_call_output", "name": "get_weather", "output": "c"},
    ])
    assert resp.status_code == 200, resp.text
    tool_ids = [m["tool_call_id"] for m in upstream.requests[-1]["messages"] if m["role"] == "tool"]
    assert tool_ids == ["call_1", "call_3", "call_2"]


def test_an_output_by_name_with_no_call_to_answer_is_a_400(router, upstream):
    error = _error(router.create(store=False, tools=[WEATHER], input=[
        {"role": "user", "content": "weather?"},
        {"type": "function_call_output", "name": "get_weather", "output": "b"}]), 400)
    assert error["param"] == "input[1].call_id" and "get_weather" in error["message"]
    assert upstream.requests == []


def test_an_output_by_name_answers_a_call_of_the_previous_response(router, upstream):
    upstream.script(Reply(tool_calls=[("weather__get_weather", '{"city": "Paris"}')]), Reply(text="Sunny."))
    first = router.create(input="weather?", tools=[NAMESPACE]).json()
    call_id = first["output"][0]["call_id"]
    second = router.create(previous_response_id=first["id"], tools=[NAMESPACE], input=[
        {"type": "function_call_output", "name": "get_weather", "namespace": "weather", "output": "Sunny"}])
    assert second.status_code == 200, second.text
    assert upstream.requests[-1]["messages"][-1] == {"role": "tool", "tool_call_id": call_id, "content": "Sunny"}


# ---------------------------------------------------------------- client-made history, references

def test_client_made_history_items_are_accepted(router, upstream):
    upstream.script(Reply(text="It is sunny and there are 42 users."))
    resp = router.create(store=False, tools=[WEATHER, {"type": "custom", "name": "run_sql"}], input=[
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "message", "id": "msg_client_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Let me check.", "annotations": [], "logprobs": []}]},
        {"type": "function_call", "id": "fc_client_1", "call_id": "call_c1", "name": "get_weather",
         "arguments": '{"city": "Paris"}', "status": "completed"},
        {"type": "function_call_output", "id": "fco_client_1", "call_id": "call_c1", "output": "Sunny",
         "status": "completed"},
        {"type": "custom_tool_call", "id": "ctc_client_1", "call_id": "call_c2", "name": "run_sql",
         "input": "SELECT 1"},
        {"type": "custom_tool_call_output", "call_id": "call_c2", "output": "42"},
        {"role": "user", "content": "Summarise."},
    ])
    assert resp.status_code == 200, resp.text
    roles = [m["role"] for m in upstream.requests[-1]["messages"]]
    assert roles == ["user", "assistant", "assistant", "tool", "tool", "user"] or \
        roles == ["user", "assistant", "tool", "assistant", "tool", "user"]


def test_item_references_resolve_to_stored_input_and_output_items(router, upstream):
    upstream.script(Reply(text="OK, kiwi."), Reply(text="kiwi"))
    first = router.create(input="Remember the word kiwi.").json()
    input_id = router.client.get(f"/v1/responses/{first['id']}/input_items").json()["data"][0]["id"]
    resp = router.create(store=False, input=[
        {"type": "item_reference", "id": input_id}, {"id": first["output"][0]["id"]},
        {"role": "user", "content": "Which word?"}])
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "Remember the word kiwi."},
        {"role": "assistant", "content": "OK, kiwi."},
        {"role": "user", "content": "Which word?"}]


def test_an_unknown_item_reference_is_a_404_naming_it(router, upstream):
    error = _error(router.create(input=[{"role": "user", "content": "hi"},
                                        {"type": "item_reference", "id": "msg_nowhere"}]), 404)
    assert error["param"] == "input[1].id" and "msg_nowhere" in error["message"]


def test_items_of_an_unstored_response_cannot_be_referenced(router, upstream):
    upstream.script(Reply(text="OK"))
    first = router.create(input="hi", store=False).json()
    error = _error(router.create(input=[{"type": "item_reference", "id": first["output"][0]["id"]}]), 404)
    assert error["param"] == "input[0].id"


# ---------------------------------------------------------------- tool_choice and limits

def test_allowed_tools_offer_only_the_allowed_ones(router, upstream):
    upstream.script(Reply(tool_calls=[("get_time", '{"city": "Paris"}')]))
    choice = {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_time"}]}
    body = router.create(input="time?", tools=[WEATHER, TIME], tool_choice=choice).json()
    sent = upstream.requests[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_time"] and sent["tool_choice"] == "required"
    assert body["tool_choice"] == choice


def test_max_tool_calls_caps_the_calls_shown(router, upstream):
    calls = [("get_weather", json.dumps({"city": c})) for c in ("Paris", "Tokyo", "Lima")]
    upstream.script(Reply(tool_calls=calls))
    body = router.create(input="weather?", tools=[WEATHER], max_tool_calls=2, stream=True)
    events = stream_events(body.content)
    output = events[-1]["response"]["output"]
    assert [json.loads(o["arguments"])["city"] for o in output] == ["Paris", "Tokyo"]
    assert events[-1]["response"]["max_tool_calls"] == 2
    assert sum(e["type"] == "response.output_item.added" for e in events) == 2


def test_parallel_tool_calls_false_gives_one_call(router, upstream):
    upstream.script(Reply(tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_time", '{"city": "Paris"}')]))
    body = router.create(input="weather?", tools=[WEATHER, TIME], parallel_tool_calls=False).json()
    assert [o["name"] for o in body["output"]] == ["get_weather"]
    assert upstream.requests[-1]["parallel_tool_calls"] is False


def test_no_limit_keeps_every_call(router, upstream):
    upstream.script(Reply(tool_calls=[("get_weather", '{"city": "Paris"}'), ("get_time", '{"city": "Paris"}')]))
    body = router.create(input="weather?", tools=[WEATHER, TIME]).json()
    assert [o["name"] for o in body["output"]] == ["get_weather", "get_time"]


def test_requests_without_the_new_features_send_the_same_chat_body(router, upstream):
    """Recorded backend traffic is keyed by the chat body: plain tool requests must not change it."""
    upstream.script(Reply(text="ok"))
    router.create(input="hi", tools=[WEATHER, {"type": "custom", "name": "run_sql"}], tool_choice="auto",
                  client_metadata={"session_id": "s"}, prompt_cache_key="k")
    sent = upstream.requests[-1]
    assert sent == {
        "model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                                     "parameters": WEATHER["parameters"]}},
                  {"type": "function", "function": {"name": "run_sql", "parameters": {
                      "type": "object", "properties": {"input": {"type": "string",
                                                                 "description": "The raw input for the tool."}},
                      "required": ["input"], "additionalProperties": False}}}],
        "tool_choice": "auto", "stream": True, "stream_options": {"include_usage": True}}
