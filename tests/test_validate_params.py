"""The parameter rule of validate.py (docs/parameters.md): SDK parameters and listed client
extensions are accepted, anything else is a 400 ``unknown_parameter`` naming it."""
from __future__ import annotations

import pytest
from openai.types.responses import response_create_params

from reference_impl.errors import ApiError
from reference_impl.validate import (
    CLIENT_EXTENSIONS, SDK_CREATE_PARAMS, UNSUPPORTED_FIELDS, validate_create,
)

BASE = {"model": "m", "input": "hi"}


def test_the_static_list_is_the_pinned_sdks_create_parameters():
    sdk = set(response_create_params.ResponseCreateParamsStreaming.__annotations__)
    assert set(SDK_CREATE_PARAMS) == sdk, (
        f"validate.SDK_CREATE_PARAMS drifted from the SDK: missing {sorted(sdk - SDK_CREATE_PARAMS)}, "
        f"extra {sorted(SDK_CREATE_PARAMS - sdk)}")


def test_client_extensions_are_not_sdk_parameters_and_name_their_client():
    for name, client in CLIENT_EXTENSIONS.items():
        assert name not in SDK_CREATE_PARAMS
        assert client.strip()


SDK_VALUES = {
    "access_programs": {"cyber": "standard"}, "background": False,
    "background_options": {"completion_window": "soonest"},
    "context_management": [{"type": "compaction", "compact_threshold": 200000}],
    "image": {"context_compression": "auto"}, "include": ["message.input_image.image_url"],
    "instructions": "Be brief.", "max_output_tokens": 16, "max_tool_calls": 2, "metadata": {"a": "b"},
    "moderation": {"model": "omni-moderation-latest"}, "parallel_tool_calls": False,
    "prompt_cache_key": "k", "prompt_cache_options": {"ttl": "30m"}, "prompt_cache_retention": "24h",
    "reasoning": {"effort": "low"}, "safety_identifier": "s", "service_tier": "default", "store": True,
    "stream": False, "stream_options": {"include_obfuscation": False}, "temperature": 0.5,
    "text": {"verbosity": "low"}, "tool_choice": "auto", "tools": [], "top_logprobs": 2, "top_p": 0.9,
    "truncation": "auto", "user": "u", "previous_response_id": "resp_x", "conversation": "conv_x",
}


@pytest.mark.parametrize("name", sorted(SDK_CREATE_PARAMS - UNSUPPORTED_FIELDS - {"model", "input"}))
def test_every_sdk_parameter_is_accepted(name):
    assert name in SDK_VALUES, f"give {name!r} a value in SDK_VALUES"
    assert validate_create({**BASE, name: SDK_VALUES[name]})[name] == SDK_VALUES[name]


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_FIELDS))
def test_unservable_sdk_parameters_are_named_as_unsupported(name):
    with pytest.raises(ApiError) as caught:
        validate_create({**BASE, name: {"id": "x"}})
    assert (caught.value.param, caught.value.code) == (name, "unsupported_parameter")


def test_client_metadata_is_accepted_and_dropped():
    body = {**BASE, "client_metadata": {"session_id": "0198f0c2"}}
    checked = validate_create(body)
    assert "client_metadata" not in checked
    assert "client_metadata" in body  # the caller's dict is left alone


@pytest.mark.parametrize("key, hint", [
    ("max_output_token", "max_output_tokens"),
    ("temprature", "temperature"),
    ("paralel_tool_calls", "parallel_tool_calls"),
    ("frobnicate", None),
])
def test_unknown_parameters_are_400_naming_them_with_a_hint(key, hint):
    with pytest.raises(ApiError) as caught:
        validate_create({**BASE, key: 1})
    error = caught.value
    assert (error.status, error.param, error.code) == (400, key, "unknown_parameter")
    if hint:
        assert f"did you mean '{hint}'?" in error.message.lower()
    else:
        assert "did you mean" not in error.message.lower()


@pytest.mark.parametrize("patch, param", [
    ({"include": "reasoning.encrypted_content"}, "include"),
    ({"include": [3]}, "include[0]"),
    ({"context_management": {"type": "compaction"}}, "context_management"),
    ({"image": "auto"}, "image"),
])
def test_accepted_parameters_still_have_types(patch, param):
    with pytest.raises(ApiError) as caught:
        validate_create({**BASE, **patch})
    assert caught.value.param == param


def test_an_input_item_type_that_is_not_a_string_names_it():
    # Found by the fuzz on conversation create: it used to pass validation and crash translation.
    with pytest.raises(ApiError) as caught:
        validate_create({"model": "m", "input": [{"role": "user", "content": "x", "type": [1]}]})
    assert (caught.value.status, caught.value.param) == (400, "input[0].type")
