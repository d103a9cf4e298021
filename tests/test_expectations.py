"""The expect and capability vocabularies: each key, given an answer that misses it, returns a
finding with that key's rule id (and nothing for an answer that meets it)."""
from __future__ import annotations

from typing import Any

import pytest

from fixtures.capture import Exchange
from fixtures.capabilities import CAPABILITY
from fixtures.expectations import EXPECT, evaluate
from fixtures.hosted import refusal_problems

TEXT = {"type": "message", "content": [{"type": "output_text", "text": "London"}]}
CALL = {"type": "function_call", "name": "get_weather", "arguments": "not json", "call_id": "c"}
REQUEST = {"tools": [{"type": "function", "name": "get_weather"},
                     {"type": "custom", "name": "digits", "format": {"type": "grammar", "syntax": "regex",
                                                                     "definition": "[0-9]+"}},
                     {"type": "mcp", "server_label": "s", "headers": {"Authorization": "Bearer tok-secret"}}],
           "metadata": {"a": "b"}}


def _exchange(body: bytes = b"{}", status: int = 200) -> Exchange:
    return Exchange("POST", "http://x/v1/responses", {}, {}, status=status, headers={}, body=body)


MISSES: list[tuple[str, str, Any, dict[str, Any], list[str]]] = [
    # table, key, case value, response, the rule ids it gives
    ("expect", "status", "completed", {"status": "failed"}, ["expect.status"]),
    ("expect", "output_types", ["message"], {"output": []}, ["expect.output_types"]),
    ("expect", "output_contains", ["message"], {"output": []}, ["expect.output_contains"]),
    ("expect", "echo", ["metadata"], {"metadata": None}, ["expect.echo"]),
    ("expect", "incomplete_reason", "max_output_tokens", {}, ["expect.incomplete_reason"]),
    ("expect", "function_calls", 2, {"output": [CALL]}, ["expect.function_calls"] * 2),
    ("expect", "function_name", "other", {"output": [CALL]}, ["expect.function_name"]),
    ("expect", "custom_tool_call", "grammar", {"output": []}, ["expect.custom_tool_call"]),
    ("expect", "json_output", True, {"output": [TEXT]}, ["expect.json_output"]),
    ("expect", "mcp_list_tools", "s", {"output": []}, ["expect.mcp_list_tools"]),
    ("expect", "mcp_list_tools_error", True, {"output": []}, ["expect.mcp_list_tools_error"]),
    ("expect", "mcp_call", "roll", {"output": []}, ["expect.mcp_call"]),
    ("expect", "mcp_approval_request", "roll", {"output": [{"type": "mcp_call", "name": "roll"}]},
     ["expect.mcp_approval_request"] * 2),
    ("expect", "error", {"param": "model", "type": "invalid_request_error", "code": "x"},
     {"error": {"param": None, "type": "server_error", "code": None}},
     ["expect.error.param", "expect.error.type", "expect.error.code"]),
    ("expect", "error", {"param": "model"}, {"status": "completed"}, ["expect.error"]),
    ("expect", "stream_error", True, {}, ["expect.stream_error"]),
    ("expect", "usage_adds_up", True, {"usage": None}, ["expect.usage_adds_up"]),
    ("expect", "min_text_deltas", 2, {}, ["expect.min_text_deltas"]),
    ("expect", "events", ["response.output_text.delta"], {}, ["expect.events"]),
    ("expect", "max_items", {"function_call": 0}, {"output": [CALL]}, ["expect.max_items"]),
    ("expect", "logprobs", 2, {"output": [TEXT]}, ["expect.logprobs"]),
    ("expect", "namespace", "crm", {"output": [CALL]}, ["expect.namespace"]),
    ("expect", "grammar_input", True, {"output": [{"type": "custom_tool_call", "name": "digits", "input": "x"}]},
     ["expect.grammar_input"]),
    ("expect", "reasoning", {"encrypted": True}, {"output": []}, ["expect.reasoning"]),
    ("capability", "text_matches", "Paris", {"output": [TEXT]}, ["capability.text_matches"]),
    ("capability", "arguments_match", {"city": "Paris"}, {"output": [CALL]}, ["capability.arguments_match"]),
    ("capability", "mcp_output_matches", "6", {"output": []}, ["capability.mcp_output_matches"]),
    ("capability", "tool_chosen", "roll", {"output": []}, ["capability.tool_chosen"]),
    ("capability", "function_calls_at_least", 2, {"output": []}, ["capability.function_calls_at_least"]),
    ("capability", "json_valid", True, {"output": [TEXT]}, ["capability.json_valid"]),
]
TABLES = {"expect": EXPECT, "capability": CAPABILITY}


@pytest.mark.parametrize(("table", "key", "value", "response", "rules"), MISSES,
                         ids=[f"{t}.{k}-{i}" for i, (t, k, *_rest) in enumerate(MISSES)])
def test_a_miss_is_a_finding_of_its_key(table: str, key: str, value: Any, response: dict, rules: list[str]) -> None:
    found = evaluate(TABLES[table], {key: value}, response, REQUEST, _exchange())
    assert [f.rule for f in found] == rules
    assert all(f.severity == "error" and str(f).startswith(f.rule) for f in found)


def test_every_key_of_both_vocabularies_has_a_miss_above() -> None:
    covered = {(t, k) for t, k, *_rest in MISSES} | {("expect", "no_secrets")}  # needs a body: below
    assert covered == {(t, k) for t, table in TABLES.items() for k in table}


def test_an_echoed_credential_and_a_bad_usage_sum_are_named() -> None:
    echoed = evaluate(EXPECT, {"no_secrets": True}, {}, REQUEST, _exchange(b'{"h": "tok-secret"}'))
    assert [f.rule for f in echoed] == ["expect.no_secrets"] and "tok-" in echoed[0].message
    usage = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 4,
             "input_tokens_details": {}, "output_tokens_details": {}}
    found = evaluate(EXPECT, {"usage_adds_up": True}, {"usage": usage}, REQUEST, _exchange())
    assert [(f.rule, f.expected, f.got) for f in found] == [("expect.usage_adds_up", 3, 4)]


def test_no_response_is_one_finding_per_vocabulary() -> None:
    assert [f.rule for f in evaluate(EXPECT, {"status": "completed"}, None, {}, _exchange())] == ["expect.response"]
    assert [f.rule for f in evaluate(CAPABILITY, {"json_valid": True}, None, {}, _exchange())] == [
        "capability.response"]
    assert evaluate(EXPECT, {}, None, {}, _exchange()) == []


def test_a_met_expectation_gives_nothing() -> None:
    response = {"status": "completed", "output": [TEXT]}
    assert evaluate(EXPECT, {"status": "completed", "output_types": ["message"]}, response, {}, _exchange()) == []
    assert evaluate(CAPABILITY, {"text_matches": "lond"}, response, {}, _exchange()) == []


def test_a_hosted_tool_refusal_must_name_the_tool() -> None:
    request = {"tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]}
    named = {"error": {"param": "tools[1]", "message": "web_search is not supported here"}}
    assert refusal_problems(request, named) == []
    for error, field in [({"error": {"param": "tools", "message": "web_search"}}, "error.param"),
                         ({"error": {"param": "tools[1]", "message": "unsupported tool"}}, "error.message"),
                         ({"detail": "no"}, None)]:
        found = refusal_problems(request, error)
        assert [(f.rule, f.field) for f in found] == [("hosted_tool.refusal", field)]
