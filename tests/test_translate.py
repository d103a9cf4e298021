"""Unit tests for reference_impl.translate and its family: both directions, tools, formats, usage, errors."""
from __future__ import annotations

import json

import pytest

from reference_impl.translate import chat_request, responses_request_for_upstream, tool_kinds
from reference_impl.translate_items import TranslationError, items_to_messages, request_to_input_items
from reference_impl.translate_skeleton import response_object
from reference_impl.translate_out import add_usage, usage_from_chat

WEATHER_PARAMS = {"type": "object", "properties": {"city": {"type": "string"}},
                  "required": ["city"]}
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather by city",
                "parameters": WEATHER_PARAMS, "strict": True}
SHELL_TOOL = {"type": "custom", "name": "shell", "description": "Run a command"}
MCP_TOOL = {"type": "mcp", "server_label": "demo", "server_url": "http://127.0.0.1:1/mcp",
            "headers": {"X-Key": "secret"}, "authorization": "token", "require_approval": "never"}


def fcall(call_id: str, name: str = "get_weather", arguments: str = '{"city":"Paris"}') -> dict:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def tc(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# ---------------------------------------------------------------- items -> chat messages

MESSAGE_CASES = [
    pytest.param([{"role": "user", "content": "hi"}],
                 [{"role": "user", "content": "hi"}], id="easy-message-string"),
    pytest.param([{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "hi"}]}],
                 [{"role": "user", "content": "hi"}], id="single-text-part-collapses"),
    pytest.param([{"type": "message", "role": "user", "content": [
                     {"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]}],
                 [{"role": "user", "content": [{"type": "text", "text": "a"},
                                               {"type": "text", "text": "b"}]}],
                 id="two-user-text-parts-stay-parts"),
    pytest.param([{"role": "developer", "content": "be terse"}],
                 [{"role": "system", "content": "be terse"}], id="developer-becomes-system"),
    pytest.param([{"type": "message", "role": "assistant", "content": [
                     {"type": "output_text", "text": "Hel", "annotations": []},
                     {"type": "output_text", "text": "lo", "annotations": []}]}],
                 [{"role": "assistant", "content": "Hello"}], id="assistant-parts-join"),
    pytest.param([{"role": "user", "content": [
                     {"type": "input_text", "text": "what is this"},
                     {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"}]}],
                 [{"role": "user", "content": [
                     {"type": "text", "text": "what is this"},
                     {"type": "image_url", "image_url": {"url": "https://x/cat.png",
                                                         "detail": "low"}}]}],
                 id="image-becomes-image-url-part"),
    pytest.param([fcall("call_1"), fcall("call_2", arguments='{"city":"Rome"}'),
                  {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                  {"type": "function_call_output", "call_id": "call_2", "output": "rain"}],
                 [{"role": "assistant", "content": None, "tool_calls": [
                     tc("call_1", "get_weather", '{"city":"Paris"}'),
                     tc("call_2", "get_weather", '{"city":"Rome"}')]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                  {"role": "tool", "tool_call_id": "call_2", "content": "rain"}],
                 id="parallel-calls-merge-into-one-assistant-message"),
    pytest.param([{"type": "message", "role": "assistant", "content": "Let me check."},
                  fcall("call_1")],
                 [{"role": "assistant", "content": "Let me check.",
                   "tool_calls": [tc("call_1", "get_weather", '{"city":"Paris"}')]}],
                 id="text-then-call-share-assistant-turn"),
    pytest.param([{"type": "custom_tool_call", "call_id": "call_9", "name": "shell",
                   "input": "ls -l"},
                  {"type": "custom_tool_call_output", "call_id": "call_9", "output": "a.txt"}],
                 [{"role": "assistant", "content": None,
                   "tool_calls": [tc("call_9", "shell", '{"input": "ls -l"}')]},
                  {"role": "tool", "tool_call_id": "call_9", "content": "a.txt"}],
                 id="custom-call-and-output"),
    pytest.param([{"type": "function_call_output", "call_id": "c",
                   "output": [{"type": "input_text", "text": "x"},
                              {"type": "input_text", "text": "y"}]}],
                 [{"role": "tool", "tool_call_id": "c", "content": "xy"}],
                 id="tool-output-text-parts-join"),
    pytest.param([{"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "s", "tools": []},
                  {"type": "mcp_call", "id": "mcp_1", "server_label": "s", "name": "roll",
                   "arguments": '{"sides":6}', "output": "4", "error": None},
                  {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "s",
                   "name": "roll", "arguments": "{}"},
                  {"type": "mcp_approval_response", "approval_request_id": "mcpr_1",
                   "approve": True},
                  {"type": "reasoning", "id": "rs_1", "summary": []}],
                 [{"role": "assistant", "content": None,
                   "tool_calls": [tc("mcp_1", "roll", '{"sides":6}')]},
                  {"role": "tool", "tool_call_id": "mcp_1", "content": "4"}],
                 id="mcp-call-becomes-pair-others-skipped"),
    pytest.param([{"type": "mcp_call", "id": "mcp_2", "server_label": "s", "name": "roll",
                   "arguments": "{}", "output": None, "error": "boom"}],
                 [{"role": "assistant", "content": None, "tool_calls": [tc("mcp_2", "roll", "{}")]},
                  {"role": "tool", "tool_call_id": "mcp_2", "content": "Error: boom"}],
                 id="mcp-call-error-shown-to-model"),
]


@pytest.mark.parametrize(("items", "expected"), MESSAGE_CASES)
def test_items_to_messages(items: list[dict], expected: list[dict]) -> None:
    assert items_to_messages(items) == expected


ERROR_CASES = [
    pytest.param([{"type": "computer_call", "id": "x"}], "input[0].type", id="unknown-item"),
    pytest.param([{"role": "user", "content": "a"},
                  {"role": "user", "content": [{"type": "input_text", "text": "b"},
                                               {"type": "input_audio", "data": ""}]}],
                 "input[1].content[1].type", id="unknown-content-part"),
    pytest.param([{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}],
                 "input[0].content[0]", id="image-by-file-id"),
    pytest.param([{"role": "tool", "content": "x"}], "input[0].role", id="unknown-role"),
    pytest.param([{"role": "system", "content": [{"type": "input_image",
                                                  "image_url": "https://x/y.png"}]}],
                 "input[0].content[0].type", id="image-outside-user-message"),
    pytest.param([{"type": "item_reference", "id": "msg_1"}], "input[0]",
                 id="unresolved-item-reference"),
    pytest.param([{"type": "function_call", "name": "f", "arguments": "{}"}],
                 "input[0].call_id", id="call-without-call-id"),
    pytest.param([{"type": "function_call_output", "output": "x"}],
                 "input[0].call_id", id="output-without-call-id"),
]


@pytest.mark.parametrize(("items", "param"), ERROR_CASES)
def test_unsupported_shapes_raise_with_param(items: list[dict], param: str) -> None:
    with pytest.raises(TranslationError) as info:
        items_to_messages(items)
    assert info.value.param == param
    assert info.value.message


# ---------------------------------------------------------------- the chat request

def test_chat_request_orders_instructions_history_then_input() -> None:
    history = [{"type": "message", "role": "user", "content": [
                   {"type": "input_text", "text": "first"}]},
               {"type": "message", "role": "assistant", "content": [
                   {"type": "output_text", "text": "ok", "annotations": []}]}]
    body = chat_request({"input": "second", "instructions": "be brief"}, history, model="m")
    assert body["model"] == "m"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_chat_request_sampling_fields() -> None:
    body = chat_request({"input": "x", "temperature": 0.2, "top_p": 0.9,
                         "max_output_tokens": 16}, [], model="m")
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.9, 16)
    bare = chat_request({"input": "x"}, [], model="m")
    assert not {"temperature", "top_p", "max_tokens", "tools", "tool_choice",
                "response_format"} & bare.keys()


def test_chat_request_tools_and_mcp_skipped() -> None:
    body = chat_request({"input": "x", "tools": [WEATHER_TOOL, SHELL_TOOL, MCP_TOOL],
                         "parallel_tool_calls": False}, [], model="m")
    assert body["tools"][0] == {"type": "function", "function": {
        "name": "get_weather", "description": "Weather by city", "parameters": WEATHER_PARAMS,
        "strict": True}}
    shell = body["tools"][1]["function"]
    assert shell["name"] == "shell"
    assert shell["parameters"]["properties"] == {"input": {"type": "string",
                                                           "description": "The raw input for the tool."}}
    assert shell["parameters"]["required"] == ["input"]
    assert len(body["tools"]) == 2
    assert body["parallel_tool_calls"] is False


TOOL_CHOICE_CASES = [
    pytest.param("auto", "auto", id="auto"),
    pytest.param("none", "none", id="none"),
    pytest.param("required", "required", id="required"),
    pytest.param({"type": "function", "name": "get_weather"},
                 {"type": "function", "function": {"name": "get_weather"}}, id="named-function"),
    pytest.param({"type": "custom", "name": "shell"},
                 {"type": "function", "function": {"name": "shell"}}, id="named-custom"),
]


@pytest.mark.parametrize(("choice", "expected"), TOOL_CHOICE_CASES)
def test_tool_choice(choice: object, expected: object) -> None:
    body = chat_request({"input": "x", "tools": [WEATHER_TOOL, SHELL_TOOL],
                         "tool_choice": choice}, [], model="m")
    assert body["tool_choice"] == expected


def test_allowed_tools_filters_and_sets_mode() -> None:
    choice = {"type": "allowed_tools", "mode": "required",
              "tools": [{"type": "function", "name": "get_weather"}]}
    body = chat_request({"input": "x", "tools": [WEATHER_TOOL, SHELL_TOOL],
                         "tool_choice": choice}, [], model="m")
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    assert body["tool_choice"] == "required"


def test_tool_choice_dropped_without_tools() -> None:
    body = chat_request({"input": "x", "tool_choice": "required"}, [], model="m")
    assert "tool_choice" not in body


def test_unsupported_tool_type_raises() -> None:
    with pytest.raises(TranslationError) as info:
        chat_request({"input": "x", "tools": [WEATHER_TOOL, {"type": "web_search"}]}, [],
                     model="m")
    assert info.value.param == "tools[1].type"


FORMAT_CASES = [
    pytest.param({"format": {"type": "json_schema", "name": "city", "strict": True,
                             "schema": {"type": "object"}}},
                 {"type": "json_schema", "json_schema": {"name": "city", "strict": True,
                                                         "schema": {"type": "object"}}},
                 id="json-schema"),
    pytest.param({"format": {"type": "json_object"}}, {"type": "json_object"}, id="json-object"),
    pytest.param({"format": {"type": "text"}}, None, id="text-omitted"),
]


@pytest.mark.parametrize(("text", "expected"), FORMAT_CASES)
def test_text_format(text: dict, expected: dict | None) -> None:
    body = chat_request({"input": "x", "text": text}, [], model="m")
    assert body.get("response_format") == expected


@pytest.mark.parametrize(("request_", "param"), [
    pytest.param({"tools": [{"type": "function", "parameters": {}}]}, "tools[0].name",
                 id="function-tool-without-name"),
    pytest.param({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function"}},
                 "tool_choice.name", id="named-choice-without-name"),
    pytest.param({"tools": [WEATHER_TOOL], "tool_choice": {"type": "file_search"}},
                 "tool_choice.type", id="unsupported-choice-type"),
    pytest.param({"text": {"format": {"type": "grammar"}}}, "text.format.type",
                 id="unsupported-format"),
])
def test_request_level_errors(request_: dict, param: str) -> None:
    with pytest.raises(TranslationError) as info:
        chat_request({"input": "x", **request_}, [], model="m")
    assert info.value.param == param


def test_input_error_param_points_into_input() -> None:
    with pytest.raises(TranslationError) as info:
        chat_request({"input": [{"role": "user", "content": "a"}, {"type": "bogus"}]}, [],
                     model="m")
    assert info.value.param == "input[1].type"


# ---------------------------------------------------------------- skeleton, items, usage

def test_response_object_defaults_and_echo() -> None:
    request = {"input": "x", "instructions": "be brief", "metadata": {"k": "v"},
               "tools": [WEATHER_TOOL, MCP_TOOL], "temperature": 0.5, "store": False}
    response = response_object(request, response_id="resp_1", created_at=7, model="m",
                               status="in_progress")
    assert response["id"] == "resp_1" and response["object"] == "response"
    assert (response["output"], response["usage"], response["error"],
            response["incomplete_details"]) == ([], None, None, None)
    assert response["instructions"] == "be brief" and response["metadata"] == {"k": "v"}
    assert response["temperature"] == 0.5 and response["top_p"] == 1.0
    assert response["tool_choice"] == "auto" and response["parallel_tool_calls"] is True
    assert response["store"] is False and response["background"] is False
    assert response["text"] == {"format": {"type": "text"}, "verbosity": "medium"}
    mcp = response["tools"][1]
    assert "headers" not in mcp and "authorization" not in mcp
    assert "secret" not in json.dumps(response)


def test_request_to_input_items() -> None:
    items = request_to_input_items({"input": "hello"})
    assert len(items) == 1
    assert items[0]["id"].startswith("msg_")
    assert {k: v for k, v in items[0].items() if k != "id"} == {
        "type": "message", "role": "user", "status": "completed",
        "content": [{"type": "input_text", "text": "hello"}]}
    listed = request_to_input_items({"input": [{"role": "user", "content": "a"}, fcall("c1"),
                                               {"type": "message", "id": "msg_keep",
                                                "role": "user", "content": "b"}]})
    assert [i["type"] for i in listed] == ["message", "function_call", "message"]
    assert listed[1]["id"].startswith("fc_") and listed[2]["id"] == "msg_keep"
    assert len({i["id"] for i in listed}) == 3


def test_usage_from_chat_and_sum() -> None:
    usage = usage_from_chat({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
                             "prompt_tokens_details": {"cached_tokens": 3},
                             "completion_tokens_details": {"reasoning_tokens": 1}})
    assert usage == {"input_tokens": 10,
                     "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
                     "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 1},
                     "total_tokens": 14}
    assert usage_from_chat(None)["total_tokens"] == 0
    total = add_usage(usage, usage_from_chat({"prompt_tokens": 20, "completion_tokens": 2}))
    assert (total["input_tokens"], total["output_tokens"], total["total_tokens"]) == (30, 6, 36)
    assert total["input_tokens_details"]["cached_tokens"] == 3
    assert add_usage(None, usage) == usage


def test_round_trip_output_items_back_to_messages() -> None:
    items = [{"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1",
              "name": "get_weather", "arguments": '{"city":"Oslo"}'}]
    assert items_to_messages(items) == [{"role": "assistant", "content": None, "tool_calls": [
        tc("call_1", "get_weather", '{"city":"Oslo"}')]}]


def test_responses_request_for_upstream_inlines_history() -> None:
    history = [{"id": "msg_old", "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "first"}], "status": "completed"}]
    request = {"model": "client-model", "input": "second", "previous_response_id": "resp_1",
               "store": True, "background": True, "instructions": "be brief"}
    body = responses_request_for_upstream(request, history_items=history, model="upstream-m")
    assert body["store"] is False and body["stream"] is True
    assert "previous_response_id" not in body and "background" not in body
    assert body["model"] == "upstream-m" and body["instructions"] == "be brief"
    texts = [i["content"][0]["text"] for i in body["input"]]
    assert texts == ["first", "second"]
    assert all("id" not in i for i in body["input"])
    assert request["input"] == "second"  # the caller's request is not mutated
