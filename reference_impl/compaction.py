"""``POST /v1/responses/compact``, and compaction items sent back as input.

Compact: the items to compact are the chain of ``previous_response_id`` (when given) followed by
``input``. The router asks its backend model for a summary of them (one chat request, greedy, with
`SUMMARY_INSTRUCTIONS`) and answers a ``response.compaction`` object whose ``output`` is every user
message of those items, verbatim, followed by one ``compaction`` item. That item's
``encrypted_content`` is the summary sealed by sealing.py (AES-256-GCM with the server key, kind
``compaction`` bound in), so only this router (or a replica with the same key) can read it, and
any change to it is detected.

In: a compaction item in a later turn's input (``store: false``, or stored and reached again
through ``previous_response_id`` or a conversation) is opened and becomes an assistant turn
holding the summary (translate_items.py), so the model sees what was compacted. A blob that does
not open is a 400 naming ``input[i].encrypted_content`` (or ``previous_response_id`` for a stored one
sealed under another key), never a 500.

Decisions, documented in docs/compact.md: nothing to compact (no input and no previous response,
or an empty input) is a 400 naming ``input``, because an empty summary would be a valid-looking
item that carries nothing; a model that answers with no text gets the rendered transcript sealed
instead, so compaction never loses the history it replaced; the compacted response is not stored.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import context, reasoning, translate, translate_items
from .backend import BackendError, ModelNotFound
from .errors import SERVER_ERROR, ApiError
from .ids import new_id
from .routes import _json_body
from .sealing import Sealer, SealError
from .translate_out import usage_from_chat
from .validate import _check_input, object_body

if TYPE_CHECKING:
    from .engine import Engine

KIND = "compaction"  # the item type, and the sealing kind bound into the ciphertext
OBJECT = "response.compaction"
PATH = "/v1/responses/compact"
INVALID_CODE = reasoning.INVALID_CODE
# Every field of the pinned SDK's ResponseCompactParams. Only model, input, instructions and
# previous_response_id change what is compacted; the others are accepted and have no effect here.
FIELDS = frozenset({"model", "input", "instructions", "previous_response_id", "image", "prompt_cache_key",
                    "prompt_cache_options", "prompt_cache_retention", "service_tier"})
SUMMARY_INSTRUCTIONS = ("Summarize the conversation below so that it can replace it. Keep every name, "
                        "number, decision and fact that was stated. Answer with the summary only.")
SUMMARY_MAX_TOKENS = 256  # a summary longer than this stops being a compaction for a small window
SUMMARY_TEMPERATURE = 0   # the same history gives the same summary (and the same recording)


def open_items(items: list[dict], sealer: Sealer, param_of: Callable[[int], str]) -> list[dict]:
    """``items`` with each compaction item's summary restored as its content (for the backend
    only: what is stored keeps the sealed blob); a 400 naming ``param_of(i)`` if one does not open."""
    opened: list[dict] = []
    for position, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") != KIND:
            opened.append(item)
            continue
        try:
            value = sealer.open(KIND, item.get("encrypted_content"))
        except SealError as exc:
            raise ApiError(400, f"The encrypted content of the compaction item at {param_of(position)} could "
                                f"not be verified or decrypted: {exc}.", param=param_of(position),
                           code=INVALID_CODE) from exc
        summary = value.get("summary") if isinstance(value, dict) else None
        opened.append({**item, "content": [{"type": "output_text", "text": summary if isinstance(summary, str) else ""}]})
    return opened


def input_param(position: int) -> str:
    """The param naming a bad compaction item of a request's ``input``."""
    return f"input[{position}].encrypted_content"


def validate_compact(body: Any) -> dict:
    """The compact body checked (400 naming the field), as create checks the same fields."""
    body = object_body(body, FIELDS)
    model = body.get("model")
    if model is None:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Invalid type for 'model': expected a non-empty string.", param="model",
                       code="invalid_type")
    for name in ("instructions", "previous_response_id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ApiError(400, f"Invalid type for '{name}': expected a string.", param=name, code="invalid_type")
    _check_input(body)
    return body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return " ".join(str(p.get("text") or "[image]") for p in parts if isinstance(p, dict))


def transcript(messages: list[dict]) -> str:
    """Chat messages rendered as the plain text the summarising model reads."""
    lines = []
    for message in messages:
        role = message.get("role")
        if message.get("content"):
            lines.append(f"{role}: {_text(message['content'])}")
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            lines.append(f"{role} called the tool {function.get('name')} with {function.get('arguments')}")
    return "\n".join(lines)


def summary_request(model: str, text: str, instructions: str | None) -> dict:
    """The chat body that asks the backend model for the summary of ``text``."""
    system = SUMMARY_INSTRUCTIONS + (f"\nThe conversation ran under these instructions: {instructions}"
                                     if instructions else "")
    return {"model": model, "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
            "temperature": SUMMARY_TEMPERATURE, "max_tokens": SUMMARY_MAX_TOKENS, "stream": True,
            "stream_options": {"include_usage": True}}


def _kept_message(item: dict) -> dict:
    """A user message of the compacted items, in the output item shape (content parts, status)."""
    return {"id": item.get("id") or new_id("msg"), "type": "message", "role": "user", "status": "completed",
            "content": item["content"]}


async def compact(engine: Engine, body: Any) -> dict:
    """The ``response.compaction`` object for a compact body; `ApiError` for a client mistake."""
    request = validate_compact(body)
    history = engine.chain_history(request.get("previous_response_id"))
    if request.get("input") == "":
        request = {**request, "input": None}  # an empty string compacts nothing, like an empty list
    try:
        inputs = translate_items.request_to_input_items(request)
    except translate_items.TranslationError as exc:
        raise ApiError(400, exc.message, param=exc.param) from exc
    if not history and not inputs:
        raise ApiError(400, "Nothing to compact: give a non-empty 'input' or a 'previous_response_id'.",
                       param="input", code="missing_required_parameter")
    try:
        backend = engine.pool.choose(request["model"])
    except ModelNotFound as exc:
        raise ApiError(404, exc.message, param="model", code="model_not_found") from exc
    opened_history = open_items(history, engine.sealer, lambda _: "previous_response_id")
    opened_inputs = open_items(reasoning.open_items(inputs, engine.sealer), engine.sealer, input_param)
    try:
        messages = translate.chat_request({"input": opened_inputs}, opened_history, model=request["model"])["messages"]
    except translate_items.TranslationError as exc:
        raise ApiError(400, exc.message, param=exc.param) from exc
    text = transcript(messages)
    summary, usage = await _summarise(engine, backend, request, text)
    sealed = engine.sealer.seal(KIND, {"summary": summary or text})
    kept = [_kept_message(i) for i in history + inputs if i.get("type") == "message" and i.get("role") == "user"]
    return {"id": new_id("resp"), "object": OBJECT, "created_at": int(time.time()),
            "output": [*kept, {"id": new_id("cmp"), "type": KIND, "encrypted_content": sealed}],
            "usage": usage_from_chat(usage)}


async def _summarise(engine: Engine, backend: Any, request: dict, text: str) -> tuple[str, dict | None]:
    """(the model's summary, its chat usage); an overflow is a 400, another failure a 502."""
    body = summary_request(request["model"], text, request.get("instructions"))
    pieces: list[str] = []
    usage: dict | None = None
    try:
        async for chunk in engine.pool.stream(backend, body):
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                pieces.append((choice.get("delta") or {}).get("content") or "")
    except BackendError as exc:
        if context.is_overflow(exc):
            raise context.overflow_error() from exc
        raise ApiError(502, f"The model could not summarise the conversation: {exc.message}",
                       type=SERVER_ERROR, code="backend_error") from exc
    return "".join(pieces).strip(), usage


async def compact_response(request: Request) -> Response:
    """POST /v1/responses/compact."""
    return JSONResponse(await compact(request.app.state.engine, await _json_body(request)))


# Before routes.ROUTES: otherwise ``/v1/responses/{response_id}`` takes the path (a 405).
ROUTES = [Route(PATH, compact_response, methods=["POST"])]


def openapi_paths(*, input_schema: dict, errors: Any) -> dict[str, Any]:
    """The compact path of the router's OpenAPI document, as strict as `validate_compact`."""
    def nullable(schema: dict) -> dict:
        return {"anyOf": [schema, {"type": "null"}]}

    props: dict[str, Any] = {name: {} for name in FIELDS}
    props.update({"model": {"type": "string", "minLength": 1}, "input": input_schema,
                  "instructions": nullable({"type": "string"}),
                  "previous_response_id": nullable({"type": "string"})})
    ok = {"type": "object", "required": ["id", "object", "created_at", "output", "usage"],
          "properties": {"object": {"const": OBJECT}}}
    return {PATH: {"post": {
        "operationId": "compactResponse",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": props, "required": ["model"], "additionalProperties": False}}}},
        "responses": {"200": {"description": "The compacted response.",
                              "content": {"application/json": {"schema": ok}}}, **errors(400, 404)},
    }}}
