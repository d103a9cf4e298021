"""The router's OpenAPI 3.1 document for its Responses endpoints, served at ``GET /openapi.json``.

Owns one thing: a machine-readable description of what the router accepts and answers, built
from validate.py's own policy constants so the two cannot drift apart. The create body is
described exactly as strictly as validate.py checks it, and no stricter: every body this
document rejects, the router rejects with a 4xx (the negative fuzz in tests/test_fuzz.py holds
the router to that). Fields the router passes through without checking are left open (``{}``).
Every optional field also accepts ``null``, as the router treats null as absent.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import compaction, conversations, input_tokens, validate as v
from .routes import DEFAULT_LIST_LIMIT, LIST_LIMIT_RANGE, ORDERS

OPENAPI_VERSION = "3.1.0"
DOCUMENT_PATH = "/openapi.json"
TITLE = "Reference Responses router"
# Fields validate.py accepts but does not check: any JSON value passes.
UNCHECKED_FIELDS = ("user", "include", "reasoning", "service_tier", "top_logprobs", "max_tool_calls",
                    "prompt_cache_key", "safety_identifier", "prompt_cache_retention")
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _input_item() -> dict[str, Any]:
    # A message is recognised by type "message" or, without a type, by its role (validate._check_input).
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "type": {"const": "message"},
            "role": {"enum": ["user", "assistant", "system", "developer"]},
            "content": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        },
    }
    other = {"type": "object", "required": ["type"],
             "properties": {"type": {"not": {"enum": ["message", None]}}}}
    return {"anyOf": [message, other]}


def _tool() -> dict[str, Any]:
    return {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}


def _metadata() -> dict[str, Any]:
    return {
        "type": "object",
        "maxProperties": v.METADATA_MAX_PAIRS,
        "propertyNames": {"maxLength": v.METADATA_MAX_KEY},
        "additionalProperties": {"type": "string", "maxLength": v.METADATA_MAX_VALUE},
    }


def _text() -> dict[str, Any]:
    fmt = {"type": "object", "required": ["type"], "properties": {"type": {"enum": sorted(v.FORMAT_TYPES)}}}
    return {"type": "object", "properties": {"format": _nullable(fmt)}}


def create_body() -> dict[str, Any]:
    """The JSON Schema of a ``POST /v1/responses`` body, as validate.py checks it."""
    low_t, high_t = v.TEMPERATURE_RANGE
    low_p, high_p = v.TOP_P_RANGE
    props: dict[str, Any] = {
        "model": {"type": "string", "minLength": 1},
        "input": _nullable({"anyOf": [{"type": "string"}, {"type": "array", "items": _input_item()}]}),
        "instructions": _nullable({"type": "string"}),
        "metadata": _nullable(_metadata()),
        "temperature": _nullable({"type": "number", "minimum": low_t, "maximum": high_t}),
        "top_p": _nullable({"type": "number", "minimum": low_p, "maximum": high_p}),
        "max_output_tokens": _nullable({"type": "integer", "minimum": v.MIN_OUTPUT_TOKENS}),
        "previous_response_id": _nullable({"type": "string"}),
        "truncation": _nullable({"enum": sorted(v.TRUNCATION_VALUES)}),
        "tools": _nullable({"type": "array", "items": _tool()}),
        "tool_choice": _nullable({"anyOf": [
            {"enum": sorted(v.TOOL_CHOICE_MODES)},
            {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
        ]}),
        "text": _nullable(_text()),
        "stream_options": _nullable({"type": "object"}),
        "conversation": _nullable({"anyOf": [{"type": "string"}, {
            "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}},
            "additionalProperties": False}]}),
    }
    for flag in ("stream", "background", "store", "parallel_tool_calls", v.CACHE_FIELD):
        props[flag] = _nullable({"type": "boolean"})
    props.update({name: {} for name in UNCHECKED_FIELDS})
    return {"type": "object", "required": ["model"], "properties": props, "additionalProperties": False}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json(ERROR_REF, "An error in the OpenAI shape.") for s in statuses}


WEBSOCKET_MODE = (
    "Creates a model response (JSON, or SSE with `stream: true`). The same path also accepts a "
    "WebSocket upgrade (WebSocket mode, the openai SDK's `client.responses.connect()`): each "
    "`response.create` text message (this body plus `type`) is answered with this operation's "
    "streaming events, one JSON message each, responses one after another on one socket. "
    "`previous_response_id` continues a stored response or, with `store: false`, the connection's "
    "most recent response; a failed continuation evicts it. Errors are `error` events "
    "`{type, status, error: {message, type, param, code}}` (an unknown previous response is "
    "`previous_response_not_found`); `response.steer` is answered with `response.steer.failed` "
    "(`steering_not_supported`); `background` is refused on the socket."
)


def _id_param() -> dict[str, Any]:
    return {"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    response_ref = {"$ref": "#/components/schemas/Response"}
    low, high = LIST_LIMIT_RANGE
    streamed = {"description": "A Response, or its event stream when `stream` is true.",
                "content": {"application/json": {"schema": response_ref},
                            "text/event-stream": {"schema": {"type": "string"}}}}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": "1"},
        "paths": {
            "/v1/responses": {"post": {
                "operationId": "createResponse",
                # OpenAPI has no WebSocket operations: the upgrade on this path is described here
                # and in the x-websocket extension (reference_impl/websocket.py has the behaviour).
                "description": WEBSOCKET_MODE,
                "x-websocket": {"path": "/v1/responses", "client_events": ["response.create", "response.steer"],
                                "server_events": "the streaming events of this operation, plus `error` "
                                                 "({type, status, error}) and response.steer.failed"},
                "requestBody": {"required": True, "content": {"application/json": {"schema": create_body()}}},
                "responses": {"200": streamed, **_errors(400, 404)},
            }},
            "/v1/responses/{response_id}": {
                "get": {
                    "operationId": "getResponse",
                    "parameters": [
                        _id_param(),
                        # Only the exact text "true" streams; anything else answers JSON.
                        {"name": "stream", "in": "query", "schema": {"type": "string"}},
                        {"name": "starting_after", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": streamed, **_errors(400, 404)},
                },
                "delete": {
                    "operationId": "deleteResponse",
                    "parameters": [_id_param()],
                    "responses": {"200": _json({"type": "object", "required": ["id", "object", "deleted"]},
                                               "The response was deleted."), **_errors(404)},
                },
            },
            "/v1/responses/{response_id}/cancel": {"post": {
                "operationId": "cancelResponse",
                "parameters": [_id_param()],
                "responses": {"200": _json(response_ref, "The cancelled response."), **_errors(400, 404)},
            }},
            "/v1/responses/{response_id}/input_items": {"get": {
                "operationId": "listInputItems",
                "parameters": [
                    _id_param(),
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": low, "maximum": high, "default": DEFAULT_LIST_LIMIT}},
                    {"name": "order", "in": "query", "schema": {"enum": list(ORDERS)}},
                    {"name": "after", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": _json({"type": "object", "required": ["object", "data", "has_more"]},
                                           "One page of input items."), **_errors(400, 404)},
            }},
            **conversations.openapi_paths(metadata=_metadata(), input_item=_input_item(), errors=_errors),
            **compaction.openapi_paths(input_schema=create_body()["properties"]["input"], errors=_errors),
            **input_tokens.openapi_paths(create_properties=create_body()["properties"], errors=_errors),
        },
        "components": {"schemas": {
            "Error": {
                "type": "object", "required": ["error"], "additionalProperties": False,
                "properties": {"error": {
                    "type": "object", "required": ["message", "type", "param", "code"],
                    "additionalProperties": False,
                    "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                                   "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}},
                }},
            },
            "Response": {"type": "object", "required": ["id", "object", "status"],
                         "properties": {"id": {"type": "string"}, "object": {"const": "response"},
                                        "status": {"type": "string"}}},
        }},
    }


async def openapi_json(request: Request) -> JSONResponse:
    """GET /openapi.json."""
    return JSONResponse(document())


ROUTE = Route(DOCUMENT_PATH, openapi_json, methods=["GET"])
