"""A fast canned Chat Completions upstream for the benchmarks, as a bare ASGI app.

It owns the baseline the router is measured against: ``POST /v1/chat/completions`` answers
every request with the same pre-encoded SSE body (a role chunk, `TEXT_PIECES` content chunks, a
finish chunk, a usage chunk and ``[DONE]``) in one ASGI body message, without parsing the request.
``GET /v1/models`` lists `MODEL`; anything else is a 404 (so the router's ``/props`` probe sees
a capable, non-llama.cpp backend and applies no adapter).

Its server stack is pinned (`SERVER_LOOP`, `SERVER_HTTP`: uvicorn on the stdlib asyncio loop with
the pure-Python h11 parser), whatever else the environment installs: the router may run on uvloop
and httptools, and a baseline that sped up with them would move every ratio (with both, this
upstream answers about 5 times faster). Run it as its own process so it never shares a GIL with
the router or the load generator::

    python benchmarks/upstream.py --port 8101
"""
from __future__ import annotations

import argparse
import json
from typing import Any

MODEL = "bench-model"
TEXT = "The quick brown fox jumps over the lazy dog, and then it naps in the warm afternoon sun."
TEXT_PIECES = 8
USAGE = {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}
# The baseline's own stack, fixed and stated (docs/benchmarks.md): not uvicorn's "auto" choice.
SERVER_LOOP = "asyncio"
SERVER_HTTP = "h11"


def canned_chunks() -> list[dict]:
    """The chat.completion.chunk objects of the canned reply, in order."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}]
    size = -(-len(TEXT) // TEXT_PIECES)
    for start in range(0, len(TEXT), size):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": TEXT[start:start + size]},
                                            "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**base, "choices": [], "usage": USAGE})
    return chunks


def canned_body() -> bytes:
    """The whole SSE body the upstream sends for every chat request."""
    frames = [f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n" for chunk in canned_chunks()]
    return ("".join(frames) + "data: [DONE]\n\n").encode()


def chat_request_body() -> dict:
    """The Chat Completions request the load generator sends when it calls the upstream directly."""
    return {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about foxes."}],
            "stream": True, "stream_options": {"include_usage": True}}


def responses_request_body(*, store: bool, stream: bool = False) -> dict:
    """The Responses request sent to the router for the same conversation."""
    return {"model": MODEL, "input": "Tell me about foxes.", "store": store, "stream": stream}


_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_JSON_HEADERS = [(b"content-type", b"application/json")]


class CannedUpstream:
    """The ASGI app. Each response is one ``http.response.start`` and one body message."""

    def __init__(self) -> None:
        self.chat_body = canned_body()
        self.models_body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()
        self.not_found = b'{"error":{"message":"not found"}}'

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Serve one request (lifespan messages are acknowledged)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:  # drain the request body without parsing it
            message = await receive()
            more = message.get("more_body", False)
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == "/v1/chat/completions":
            status, headers, body = 200, _SSE_HEADERS, self.chat_body
        elif method == "GET" and path == "/v1/models":
            status, headers, body = 200, _JSON_HEADERS, self.models_body
        else:
            status, headers, body = 404, _JSON_HEADERS, self.not_found
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    """Serve `CannedUpstream` on 127.0.0.1 until SIGTERM/SIGINT."""
    import uvicorn

    parser = argparse.ArgumentParser(description="canned Chat Completions upstream for benchmarks")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(CannedUpstream(), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, lifespan="on", loop=SERVER_LOOP, http=SERVER_HTTP)


if __name__ == "__main__":
    main()
