"""Deviant routers for WebSocket mode: the real router with one wrong thing on the socket.

Each deviation is one ASGI layer over ``websocket`` scopes that changes only the messages, the way
a gateway in front of a Responses server gets WebSocket mode wrong; HTTP passes untouched.
tests/deviants.py lists them with the others, and tests/test_deviations.py requires the suite's
websocket family to fail each one with a named rule.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# What a gateway that does not know the code forwards instead of previous_response_not_found.
UPSTREAM_FAILED = {"type": "error", "status": 502,
                   "error": {"type": "server_error", "code": None, "message": "upstream request failed",
                             "param": None}}
# What a gateway that does not know response.steer answers it with.
UNKNOWN_EVENT = {"type": "error", "error": {"type": "invalid_request_error", "code": None,
                                            "message": "unknown event", "param": None}}


def _on_socket(app: ASGIApp, *, outgoing: Callable[[dict], dict | None] | None = None,
               incoming: Callable[[dict], dict | None] | None = None) -> ASGIApp:
    """``app`` with each JSON message of a WebSocket rewritten: ``outgoing`` (server → client)
    returns the message to send, ``incoming`` (client → server) returns an answer to send back
    in the router's place (the router then never sees that message)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def deviant_send(message: Message) -> None:
            if outgoing is not None and message["type"] == "websocket.send" and message.get("text"):
                changed = outgoing(json.loads(message["text"]))
                message = {**message, "text": json.dumps(changed)}
            await send(message)

        async def deviant_receive() -> Message:
            while True:
                message = await receive()
                if incoming is None or message["type"] != "websocket.receive" or not message.get("text"):
                    return message
                try:
                    answer = incoming(json.loads(message["text"]))
                except ValueError:
                    answer = None
                if answer is None:
                    return message
                await send({"type": "websocket.send", "text": json.dumps(answer)})

        await app(scope, deviant_receive, deviant_send)

    return wrapped


def ws_sequence_numbers_dropped(app: ASGIApp) -> ASGIApp:
    """WebSocket events lose sequence_number (a gateway forwarding only what it knows)."""
    def drop(event: dict) -> dict:
        return {k: v for k, v in event.items() if k != "sequence_number"}
    return _on_socket(app, outgoing=drop)


def ws_not_found_untyped(app: ASGIApp) -> ASGIApp:
    """An unknown previous_response_id on the socket is a generic upstream error, not previous_response_not_found."""
    def untyped(event: dict) -> dict:
        code = (event.get("error") or {}).get("code") if event.get("type") == "error" else None
        return UPSTREAM_FAILED if code == "previous_response_not_found" else event
    return _on_socket(app, outgoing=untyped)


def ws_steer_untyped(app: ASGIApp) -> ASGIApp:
    """response.steer is answered with a bare error event instead of a response.steer.* event."""
    return _on_socket(app, incoming=lambda message: UNKNOWN_EVENT if message.get("type") == "response.steer" else None)


WS_DEVIATIONS: dict[str, tuple[str, Callable[[ASGIApp], ASGIApp]]] = {
    f.__name__: ((f.__doc__ or "").strip(), f)
    for f in (ws_sequence_numbers_dropped, ws_not_found_untyped, ws_steer_untyped)
}
