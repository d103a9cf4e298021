"""Deviant routers that break real clients: the real router with one thing wrong that a client trips on.

Each deviation is what real clients send or expect on the wire, met the way a gateway gets it
wrong: a field both Agents SDKs send on every request refused, the tool output every client sends
back (with its call in the same input, no ``previous_response_id``) refused, a stream cut before
its terminal event. Each was chosen from the clients' own requests, captured through the harness's
proxy against the router without a deviation, not from the suite's.
tests/deviants.py serves them with the others, and tests/test_deviations_clients.py requires the
clients profile to fail each one, naming the client, its scenario and what went wrong.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from deviant_http import ASGIApp, Handler, Message, Receive, Scope, Send, rejecting, wrapper

# The events that end a response's stream (the grammar's lifecycle.terminal rule).
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# What the OpenAI API itself answers for a tool output whose call it cannot find.
NO_TOOL_CALL = "No tool call found for function call output with call_id {call_id}."


def include_rejected() -> Handler:
    """include, which both Agents SDKs send on every request (an empty list too), is a 400 unknown_parameter."""
    # The Agents SDKs send ``include: []`` even when nothing is asked for, so a gateway with a
    # strict request schema that lacks the field refuses their very first turn.
    return rejecting(lambda body: ("include", "Unknown parameter: 'include'.") if "include" in body else None,
                     code="unknown_parameter")


def function_output_needs_previous_response() -> Handler:
    """A function_call_output is looked up only in previous_response_id: one beside its call in the input is a 400."""
    # The clients' tool round trip resends the whole history, the function_call item beside its
    # output, without previous_response_id; a server that looks the call up in its store only
    # finds nothing and refuses the output.
    def when(body: dict[str, Any]) -> tuple[str, str] | None:
        if body.get("previous_response_id"):
            return None
        items = body.get("input") if isinstance(body.get("input"), list) else []
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                return f"input[{i}].call_id", NO_TOOL_CALL.format(call_id=item.get("call_id"))
        return None
    return rejecting(when, code=None)


def _event_type(frame: bytes) -> str | None:
    """The ``type`` of one SSE frame's JSON data, or None when it has none."""
    data = b"".join(line[5:].strip() for line in frame.split(b"\n") if line.startswith(b"data:"))
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        return None
    return parsed.get("type") if isinstance(parsed, dict) else None


def _dropping_events(app: ASGIApp, drop: Callable[[str | None], bool]) -> ASGIApp:
    """``app`` whose SSE answers lose every event for which ``drop(type)`` is true; the stream
    otherwise ends as the router ends it. JSON answers and other scopes pass untouched."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        streaming = False
        pending = b""  # the start of a frame whose blank line has not arrived yet

        async def deviant_send(message: Message) -> None:
            nonlocal streaming, pending
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                streaming = kind.startswith(b"text/event-stream")
            elif streaming and message["type"] == "http.response.body":
                # Frames end at a blank line; a body chunk may hold several or part of one.
                frames = (pending + message.get("body", b"")).split(b"\n\n")
                pending = frames.pop()
                kept = b"".join(f + b"\n\n" for f in frames if not drop(_event_type(f)))
                if not message.get("more_body", False):
                    kept, pending = kept + pending, b""
                message = {**message, "body": kept}
            await send(message)

        await app(scope, receive, deviant_send)

    return wrapped


def stream_without_terminal_event(app: ASGIApp) -> ASGIApp:
    """A stream ends without its terminal event: no response.completed (nor incomplete or failed)."""
    # A gateway that closes the stream when the model's text is done, before the final Response.
    return _dropping_events(app, lambda kind: kind in TERMINAL_EVENTS)


# name -> (one-line docstring, wrapper turning the correct app into the deviant one)
CLIENT_DEVIATIONS: dict[str, tuple[str, Callable[[ASGIApp], ASGIApp]]] = {
    **{f.__name__: ((f.__doc__ or "").strip(), wrapper(f))
       for f in (include_rejected, function_output_needs_previous_response)},
    stream_without_terminal_event.__name__: ((stream_without_terminal_event.__doc__ or "").strip(),
                                             stream_without_terminal_event),
}
