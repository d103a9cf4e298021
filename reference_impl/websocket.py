"""WebSocket mode on ``/v1/responses``: a thin transport over the engine, as the SDK's
``client.responses.connect()`` speaks it.

One connection carries many responses, one after another. Each client message is a JSON text
message with a ``type``:

- ``response.create``: the create body beside ``type`` (``stream`` is implied and ignored). The
  answer is the same events as SSE, from the same engine, each as one JSON text message. A request
  the engine refuses is one ``error`` event, ``{"type": "error", "status", "error": {message,
  type, param, code}}``, and the connection stays open.
- ``response.steer``: this router does not steer, so the answer is ``response.steer.failed`` with
  code ``steering_not_supported`` and the input handed back (the SDK's own typed refusal).
- anything else (bytes that are not JSON, a message without a known ``type``, one above
  ``max_message_bytes``): an ``error`` event naming the problem. Nothing a client sends drops the
  socket without a reason.

The connection remembers its most recent response (the connection-local cache of WebSocket mode),
so a ``store: false`` chain continues with ``previous_response_id`` on the connection that made
it. A continuation that fails evicts that entry: the client must then resend the whole history.
An unknown ``previous_response_id`` is the engine's ``previous_response_not_found``.
"""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .engine import CHAINABLE_STATUSES
from .errors import INVALID_REQUEST, SERVER_ERROR, ApiError
from .turn import Turn

log = logging.getLogger(__name__)

PATH = "/v1/responses"
CREATE = "response.create"
STEER = "response.steer"
# Below uvicorn's own frame limit (16 MiB by default, a close with code 1009 above it), so the
# router answers an oversized message with a typed error event instead.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
TOO_LARGE = 413
# Transport fields of the HTTP create body that mean nothing on a socket (every answer streams).
TRANSPORT_FIELDS = ("type", "stream")


@dataclass
class ConnectionCache:
    """The connection's most recent chainable response: its id and the history it ends."""

    response_id: str | None = None
    history: list[dict] = field(default_factory=list)

    def known(self, response_id: str) -> list[dict] | None:
        """The history for continuing ``response_id``, when this connection holds it."""
        return list(self.history) if response_id == self.response_id else None

    def remember(self, turn: Turn) -> None:
        """Keep ``turn``'s finished response as the one to continue from."""
        self.response_id = turn.response["id"]
        self.history = turn.history + turn.input_items + list(turn.response.get("output") or [])

    def evict(self, response_id: Any) -> None:
        """Forget ``response_id`` (a continuation of it failed)."""
        if response_id is not None and response_id == self.response_id:
            self.response_id, self.history = None, []


def error_event(status: int, message: str, *, type: str = INVALID_REQUEST, param: str | None = None,
                code: str | None = None) -> dict[str, Any]:
    """The SDK's ``ResponseWsError``: the HTTP error body plus ``type`` and the HTTP ``status``."""
    return {"type": "error", "status": status,
            "error": {"type": type, "code": code, "message": message, "param": param}}


def _from_api_error(exc: ApiError) -> dict[str, Any]:
    return error_event(exc.status, exc.message, type=exc.type, param=exc.param, code=exc.code)


class _Closed(Exception):
    """The client went away; the connection's loop ends quietly."""


class ResponsesSocket:
    """One accepted connection: reads client messages in order and answers each in full."""

    def __init__(self, websocket: WebSocket, *, max_message_bytes: int) -> None:
        self.websocket = websocket
        self.engine = websocket.app.state.engine
        self.max_message_bytes = max_message_bytes
        self.cache = ConnectionCache()

    async def send(self, event: dict[str, Any]) -> None:
        """One event as one JSON text message."""
        try:
            await self.websocket.send_text(json.dumps(event))
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:
            raise _Closed() from exc

    async def serve(self) -> None:
        """Answer messages until the client closes."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            await self.answer(message.get("text"), message.get("bytes"))

    async def answer(self, text: str | None, data: bytes | None) -> None:
        """Parse one client message and dispatch it by ``type``; every failure is an error event."""
        size = len(text.encode("utf-8")) if text is not None else len(data or b"")
        if size > self.max_message_bytes:
            await self.send(error_event(TOO_LARGE, f"The message is {size} bytes; this server accepts "
                                                   f"at most {self.max_message_bytes}.", code="message_too_large"))
            return
        try:
            parsed = json.loads(text if text is not None else (data or b"").decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            await self.send(error_event(400, f"The message is not valid JSON ({exc}).", code="invalid_json"))
            return
        kind = parsed.get("type") if isinstance(parsed, dict) else None
        if kind == CREATE:
            await self.create(parsed)
        elif kind == STEER:
            await self.refuse_steer(parsed)
        else:
            shown = "no type" if kind is None else f"type {kind!r}"
            await self.send(error_event(
                400, f"Unsupported client event ({shown}): send a JSON object whose type is "
                     f"'{CREATE}' or '{STEER}'.", param="type", code="unknown_event_type"))

    async def create(self, message: dict[str, Any]) -> None:
        """``response.create``: prepare, stream every event, persist; the cache follows the chain."""
        body = {k: v for k, v in message.items() if k not in TRANSPORT_FIELDS}
        previous = body.get("previous_response_id")
        try:
            if body.get("background"):
                raise ApiError(400, "background is not supported in WebSocket mode; every response "
                                    "streams on the socket.", param="background", code="unsupported_parameter")
            turn = self.engine.prepare(body, known=self.cache.known)
            events = self.engine.run(turn)  # its terminal event comes once the response is stored
            async with contextlib.aclosing(events):
                async for event in events:
                    await self.send(event)
        except ApiError as exc:
            self.cache.evict(previous)
            await self.send(_from_api_error(exc))
            return
        if turn.response.get("status") in CHAINABLE_STATUSES:
            self.cache.remember(turn)
        else:
            self.cache.evict(previous)

    async def refuse_steer(self, message: dict[str, Any]) -> None:
        """``response.steer``: not supported here, said with the SDK's typed failure event."""
        await self.send({
            "type": "response.steer.failed", "sequence_number": 0,
            "error": {"type": INVALID_REQUEST, "code": "steering_not_supported",
                      "message": "This server does not support steering; send the input with the next "
                                 "response.create instead."},
            "steer": {"input": message.get("input"), "previous_response_id": message.get("previous_response_id")},
        })


async def responses_socket(websocket: WebSocket) -> None:
    """The WebSocket endpoint on ``/v1/responses``."""
    await websocket.accept()
    limit = getattr(websocket.app.state, "ws_max_message_bytes", MAX_MESSAGE_BYTES)
    connection = ResponsesSocket(websocket, max_message_bytes=limit)
    try:
        await connection.serve()
    except _Closed:
        return
    except Exception:  # noqa: BLE001 - the last line of defence: say so, then close with a reason
        log.exception("WebSocket connection failed")
        with contextlib.suppress(_Closed):
            await connection.send(error_event(500, "The server failed while answering this connection.",
                                              type=SERVER_ERROR, code=SERVER_ERROR))
        with contextlib.suppress(Exception):
            await websocket.close(code=1011, reason="internal error")


ROUTE = WebSocketRoute(PATH, responses_socket)
