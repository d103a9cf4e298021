"""API errors: one exception type and the handlers that give every error the OpenAI shape.

Every non-2xx body the router sends is ``{"error": {"message", "type", "param", "code"}}``:
validation failures, unknown routes (404), wrong methods (405), unparsable JSON and unexpected
exceptions (500, type ``server_error``). Nothing else in the router builds error bodies.
"""
from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("reference_impl")

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
NOT_FOUND_CODE = "not_found"
# Status -> (type, code) for errors Starlette raises itself (routing, methods).
HTTP_DEFAULTS: dict[int, tuple[str, str | None]] = {
    404: (INVALID_REQUEST, NOT_FOUND_CODE),
    405: (INVALID_REQUEST, "method_not_allowed"),
}


class ApiError(Exception):
    """An error the client caused or must see, with its HTTP status and OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """The wire body ``{"error": {...}}``."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def response(self) -> JSONResponse:
        """This error as a Starlette JSON response."""
        return JSONResponse(self.body(), status_code=self.status)


def error_body(
    message: str, *, type: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """Build the OpenAI error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def not_found(kind: str, ident: str, *, param: str | None = None) -> ApiError:
    """The 404 used for every unknown id (responses, input items)."""
    return ApiError(404, f"No {kind} found with id '{ident}'.", param=param, code=NOT_FOUND_CODE)


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    etype, code = HTTP_DEFAULTS.get(exc.status_code, (INVALID_REQUEST, None))
    if exc.status_code >= 500:
        etype = SERVER_ERROR
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        message = f"Unknown path {request.method} {request.url.path}."
    return JSONResponse(
        error_body(message, type=etype, code=code),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


EXCEPTION_HANDLERS = {ApiError: _api_error_handler, HTTPException: _http_error_handler}


class CatchAllMiddleware:
    """Turn an unexpected exception into a 500 with the error shape, if nothing was sent yet.

    Starlette's own handler for ``Exception`` re-raises after answering; this one logs and stops,
    so the server stays quiet and the client always gets JSON.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:  # noqa: BLE001 - the last line of defence
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                return
            body = error_body("The server had an error while processing your request.", type=SERVER_ERROR)
            response = JSONResponse(body, status_code=500)
            await response(scope, receive, send)
