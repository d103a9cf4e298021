"""The plumbing of the HTTP deviant routers: a deviation sees each exchange as a call and an answer.

A deviation is a ``Handler``: it gets the client's ``Call`` and ``forward``, which runs the real
router (on the call as sent, or on a changed one) and returns its buffered JSON ``Answer``; what
the handler returns is what the client gets. ``Deviant`` is the ASGI layer that does this around
the router. Streams (``text/event-stream``) are passed straight through, never buffered.
tests/deviants.py and tests/client_deviants.py build their deviations from these blocks.
"""
from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CREATE = re.compile(r"^(?:/v1)?/responses$")
_SAME = object()  # forward(): send the request body unchanged


# -- the exchange as a deviation sees it ---------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One client request: method, path and the parsed JSON body (None when there is none)."""

    method: str
    path: str
    body: Any


@dataclass(frozen=True)
class Answer:
    """A buffered JSON (or other non-stream) answer from the router."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON, or None."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def with_json(self, body: Any, status: int | None = None) -> "Answer":
        """The same answer carrying ``body`` (and ``status``) instead."""
        # content-length is recomputed when the answer is sent
        return Answer(self.status if status is None else status, self.headers, json.dumps(body).encode())

    @classmethod
    def of_json(cls, status: int, body: Any) -> "Answer":
        """A fresh JSON answer."""
        return cls(status, [(b"content-type", b"application/json")], json.dumps(body).encode())


Forward = Callable[..., Awaitable[Answer | None]]
Handler = Callable[[Call, Forward], Awaitable[Answer | None]]


async def _run(app: ASGIApp, scope: Scope, content: bytes, receive: Receive, send: Send) -> Answer | None:
    """Call ``app``; buffer a non-stream answer and return it, pass a stream straight through (None)."""
    delivered = False
    start: Message = {}
    chunks: list[bytes] = []
    streaming = False

    async def inner_receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": content, "more_body": False}
        return await receive()  # after the body: the real disconnect, so streams still see it

    async def inner_send(message: Message) -> None:
        nonlocal streaming
        if message["type"] == "http.response.start":
            start.update(message)
            kind = dict(message.get("headers", [])).get(b"content-type", b"")
            streaming = kind.startswith(b"text/event-stream")
            if streaming:
                await send(message)
        elif streaming:
            await send(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, inner_receive, inner_send)
    if streaming or not start:
        return None
    return Answer(start["status"], list(start.get("headers", [])), b"".join(chunks))


class Deviant:
    """ASGI middleware handing every HTTP exchange to one deviation's ``handler``.

    The handler gets the ``Call`` and ``forward(method=, path=, body=)``, which runs the real
    router (optionally on a changed request) and returns its buffered ``Answer``, or None once a
    stream has been passed through. Lifespan and other scopes go to the router untouched.
    """

    def __init__(self, app: ASGIApp, handler: Handler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        call = Call(scope["method"], scope["path"], parsed)

        async def forward(*, method: str | None = None, path: str | None = None,
                          body: Any = _SAME) -> Answer | None:
            content = raw if body is _SAME else b"" if body is None else json.dumps(body).encode()
            sub = dict(scope)
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
            sub["headers"] = [*headers, (b"content-length", str(len(content)).encode())]
            if method is not None:
                sub["method"] = method
            if path is not None:
                sub.update(path=path, raw_path=path.encode(), query_string=b"")
            return await _run(self.app, sub, content, receive, send)

        answer = await self.handler(call, forward)
        if answer is not None:
            headers = [(k, v) for k, v in answer.headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(answer.body)).encode()))
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body})


# -- building blocks -----------------------------------------------------------------------------
def edit_response(answer: Answer | None, change: Callable[[dict[str, Any]], None]) -> Answer | None:
    """Apply ``change`` to a JSON Response object answer; anything else is returned as is."""
    body = answer.json() if answer is not None else None
    if not (isinstance(body, dict) and body.get("object") == "response"):
        return answer
    change(body)
    return answer.with_json(body)  # type: ignore[union-attr]


def on_responses(change: Callable[[Call, dict[str, Any]], None]) -> Handler:
    """A handler forwarding every call unchanged and letting ``change`` edit each Response answered."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        return edit_response(await forward(), lambda response: change(call, response))
    return handler


def on_errors(change: Callable[[Answer, Any], Answer]) -> Handler:
    """A handler forwarding every call unchanged and letting ``change`` replace each error answer."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        answer = await forward()
        return change(answer, answer.json()) if answer is not None and answer.status >= 400 else answer
    return handler


def is_create(call: Call) -> bool:
    """Whether ``call`` creates a response (POST /responses with a JSON object body)."""
    return call.method == "POST" and bool(CREATE.match(call.path)) and isinstance(call.body, dict)


def rejecting(when: Callable[[dict[str, Any]], tuple[str, str] | None], *, code: str | None) -> Handler:
    """A handler answering a create for which ``when`` gives (param, message) with that 400."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        found = when(call.body) if is_create(call) and isinstance(call.body, dict) else None
        if found is None:
            return await forward()
        param, message = found
        return Answer.of_json(400, {"error": {"message": message, "type": "invalid_request_error",
                                              "param": param, "code": code}})
    return handler


def wrapper(factory: Callable[[], Handler]) -> Callable[[ASGIApp], ASGIApp]:
    """The ASGI wrapper serving the deviation ``factory`` builds around an app."""
    return lambda app: Deviant(app, factory())

