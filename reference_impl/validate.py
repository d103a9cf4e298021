"""Validation of the ``POST /v1/responses`` body: types and ranges, each error naming its param.

Only shape is checked here (what OpenAI rejects with 400 before doing any work). Whether a
``previous_response_id`` exists is the engine's business.

The parameter rule (docs/parameters.md):

1. Every create parameter of the pinned openai SDK (`SDK_CREATE_PARAMS`, the keys of
   ``ResponseCreateParamsStreaming``; a unit test compares the list with the SDK so drift fails)
   is recognised. Each is echoed in the Response, enforced, or accepted; the one the router
   cannot serve (`UNSUPPORTED_FIELDS`: ``prompt``, templates stored on OpenAI's platform) is a
   400 ``unsupported_parameter`` naming it.
2. Fields that real clients send beyond the SDK types are listed once in `CLIENT_EXTENSIONS`,
   each with the client that sends it. They are accepted and ignored: `validate_create` returns
   the body without them, so they are never echoed, stored or forwarded.
3. The router's own extension (``x_cache``, the opt-in response cache of cache.py).
4. Anything else is a mistake: a 400 ``unknown_parameter`` whose ``param`` names it, with a
   "did you mean" hint when a known name is close (difflib).
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from .errors import ApiError

CACHE_FIELD = "x_cache"
# The keys of openai.types.responses.response_create_params.ResponseCreateParamsStreaming in the
# pinned SDK (tests/test_validate_params.py fails when they drift apart).
SDK_CREATE_PARAMS = frozenset({
    "access_programs", "background", "background_options", "context_management", "conversation",
    "image", "include", "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata",
    "model", "moderation", "parallel_tool_calls", "previous_response_id", "prompt",
    "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning",
    "safety_identifier", "service_tier", "store", "stream", "stream_options", "temperature", "text",
    "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user",
})
# Fields real clients send beyond the SDK types: name -> the client that sends it. Accepted and
# ignored (removed from the body before anything else sees it).
CLIENT_EXTENSIONS: dict[str, str] = {
    "client_metadata": "Codex CLI (@openai/codex), on every request: session and turn ids",
}
# SDK parameters this router recognises but cannot serve.
UNSUPPORTED_FIELDS = frozenset({"prompt"})
KNOWN_FIELDS = SDK_CREATE_PARAMS | {CACHE_FIELD}
# Cut-off of difflib.get_close_matches for the "did you mean" hint.
HINT_CUTOFF = 0.75
METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MIN_OUTPUT_TOKENS = 16
TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
TOOL_TYPES_WITH_NAME = frozenset({"function", "custom"})
FORMAT_TYPES = frozenset({"text", "json_object", "json_schema"})
TRUNCATION_VALUES = frozenset({"auto", "disabled"})
# Object-valued parameters accepted as objects (echoed where the Response has them).
OBJECT_PARAMS = ("stream_options", "reasoning", "access_programs", "image", "moderation",
                 "prompt_cache_options", "background_options")


def _err(message: str, param: str | None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _type_err(param: str, expected: str, value: Any) -> ApiError:
    got = type(value).__name__ if value is not None else "null"
    return _err(f"Invalid type for '{param}': expected {expected}, but got {got}.", param, "invalid_type")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optional(body: dict, key: str, check: Any) -> None:
    if key in body and body[key] is not None:
        check(body[key])


def _unknown_message(key: Any) -> str:
    message = f"Unknown parameter: '{key}'."
    close = difflib.get_close_matches(str(key), sorted(KNOWN_FIELDS - UNSUPPORTED_FIELDS), n=1,
                                      cutoff=HINT_CUTOFF)
    return f"{message} Did you mean '{close[0]}'?" if close else message


def object_body(body: Any, allowed: frozenset[str]) -> dict:
    """``body`` if it is a JSON object of ``allowed`` fields only; else a 400 naming the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_type")
    for key in body:
        if key not in allowed:
            raise ApiError(400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    return body


def validate_create(body: Any) -> dict[str, Any]:
    """Check a create body; return it without the client extensions (`CLIENT_EXTENSIONS`).

    Raise `ApiError` (400, with ``param``) if bad.
    """
    if not isinstance(body, dict):
        raise _err("The request body must be a JSON object.", None, "invalid_type")
    for key in body:
        if key in UNSUPPORTED_FIELDS:
            raise _err(f"Parameter '{key}' is not supported by this server.", key, "unsupported_parameter")
        if key not in KNOWN_FIELDS and key not in CLIENT_EXTENSIONS:
            raise _err(_unknown_message(key), key, "unknown_parameter")
    body = {k: v for k, v in body.items() if k not in CLIENT_EXTENSIONS}
    if "model" not in body or body["model"] is None:
        raise _err("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _type_err("model", "a non-empty string", body["model"])
    _check_input(body)
    _optional(body, "instructions", lambda v: _expect(v, str, "instructions", "a string"))
    _optional(body, "metadata", _check_metadata)
    _optional(body, "temperature", lambda v: _check_range(v, "temperature", TEMPERATURE_RANGE))
    _optional(body, "top_p", lambda v: _check_range(v, "top_p", TOP_P_RANGE))
    _optional(body, "max_output_tokens", _check_max_tokens)
    for flag in ("stream", "background", "store", "parallel_tool_calls", CACHE_FIELD):
        _optional(body, flag, lambda v, f=flag: _expect(v, bool, f, "a boolean"))
    _optional(body, "previous_response_id", lambda v: _expect(v, str, "previous_response_id", "a string"))
    _optional(body, "truncation", _check_truncation)
    _optional(body, "tools", _check_tools)
    _optional(body, "tool_choice", lambda v: _check_tool_choice(v, body.get("tools") or []))
    _optional(body, "text", _check_text)
    for name in OBJECT_PARAMS:
        _optional(body, name, lambda v, n=name: _expect(v, dict, n, "an object"))
    _optional(body, "context_management", lambda v: _expect(v, list, "context_management", "an array"))
    _optional(body, "include", _check_include)
    if body.get("background") is True and body.get("store") is False:
        raise _err("Background mode requires 'store' to be true.", "background", "invalid_value")
    return body


def _expect(value: Any, kind: type, param: str, expected: str) -> None:
    if kind is int and isinstance(value, bool):
        raise _type_err(param, expected, value)
    if not isinstance(value, kind):
        raise _type_err(param, expected, value)


def _objects(value: Any, name: str, expected: str) -> Iterator[tuple[str, dict]]:
    """``(param, item)`` for each item of an array of objects; a 400 for anything else."""
    if not isinstance(value, list):
        raise _type_err(name, expected, value)
    for i, item in enumerate(value):
        param = f"{name}[{i}]"
        if not isinstance(item, dict):
            raise _type_err(param, "an object", item)
        yield param, item


def _check_input(body: dict) -> None:
    if "input" not in body or body["input"] is None:
        return  # allowed: e.g. only an mcp_approval_response via previous_response_id is absent too
    value = body["input"]
    if isinstance(value, str):
        return
    for param, item in _objects(value, "input", "a string or an array of input items"):
        kind = item.get("type", "message" if "role" in item else "item_reference" if "id" in item else None)
        if kind is None:
            raise _err(f"Missing required parameter: '{param}.type'.", f"{param}.type", "missing_required_parameter")
        if not isinstance(kind, str):
            raise _type_err(f"{param}.type", "a string", kind)
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise _err(f"Invalid value for '{param}.role'.", f"{param}.role")
            content = item.get("content")
            if not isinstance(content, (str, list)):
                raise _type_err(f"{param}.content", "a string or an array of content parts", content)


def _check_include(value: Any) -> None:
    if not isinstance(value, list):
        raise _type_err("include", "an array of strings", value)
    for i, entry in enumerate(value):
        if not isinstance(entry, str):
            raise _type_err(f"include[{i}]", "a string", entry)


def _check_metadata(value: Any) -> None:
    if not isinstance(value, dict):
        raise _type_err("metadata", "an object", value)
    if len(value) > METADATA_MAX_PAIRS:
        raise _err(f"Invalid 'metadata': at most {METADATA_MAX_PAIRS} pairs are allowed.", "metadata")
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY:
            raise _err(f"Invalid 'metadata' key: longer than {METADATA_MAX_KEY} characters.", "metadata")
        if not isinstance(item, str):
            raise _type_err(f"metadata.{key}", "a string", item)
        if len(item) > METADATA_MAX_VALUE:
            raise _err(f"Invalid 'metadata.{key}': longer than {METADATA_MAX_VALUE} characters.", "metadata")


def _check_range(value: Any, param: str, bounds: tuple[float, float]) -> None:
    if not _is_number(value):
        raise _type_err(param, "a number", value)
    low, high = bounds
    if not low <= value <= high:
        raise _err(f"Invalid '{param}': {value} is outside the range [{low}, {high}].", param)


def _check_max_tokens(value: Any) -> None:
    _expect(value, int, "max_output_tokens", "an integer")
    if value < MIN_OUTPUT_TOKENS:
        raise _err(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {value} instead.",
            "max_output_tokens", "integer_below_min_value",
        )


def _check_truncation(value: Any) -> None:
    # isinstance first: a JSON object or array is unhashable, and `in frozenset` would raise.
    if not isinstance(value, str) or value not in TRUNCATION_VALUES:
        raise _err("Invalid value for 'truncation': expected 'auto' or 'disabled'.", "truncation")


def _check_tools(value: Any) -> None:
    for param, tool in _objects(value, "tools", "an array"):
        kind = tool.get("type")
        if not isinstance(kind, str):
            raise _err(f"Missing required parameter: '{param}.type'.", f"{param}.type", "missing_required_parameter")
        if kind in TOOL_TYPES_WITH_NAME and not (isinstance(tool.get("name"), str) and tool["name"]):
            raise _err(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
        if kind == "function" and "parameters" in tool and not isinstance(tool["parameters"], (dict, type(None))):
            raise _type_err(f"{param}.parameters", "an object", tool["parameters"])
        if kind == "namespace":
            _check_namespace(param, tool)
        if kind == "mcp":
            if not isinstance(tool.get("server_label"), str):
                raise _err(f"Missing required parameter: '{param}.server_label'.", f"{param}.server_label",
                           "missing_required_parameter")
            if not isinstance(tool.get("server_url"), str):
                raise _err(f"Missing required parameter: '{param}.server_url'.", f"{param}.server_url",
                           "missing_required_parameter")


def _check_namespace(param: str, tool: dict) -> None:
    """A namespace tool: a name, and function or custom tools, each with a name."""
    if not (isinstance(tool.get("name"), str) and tool["name"]):
        raise _err(f"Missing required parameter: '{param}.name'.", f"{param}.name", "missing_required_parameter")
    for inner_param, inner in _objects(tool.get("tools"), f"{param}.tools", "an array"):
        if inner.get("type") not in TOOL_TYPES_WITH_NAME:
            raise _err(f"Invalid value for '{inner_param}.type': a namespace holds function and custom tools.",
                       f"{inner_param}.type")
        if not (isinstance(inner.get("name"), str) and inner["name"]):
            raise _err(f"Missing required parameter: '{inner_param}.name'.", f"{inner_param}.name",
                       "missing_required_parameter")


def _tool_names(tools: list) -> set[str]:
    """Names a tool choice may give: top-level tools and the tools inside namespaces."""
    names: set[str] = set()
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        # Only string names: a fuzzed tool's name may be an object, which no set can hold.
        inner = tool.get("tools") if tool.get("type") == "namespace" and isinstance(tool.get("tools"), list) else []
        names |= {t.get("name") for t in [tool, *inner] if isinstance(t, dict) and isinstance(t.get("name"), str)}
    return names


def _check_tool_choice(value: Any, tools: list) -> None:
    if isinstance(value, str):
        if value not in TOOL_CHOICE_MODES:
            raise _err(f"Invalid value for 'tool_choice': '{value}'.", "tool_choice")
        return
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise _type_err("tool_choice", "a string or an object with 'type'", value)
    if value["type"] in TOOL_TYPES_WITH_NAME:
        name = value.get("name")
        if not isinstance(name, str) or name not in _tool_names(tools):
            raise _err(f"Tool choice '{name}' not found in 'tools' parameter.", "tool_choice.name")


def _check_text(value: Any) -> None:
    if not isinstance(value, dict):
        raise _type_err("text", "an object", value)
    fmt = value.get("format")
    if fmt is None:
        return
    # isinstance first: an unhashable type value would make `in frozenset` raise.
    if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str) or fmt["type"] not in FORMAT_TYPES:
        raise _err("Invalid value for 'text.format.type'.", "text.format.type")
    if fmt["type"] == "json_schema":
        if not isinstance(fmt.get("name"), str):
            raise _err("Missing required parameter: 'text.format.name'.", "text.format.name",
                       "missing_required_parameter")
        if not isinstance(fmt.get("schema"), dict):
            raise _err("Missing required parameter: 'text.format.schema'.", "text.format.schema",
                       "missing_required_parameter")
