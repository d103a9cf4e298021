"""Create parameters in the Response the router builds: echoed as sent where the Response has the
field, schema-valid always (docs/parameters.md)."""
from __future__ import annotations

import pytest

from fixtures.schemas import validate_response
from reference_impl.translate_skeleton import response_object

USAGE = {"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
         "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 2}
ECHOED = {
    "prompt_cache_key": "conformance-suite", "prompt_cache_retention": "24h",
    "prompt_cache_options": {"ttl": "30m", "mode": "implicit"}, "safety_identifier": "user-7f3a",
    "user": "conformance-user", "service_tier": "flex", "text": {"verbosity": "low"},
    "reasoning": {"effort": "low", "summary": "auto"}, "truncation": "auto", "max_tool_calls": 2,
    "top_logprobs": 3, "access_programs": {"cyber": "standard"},
    "image": {"context_compression": "enabled"}, "top_p": 0.9, "temperature": 0.2,
    "parallel_tool_calls": False, "tool_choice": "none", "max_output_tokens": 32,
    "metadata": {"k": "v"}, "instructions": "Be brief.", "store": False,
}


def _response(request: dict) -> dict:
    response = response_object({"model": "m", "input": "x", **request}, response_id="resp_1",
                               created_at=1, model="m", status="completed")
    response["usage"] = USAGE
    return response


def _errors(response: dict) -> list:
    return [i for profile in ("openai", "openresponses") for i in validate_response(response, profile)
            if i.severity == "error"]


@pytest.mark.parametrize("field", sorted(ECHOED))
def test_each_echoable_parameter_is_echoed_as_sent(field):
    response = _response({field: ECHOED[field]})
    sent, got = ECHOED[field], response[field]
    if isinstance(sent, dict):
        assert {k: got.get(k) for k in sent} == sent
    else:
        assert got == sent
    assert not _errors(response)


def test_text_verbosity_keeps_the_default_format_beside_it():
    assert _response({"text": {"verbosity": "high"}})["text"] == {"format": {"type": "text"},
                                                                  "verbosity": "high"}


def test_all_parameters_at_once_give_a_schema_valid_response():
    assert not _errors(_response(ECHOED))


def test_unechoable_request_shapes_stay_schema_valid():
    """Response.image is the resolved setting and Response.moderation a moderation result."""
    response = _response({"image": {"context_compression": "auto"},
                          "moderation": {"model": "omni-moderation-latest"},
                          "stream_options": {"include_obfuscation": False},
                          "context_management": [{"type": "compaction", "compact_threshold": 1000}],
                          "background_options": {"completion_window": "soonest"}})
    assert response["image"] == {"context_compression": "disabled"}
    for absent in ("moderation", "stream_options", "context_management", "background_options"):
        assert absent not in response
    assert not _errors(response)


def test_absent_parameters_add_no_optional_fields():
    response = _response({})
    for absent in ("prompt_cache_retention", "prompt_cache_options", "access_programs", "image",
                   "moderation"):
        assert absent not in response


# ---------------------------------------------------------------- custom tool grammars

def test_a_regex_grammar_patterns_the_custom_input_through_the_forced_call_schema():
    from reference_impl.adapters import force_tool_call_request
    from reference_impl.translate import chat_request

    tool = {"type": "custom", "name": "dial",
            "format": {"type": "grammar", "syntax": "regex", "definition": "[0-9]{3}-[0-9]{4}"}}
    body = chat_request({"input": "Dial.", "tools": [tool], "tool_choice": {"type": "custom", "name": "dial"}},
                        [], model="m")
    assert body["tools"][0]["function"]["parameters"]["properties"]["input"]["pattern"] == "^([0-9]{3}-[0-9]{4})$"
    forced = force_tool_call_request(body)
    schema = forced["response_format"]["json_schema"]["schema"]["anyOf"][0]
    assert schema["properties"]["arguments"]["properties"]["input"]["pattern"] == "^([0-9]{3}-[0-9]{4})$"


@pytest.mark.parametrize("fmt", [None, {"type": "text"},
                                 {"type": "grammar", "syntax": "lark", "definition": 'start: "hi"'}])
def test_other_custom_formats_keep_the_free_form_input(fmt):
    from reference_impl.translate import chat_request
    from reference_impl.translate_tools import CUSTOM_TOOL_PARAMETERS

    tool = {"type": "custom", "name": "greet", **({"format": fmt} if fmt else {})}
    body = chat_request({"input": "Greet.", "tools": [tool]}, [], model="m")
    assert body["tools"][0]["function"]["parameters"] == CUSTOM_TOOL_PARAMETERS
