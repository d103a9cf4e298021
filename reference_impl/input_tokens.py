"""``POST /v1/responses/input_tokens``: the input tokens of a would-be create request.

The count is the backend's own, never an estimate: the body is prepared exactly as a create
(engine.prepare: validation, the ``previous_response_id`` chain or the conversation, compaction and
reasoning items opened), translated to the chat body the router would send (engine.outgoing_body:
the same adapters, e.g. a forced tool call), and that body is rendered by the backend's chat
template and tokenized (llama.cpp ``POST /apply-template`` with messages, tools and tool_choice,
then ``POST /tokenize`` with the special tokens the server adds itself). So the count equals the
``usage.input_tokens`` of the same request sent to create, up to what the backend adds after
templating (none for llama.cpp).

Not counted: the tool definitions an MCP server lists (a count does not contact MCP servers).
A backend without a tokenizer (anything but llama.cpp, or a native Responses backend) gets a
501 with code ``input_tokens_unsupported``: an estimate would be a number the client cannot
trust. ``model`` may be left out when the router serves exactly one model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .backend import BackendError
from .errors import SERVER_ERROR, ApiError
from .routes import _json_body
from .validate import object_body

if TYPE_CHECKING:
    from .engine import Engine

PATH = "/v1/responses/input_tokens"
OBJECT = "response.input_tokens"
UNSUPPORTED_CODE = "input_tokens_unsupported"
# Every field of the pinned SDK's InputTokenCountParams. ``personality`` has no effect on a chat
# backend (the router adds no persona prompt), so it is checked and not counted.
FIELDS = frozenset({"conversation", "input", "instructions", "model", "parallel_tool_calls", "personality",
                    "previous_response_id", "reasoning", "text", "tool_choice", "tools", "truncation"})
PERSONALITY_MAX = 64


def create_body(body: Any, models: list[str]) -> dict:
    """The create body whose input a count measures (400 naming the field for a bad one)."""
    body = object_body(body, FIELDS)
    personality = body.get("personality")
    if personality is not None and not (isinstance(personality, str) and len(personality) <= PERSONALITY_MAX):
        raise ApiError(400, f"Invalid 'personality': expected a string of at most {PERSONALITY_MAX} characters.",
                       param="personality", code="invalid_value")
    request = {k: v for k, v in body.items() if k != "personality"}
    if request.get("model") is None:
        if len(models) != 1:
            raise ApiError(400, "Missing required parameter: 'model' (this server serves several models).",
                           param="model", code="missing_required_parameter")
        request["model"] = models[0]
    return {**request, "store": False}


async def count(engine: Engine, body: Any) -> dict:
    """The ``response.input_tokens`` object for a count body."""
    models = [m["id"] for m in engine.pool.list_models()]
    turn = engine.prepare(create_body(body, models))
    backend = turn.backend
    if backend.native or not backend.caps.tokenizer:
        raise ApiError(501, "Counting input tokens needs the backend's own tokenizer, and the backend serving "
                            f"'{turn.request['model']}' has none (llama.cpp's /apply-template and /tokenize).",
                       code=UNSUPPORTED_CODE)
    try:
        tokens = await engine.pool.count_tokens(backend, engine.outgoing_body(turn), exact=True)
    except BackendError as exc:
        raise ApiError(502, f"The backend could not count the tokens: {exc.message}", type=SERVER_ERROR,
                       code="backend_error") from exc
    return {"object": OBJECT, "input_tokens": tokens}


async def count_input_tokens(request: Request) -> Response:
    """POST /v1/responses/input_tokens."""
    return JSONResponse(await count(request.app.state.engine, await _json_body(request)))


# Before routes.ROUTES: otherwise ``/v1/responses/{response_id}`` takes the path (a 405).
ROUTES = [Route(PATH, count_input_tokens, methods=["POST"])]


def openapi_paths(*, create_properties: dict, errors: Any) -> dict[str, Any]:
    """The input_tokens path of the router's OpenAPI document: the create schema's fields it shares."""
    props = {name: create_properties.get(name, {}) for name in FIELDS}
    props["model"] = {"anyOf": [create_properties["model"], {"type": "null"}]}
    props["personality"] = {"anyOf": [{"type": "string", "maxLength": PERSONALITY_MAX}, {"type": "null"}]}
    ok = {"type": "object", "required": ["object", "input_tokens"],
          "properties": {"object": {"const": OBJECT}, "input_tokens": {"type": "integer", "minimum": 0}}}
    return {PATH: {"post": {
        "operationId": "countInputTokens",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": props, "additionalProperties": False}}}},
        "responses": {"200": {"description": "The input token count.",
                              "content": {"application/json": {"schema": ok}}}, **errors(400, 404, 501)},
    }}}
