"""HTTP endpoints of the router (Starlette routes).

``POST /v1/responses`` (JSON, SSE, background), ``GET``/``DELETE /v1/responses/{id}``,
``POST /v1/responses/{id}/cancel``, ``GET /v1/responses/{id}/input_items``, ``GET /v1/models``
and ``GET /health``. Handlers only parse HTTP and pick a mode; engine.py does the work. The
services live on ``app.state`` (set up by app.py's lifespan).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .errors import ApiError, not_found
from .stream import encode_sse

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
LIST_LIMIT_RANGE = (1, 100)
DEFAULT_LIST_LIMIT = 20
ORDERS = ("asc", "desc")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "We could not parse the JSON body of your request. The body must be "
                            f"valid JSON ({exc}).", code="invalid_json") from exc


class _SSEResponse(StreamingResponse):
    """Starlette's `StreamingResponse` (same headers, same frames), without an anyio task group
    per response.

    Under an ASGI server older than spec 2.4 (uvicorn says 2.3), Starlette runs the body and a
    listener for ``http.disconnect`` in an anyio task group, and cancels the body when the client
    goes away. That task group was a good part of the router's own time before the first frame of
    a stream (docs/benchmarks.md). Here the listener is one asyncio task that cancels the task
    sending the body; the outcome is the same: the body's generators get a `CancelledError` at
    their current ``await``, nothing after it runs (so nothing is stored), and the response ends
    without an error.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the body; stop it, quietly, when the client disconnects."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        sending = asyncio.current_task()
        assert sending is not None
        gone = False

        async def listen() -> None:
            nonlocal gone
            await self.listen_for_disconnect(receive)
            gone = True
            sending.cancel()

        listener = asyncio.ensure_future(listen())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not gone:
                raise
            sending.uncancel()  # our own cancel, now handled: the task is not being cancelled
        finally:
            listener.cancel()
        if self.background is not None:
            await self.background()


def _sse(events: AsyncIterator[dict]) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        async for event in events:
            yield encode_sse(event)
    return _SSEResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


async def _prepend(first: dict, rest: AsyncIterator[dict]) -> AsyncIterator[dict]:
    async with contextlib.aclosing(rest):  # type: ignore[type-var]
        yield first
        async for event in rest:
            yield event


async def create_response(request: Request) -> Response:
    """POST /v1/responses: the engine's events as SSE or, collected, as one JSON Response."""
    state = request.app.state
    turn = state.engine.prepare(await _json_body(request))
    streaming = bool(turn.request.get("stream"))
    if turn.background:
        queued = state.runner.submit(turn)
        if streaming:
            return _sse(state.runner.follow(queued["id"], starting_after=None))
        return JSONResponse(queued)
    if streaming:
        # The first event is awaited before the status line: until then a context overflow
        # can still be a 400 (engine.py).
        events = state.engine.run(turn)
        first = await anext(events)
        return _sse(_prepend(first, events))
    return JSONResponse(await state.engine.complete(turn))


def _stored(request: Request) -> dict:
    rid = request.path_params["response_id"]
    response = request.app.state.store.get_response(rid)
    if response is None:
        raise not_found("response", rid, param="response_id")
    return response


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(400, f"Invalid '{name}': expected an integer, got {value!r}.", param=name,
                       code="invalid_type") from exc


async def get_response(request: Request) -> Response:
    """GET /v1/responses/{id}, or its stored event stream with ``stream=true``."""
    response = _stored(request)
    if request.query_params.get("stream", "false").lower() != "true":
        return JSONResponse(response)
    if not response.get("background"):
        raise ApiError(400, "Only background responses can be streamed again.", param="stream",
                       code="invalid_value")
    after = _int_param(request, "starting_after", None)
    return _sse(request.app.state.runner.follow(response["id"], starting_after=after))


async def delete_response(request: Request) -> Response:
    """DELETE /v1/responses/{id}."""
    rid = request.path_params["response_id"]
    if not request.app.state.store.delete_response(rid):
        raise not_found("response", rid, param="response_id")
    return JSONResponse({"id": rid, "object": "response.deleted", "deleted": True})


async def cancel_response(request: Request) -> Response:
    """POST /v1/responses/{id}/cancel."""
    return JSONResponse(await request.app.state.runner.cancel(request.path_params["response_id"]))


def page_params(request: Request) -> tuple[int, str, str | None]:
    """A list endpoint's ``limit``, ``order`` and ``after``, each checked with a 400 naming it."""
    limit = _int_param(request, "limit", DEFAULT_LIST_LIMIT)
    low, high = LIST_LIMIT_RANGE
    if limit is None or not low <= limit <= high:
        raise ApiError(400, f"Invalid 'limit': must be between {low} and {high}.", param="limit",
                       code="invalid_value")
    order = request.query_params.get("order", "desc")
    if order not in ORDERS:
        raise ApiError(400, "Invalid 'order': expected 'asc' or 'desc'.", param="order", code="invalid_value")
    return limit, order, request.query_params.get("after")


async def list_input_items(request: Request) -> Response:
    """GET /v1/responses/{id}/input_items with after/limit/order."""
    response = _stored(request)
    limit, order, after = page_params(request)
    try:
        items, more = request.app.state.store.list_input_items(response["id"], after=after, limit=limit,
                                                               order=order)
    except KeyError as exc:
        raise ApiError(400, f"Invalid 'after': no input item '{after}' in this response.", param="after",
                       code="invalid_value") from exc
    return JSONResponse({
        "object": "list", "data": items, "has_more": more,
        "first_id": items[0].get("id") if items else None,
        "last_id": items[-1].get("id") if items else None,
    })


async def list_models(request: Request) -> Response:
    """GET /v1/models: every model the backends reported."""
    return JSONResponse({"object": "list", "data": request.app.state.pool.list_models()})


async def health(request: Request) -> Response:
    """GET /health."""
    return JSONResponse({"status": "ok"})


ROUTES = [
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/cancel", cancel_response, methods=["POST"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
]
