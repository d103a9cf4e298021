"""Deliberately wrong Responses API targets, to prove the harness fails them clearly and in time.

In the manner of Bowtie's "fauxmplementations": each behaviour below is one small, named way of
getting the protocol wrong, with a docstring saying what it does and what the harness must
report. The correct answer they start from is the reference router's own output for a fixed
chat reply (``translate_skeleton.response_object`` + ``ResponseStream``), so every failure is caused by
the one corruption and nothing else; ``conformant`` serves it untouched, as the control.

One server serves them all: a behaviour is the first path segment, so the suite's base URL is
``{url}/{behaviour}/v1``. Behaviours that hang wait for the client to leave, never forever, so
the server can stop when the test ends.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference_impl.stream import ResponseStream, encode_sse
from reference_impl.translate_skeleton import response_object
from upstream import Reply

ANSWER = "Paris is the answer."
DISCONNECT_POLL_S = 0.1
TRICKLE_INTERVAL_S = 0.5  # well under any per-read timeout: only a whole-exchange deadline ends it
HTML = b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>"
UNKNOWN_EVENT = "response.magic_happened"


def correct_events(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The conformant event sequence for ``request``: the router's stream of a fixed reply."""
    skeleton = response_object(request, response_id="resp_misbehaving", created_at=int(time.time()),
                               model=str(request.get("model", "m")), status="in_progress")
    stream = ResponseStream(skeleton)
    events = stream.start()
    for chunk in Reply(text=ANSWER, pieces=4).chunks():
        events += stream.feed(chunk)
    return events + stream.end_turn() + stream.finish()


def _sse_bytes(events: list[dict[str, Any]]) -> list[bytes]:
    return [encode_sse(e) for e in events]


def _sse(frames: list[bytes] | AsyncIterator[bytes]) -> StreamingResponse:
    async def gen() -> AsyncIterator[bytes]:
        if isinstance(frames, list):
            for frame in frames:
                yield frame
        else:
            async for frame in frames:
                yield frame
    return StreamingResponse(gen(), media_type="text/event-stream")


def _correct(request: dict[str, Any]) -> Response:
    events = correct_events(request)
    if request.get("stream"):
        return _sse(_sse_bytes(events))
    return JSONResponse(events[-1]["response"])


async def _until_gone(http: Request) -> None:
    while not await http.is_disconnected():
        await asyncio.sleep(DISCONNECT_POLL_S)


# -- the behaviours: (request JSON, HTTP request) -> response ------------------------------------

async def conformant(request: dict[str, Any], http: Request) -> Response:
    """The control: a correct answer (JSON, or SSE when streamed). The harness must pass it."""
    return _correct(request)


async def hang(request: dict[str, Any], http: Request) -> Response:
    """Never answers: no status line, no headers. Expect ``transport: ReadTimeout``."""
    await _until_gone(http)
    return Response(status_code=204)


async def stall_mid_stream(request: dict[str, Any], http: Request) -> Response:
    """Streams the first three events, then goes silent with the connection open.
    Expect ``transport: ReadTimeout`` (the per-read timeout)."""
    frames = _sse_bytes(correct_events(request))[:3]

    async def gen() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame
        await _until_gone(http)
    return _sse(gen())


async def trickle(request: dict[str, Any], http: Request) -> Response:
    """Starts a stream, then sends an SSE keep-alive comment every half second, forever.
    No single read times out; expect ``transport: DeadlineExceeded`` (the whole-exchange deadline)."""
    frames = _sse_bytes(correct_events(request))[:2]

    async def gen() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame
        while not await http.is_disconnected():
            await asyncio.sleep(TRICKLE_INTERVAL_S)
            yield b": still thinking\n\n"
    return _sse(gen())


async def invalid_json(request: dict[str, Any], http: Request) -> Response:
    """Answers 200 ``application/json`` with a body cut in half. Expect ``http.json``."""
    body = json.dumps(correct_events(request)[-1]["response"]).encode()
    return Response(body[: len(body) // 2], media_type="application/json")


async def html(request: dict[str, Any], http: Request) -> Response:
    """Answers 200 with an HTML page (a proxy's error page). Expect ``http.content_type``."""
    return Response(HTML, media_type="text/html")


async def truncated_sse(request: dict[str, Any], http: Request) -> Response:
    """Ends the stream cleanly before the terminal event. Expect ``lifecycle.terminal_missing``."""
    return _sse(_sse_bytes(correct_events(request))[:-1])


async def cut_mid_frame(request: dict[str, Any], http: Request) -> Response:
    """Closes the connection halfway through the last frame. Expect ``frame.truncated``."""
    frames = _sse_bytes(correct_events(request))
    return _sse(frames[:-1] + [frames[-1][: len(frames[-1]) // 2]])


async def invalid_json_event(request: dict[str, Any], http: Request) -> Response:
    """One frame's ``data:`` is not JSON. Expect ``frame.json``."""
    frames = _sse_bytes(correct_events(request))
    frames[2] = b"event: response.output_item.added\ndata: {\"type\": \"response.output_item.added\",\n\n"
    return _sse(frames)


async def unknown_event(request: dict[str, Any], http: Request) -> Response:
    """Sends an event type the SDK does not know (numbered in sequence). Expect ``event.unknown_type``."""
    events = correct_events(request)
    events.insert(2, {"type": UNKNOWN_EVENT, "sequence_number": 2})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return _sse(_sse_bytes(events))


async def sequence_gap(request: dict[str, Any], http: Request) -> Response:
    """Drops one event's sequence number from the count: 0, 1, 3, 4 … Expect ``sequence.contiguous``."""
    events = correct_events(request)
    for event in events[2:]:
        event["sequence_number"] += 1
    return _sse(_sse_bytes(events))


async def no_sequence_numbers(request: dict[str, Any], http: Request) -> Response:
    """Sends no ``sequence_number`` at all (as llama.cpp's own server does). Expect ``sequence.present``."""
    events = correct_events(request)
    for event in events:
        del event["sequence_number"]
    return _sse(_sse_bytes(events))


Behaviour = Callable[[dict[str, Any], Request], Any]
BEHAVIOURS: dict[str, Behaviour] = {f.__name__: f for f in (
    conformant, hang, stall_mid_stream, trickle, invalid_json, html, truncated_sse, cut_mid_frame,
    invalid_json_event, unknown_event, sequence_gap, no_sequence_numbers)}


async def _create(http: Request) -> Response:
    behaviour = BEHAVIOURS[http.path_params["behaviour"]]
    return await behaviour(json.loads(await http.body()), http)


async def _retrieve(http: Request) -> Response:
    return JSONResponse({"error": {"message": "not stored", "type": "invalid_request_error",
                                   "param": None, "code": "not_found"}}, status_code=404)


def build_app() -> Starlette:
    """The one app serving every behaviour under ``/{behaviour}/v1``."""
    return Starlette(routes=[
        Route("/{behaviour}/v1/responses", _create, methods=["POST"]),
        Route("/{behaviour}/v1/responses/{response_id}", _retrieve, methods=["GET"]),
    ])
