"""The Conversations API, and the ``conversation`` parameter of ``POST /v1/responses``.

Endpoints (thin Starlette handlers; the SQL is conversation_store.py's, on either store):
``POST /v1/conversations`` (``items`` ≤ 20, ``metadata``), ``GET``/``POST``/``DELETE
/v1/conversations/{id}``, ``POST``/``GET /v1/conversations/{id}/items`` (list: ``after``,
``limit``, ``order``, ``include``), ``GET``/``DELETE /v1/conversations/{id}/items/{item_id}``.

For creates, the engine calls `conversation_id` (validate the parameter; 400 with
``previous_response_id``), `history` (the items the turn sees, 404 if unknown) and, after the
response reached a chainable status, `append_turn`: the turn's input items then its output
items, appended as one block (see conversation_store.py for why concurrent turns cannot
interleave or lose items). A conversation's items are its own copies: deleting the response
later leaves the conversation as it was.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import translate, translate_items
from .errors import ApiError, not_found
from .ids import new_id
from .routes import DEFAULT_LIST_LIMIT, LIST_LIMIT_RANGE, ORDERS, _json_body, page_params
from .validate import _check_input, _check_metadata, object_body

MAX_CREATE_ITEMS = 20
# Values of ``include`` on the items list (the pinned SDK's ResponseIncludable). The router's
# stored items already carry what it has, so a known value changes nothing; an unknown one is a 400.
INCLUDABLE = frozenset({
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs",
})
APPENDED_STATUSES = ("completed", "incomplete")
CREATE_FIELDS = frozenset({"items", "metadata"})


# ------------------------------------------------------------------ the create parameter

def conversation_id(request: dict) -> str | None:
    """The id a create's ``conversation`` names (a string or ``{id}``), or None; 400 if malformed."""
    value = request.get("conversation")
    if value is None:
        return None
    if isinstance(value, dict) and set(value) <= {"id"}:
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise ApiError(400, "Invalid 'conversation': expected a conversation id or an object {\"id\": …}.",
                       param="conversation", code="invalid_type")
    if request.get("previous_response_id") is not None:
        raise ApiError(400, "Mutually exclusive parameters: provide only one of 'previous_response_id' "
                            "or 'conversation'.", param="conversation", code="invalid_value")
    return value


def history(store: Any, cid: str) -> list[dict]:
    """The items a turn on conversation ``cid`` sees, oldest first; 404 if there is no such conversation."""
    if store.get_conversation(cid) is None:
        raise not_found("conversation", cid, param="conversation")
    return store.conversation_items(cid)


def append_turn(store: Any, cid: str, response: dict, input_items: list[dict]) -> None:
    """Append a finished turn (input then output) to its conversation; nothing for a failed one."""
    if response.get("status") in APPENDED_STATUSES:
        store.append_conversation_items(cid, _with_ids([*input_items, *(response.get("output") or [])]))


def _with_ids(items: list[dict]) -> list[dict]:
    """Every conversation item is addressable: one without an id (an unusual type) gets one."""
    return [item if item.get("id") else {"id": new_id("item"), **item} for item in items]


# ------------------------------------------------------------------ validation helpers

def _items(value: Any, param: str = "items") -> list[dict]:
    if not isinstance(value, list):
        raise ApiError(400, f"Invalid type for '{param}': expected an array of items.", param=param,
                       code="invalid_type")
    if len(value) > MAX_CREATE_ITEMS:
        raise ApiError(400, f"Invalid '{param}': at most {MAX_CREATE_ITEMS} items can be added at once.",
                       param=param, code="invalid_value")
    for k, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("type", "message" if "role" in item else None), str):
            raise ApiError(400, f"Invalid '{param}[{k}]': expected an item object with a 'type' or 'role'.",
                           param=f"{param}[{k}]", code="invalid_value")
        if item.get("type") == "item_reference":
            raise ApiError(400, f"Invalid '{param}[{k}]': item references cannot be added to a conversation.",
                           param=f"{param}[{k}]", code="invalid_value")
    try:
        _check_input({"input": value})  # the same item checks as a create's input
        items = translate_items.request_to_input_items({"input": value})
        translate.chat_request({"input": items}, [], model="")  # a trial translation, as engine.prepare does
    except ApiError as exc:
        exc.param = exc.param and exc.param.replace("input", param, 1)
        raise
    except translate_items.TranslationError as exc:
        raise ApiError(400, exc.message, param=(exc.param or "").replace("input", param, 1) or param) from exc
    return _with_ids(items)


def _metadata(body: dict) -> dict:
    value = body.get("metadata")
    if value is None:
        return {}
    _check_metadata(value)
    return dict(value)


def _conversation(request: Request) -> dict:
    cid = request.path_params["conversation_id"]
    conversation = request.app.state.store.get_conversation(cid)
    if conversation is None:
        raise not_found("conversation", cid, param="conversation_id")
    return conversation


def _page(items: list[dict], more: bool) -> dict:
    return {"object": "list", "data": items, "has_more": more,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None}


async def _run(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


# ------------------------------------------------------------------ handlers

async def create_conversation(request: Request) -> Response:
    """POST /v1/conversations."""
    body = object_body(await _json_body(request), CREATE_FIELDS)
    metadata = _metadata(body)
    items = _items(body["items"]) if body.get("items") is not None else []
    conversation = {"id": new_id("conv"), "object": "conversation", "created_at": int(time.time()),
                    "metadata": metadata}
    await _run(request.app.state.store.create_conversation, conversation, items)
    return JSONResponse(conversation)


async def get_conversation(request: Request) -> Response:
    """GET /v1/conversations/{id}."""
    return JSONResponse(_conversation(request))


async def update_conversation(request: Request) -> Response:
    """POST /v1/conversations/{id}: replace its metadata."""
    body = object_body(await _json_body(request), frozenset({"metadata"}))
    if "metadata" not in body:
        raise ApiError(400, "Missing required parameter: 'metadata'.", param="metadata",
                       code="missing_required_parameter")
    conversation = {**_conversation(request), "metadata": _metadata(body)}
    if not await _run(request.app.state.store.update_conversation, conversation):
        raise not_found("conversation", conversation["id"], param="conversation_id")
    return JSONResponse(conversation)


async def delete_conversation(request: Request) -> Response:
    """DELETE /v1/conversations/{id}."""
    cid = request.path_params["conversation_id"]
    if not await _run(request.app.state.store.delete_conversation, cid):
        raise not_found("conversation", cid, param="conversation_id")
    return JSONResponse({"id": cid, "object": "conversation.deleted", "deleted": True})


async def create_items(request: Request) -> Response:
    """POST /v1/conversations/{id}/items: append items; answers the list of those added."""
    body = object_body(await _json_body(request), frozenset({"items"}))
    if "items" not in body:
        raise ApiError(400, "Missing required parameter: 'items'.", param="items", code="missing_required_parameter")
    _include(request)
    items = _items(body["items"])
    if not items:
        raise ApiError(400, "Invalid 'items': expected at least one item.", param="items", code="invalid_value")
    conversation = _conversation(request)
    if not await _run(request.app.state.store.append_conversation_items, conversation["id"], items):
        raise not_found("conversation", conversation["id"], param="conversation_id")
    return JSONResponse(_page(items, False))


def _include(request: Request) -> list[str]:
    values = request.query_params.getlist("include") + request.query_params.getlist("include[]")
    for value in values:
        if value not in INCLUDABLE:
            raise ApiError(400, f"Invalid 'include': unknown value {value!r}.", param="include",
                           code="invalid_value")
    return values


async def list_items(request: Request) -> Response:
    """GET /v1/conversations/{id}/items with after/limit/order/include."""
    conversation = _conversation(request)
    limit, order, after = page_params(request)
    _include(request)
    try:
        items, more = await _run(lambda: request.app.state.store.list_conversation_items(
            conversation["id"], after=after, limit=limit, order=order))
    except KeyError as exc:
        raise ApiError(400, f"Invalid 'after': no item '{after}' in this conversation.", param="after",
                       code="invalid_value") from exc
    return JSONResponse(_page(items, more))


async def get_item(request: Request) -> Response:
    """GET /v1/conversations/{id}/items/{item_id}."""
    conversation = _conversation(request)
    _include(request)
    item_id = request.path_params["item_id"]
    item = request.app.state.store.get_conversation_item(conversation["id"], item_id)
    if item is None:
        raise not_found("conversation item", item_id, param="item_id")
    return JSONResponse(item)


async def delete_item(request: Request) -> Response:
    """DELETE /v1/conversations/{id}/items/{item_id}: answers the conversation."""
    conversation = _conversation(request)
    item_id = request.path_params["item_id"]
    if not await _run(request.app.state.store.delete_conversation_item, conversation["id"], item_id):
        raise not_found("conversation item", item_id, param="item_id")
    return JSONResponse(conversation)


ROUTES = [
    Route("/v1/conversations", create_conversation, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", get_conversation, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}", update_conversation, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
    Route("/v1/conversations/{conversation_id}/items", create_items, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}/items", list_items, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", get_item, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", delete_item, methods=["DELETE"]),
]


# ------------------------------------------------------------------ OpenAPI (merged by openapi.py)

def openapi_paths(*, metadata: dict, input_item: dict, errors: Any) -> dict[str, Any]:
    """The Conversations paths of the router's OpenAPI document, as strict as the handlers above."""
    low, high = LIST_LIMIT_RANGE

    def nullable(schema: dict) -> dict:
        return {"anyOf": [schema, {"type": "null"}]}

    def body(props: dict, required: list[str]) -> dict:
        return {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": props, "required": required, "additionalProperties": False}}}}

    def ok(description: str, required: list[str]) -> dict:
        return {"description": description,
                "content": {"application/json": {"schema": {"type": "object", "required": required}}}}

    items = {"type": "array", "maxItems": MAX_CREATE_ITEMS, "items": input_item}
    cid = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
    item_id = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}
    include = {"name": "include", "in": "query", "schema": {"type": "array", "items": {"enum": sorted(INCLUDABLE)}}}
    conversation = ["id", "object", "created_at", "metadata"]
    page = ["object", "data", "has_more", "first_id", "last_id"]
    return {
        "/v1/conversations": {"post": {
            "operationId": "createConversation",
            "requestBody": body({"items": nullable(items), "metadata": nullable(metadata)}, []),
            "responses": {"200": ok("The new conversation.", conversation), **errors(400)},
        }},
        "/v1/conversations/{conversation_id}": {
            "get": {"operationId": "getConversation", "parameters": [cid],
                    "responses": {"200": ok("The conversation.", conversation), **errors(404)}},
            "post": {"operationId": "updateConversation", "parameters": [cid],
                     "requestBody": body({"metadata": nullable(metadata)}, ["metadata"]),
                     "responses": {"200": ok("The updated conversation.", conversation), **errors(400, 404)}},
            "delete": {"operationId": "deleteConversation", "parameters": [cid],
                       "responses": {"200": ok("The conversation was deleted.", ["id", "object", "deleted"]),
                                     **errors(404)}},
        },
        "/v1/conversations/{conversation_id}/items": {
            "post": {"operationId": "createConversationItems", "parameters": [cid, include],
                     "requestBody": body({"items": {**items, "minItems": 1}}, ["items"]),
                     "responses": {"200": ok("The items added.", page), **errors(400, 404)}},
            "get": {"operationId": "listConversationItems", "parameters": [
                cid, include,
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": low, "maximum": high, "default": DEFAULT_LIST_LIMIT}},
                {"name": "order", "in": "query", "schema": {"enum": list(ORDERS)}},
                {"name": "after", "in": "query", "schema": {"type": "string"}},
            ], "responses": {"200": ok("One page of items.", page), **errors(400, 404)}},
        },
        "/v1/conversations/{conversation_id}/items/{item_id}": {
            "get": {"operationId": "getConversationItem", "parameters": [cid, item_id, include],
                    "responses": {"200": ok("The item.", ["id", "type"]), **errors(400, 404)}},
            "delete": {"operationId": "deleteConversationItem", "parameters": [cid, item_id],
                       "responses": {"200": ok("The conversation.", conversation), **errors(404)}},
        },
    }
