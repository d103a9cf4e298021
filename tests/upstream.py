"""A scripted Chat Completions upstream, and a helper to serve any ASGI app from a thread.

`ScriptedUpstream` answers ``POST /v1/chat/completions`` with the next `Reply` of its script
(text chunks, tool calls, HTTP errors, slowness, a disconnect or a malformed chunk mid-stream),
records every request body it received, and serves ``/v1/models`` (and ``/props`` when given).
`ServerThread` (from fixtures.processes) runs an app under uvicorn on a free loopback port, for the
upstream and the router.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fixtures.capture import default_ssl_context
from fixtures.processes import ServerThread, free_port  # noqa: F401 - the tests import free_port from here

DEFAULT_MODEL = "test-model"
GATE_POLL_S = 0.01  # how often a held reply looks at its gate


def sdk_client(base_url: str, *, api_key: str = "sk-test") -> openai.OpenAI:
    """The pinned openai SDK pointed at ``base_url`` (no retries: every answer is the first one).

    Its HTTP client shares the process's one TLS context: the SDK's own client makes a new one,
    loading the CA bundle (about 24 ms of CPU), for each of the tests' clients, all on loopback HTTP.
    """
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                         http_client=httpx2.Client(verify=default_ssl_context()))


def async_sdk_client(base_url: str, *, api_key: str = "sk-test") -> openai.AsyncOpenAI:
    """`sdk_client`, asynchronous."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                              http_client=httpx2.AsyncClient(verify=default_ssl_context()))


@dataclass
class Reply:
    """One scripted answer. Text is sent in ``pieces`` chunks; tool calls as (name, arguments)."""

    text: str = ""
    pieces: int = 3
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    finish_reason: str | None = None  # default: "tool_calls" with calls, else "stop"
    status: int = 200
    delay: float = 0.0            # seconds before each chunk
    first_delay: float = 0.0      # seconds before the first chunk only (a slow start)
    # Held after the first chunk (the role) until the test sets it: an answer that stays in flight
    # exactly as long as the test needs, where a fixed delay must guess and be waited out in full.
    # The first chunk goes out at once: the router reports a response in progress when its backend
    # has begun to answer (or after a second of silence).
    gate: threading.Event | None = field(default=None, compare=False)
    disconnect_after: int | None = None  # drop the connection after this many chunks
    malformed_after: int | None = None   # send a non-JSON data line after this many chunks
    usage: dict = field(default_factory=lambda: {"prompt_tokens": 7, "completion_tokens": 5,
                                                  "total_tokens": 12})
    reasoning: str = ""  # sent first, as delta.reasoning_content (llama.cpp, vLLM)
    refusal: str = ""    # sent after the text, as delta.refusal
    logprobs: int | None = None  # per text chunk, llama.cpp's logprobs.content with this many top

    @staticmethod
    def _pieces(text: str, pieces: int) -> list[str]:
        size = max(1, -(-len(text) // pieces))
        return [text[start:start + size] for start in range(0, len(text), size)]

    def _logprobs(self, piece: str) -> dict:
        top = [{"id": n, "token": piece if n == 0 else f"alt{n}", "bytes": list((piece if n == 0 else f"alt{n}").encode()),
                "logprob": -0.5 * (n + 1)} for n in range(self.logprobs or 0)]
        return {"content": [{"id": 0, "token": piece, "bytes": list(piece.encode()), "logprob": -0.5,
                             "top_logprobs": top}]}

    def chunks(self) -> list[dict]:
        """The chat.completion.chunk objects of this reply."""
        base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
                "model": DEFAULT_MODEL}
        out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
        for piece in self._pieces(self.reasoning, self.pieces) if self.reasoning else []:
            out.append({**base, "choices": [{"index": 0, "delta": {"reasoning_content": piece},
                                             "finish_reason": None}]})
        for piece in self._pieces(self.text, self.pieces) if self.text else []:
            choice: dict[str, Any] = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            if self.logprobs is not None:
                choice["logprobs"] = self._logprobs(piece)
            out.append({**base, "choices": [choice]})
        for piece in self._pieces(self.refusal, self.pieces) if self.refusal else []:
            out.append({**base, "choices": [{"index": 0, "delta": {"refusal": piece}, "finish_reason": None}]})
        for index, (name, arguments) in enumerate(self.tool_calls):
            out.append({**base, "choices": [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": index, "id": f"call_{index}", "type": "function",
                 "function": {"name": name, "arguments": ""}}]}}]})
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                out.append({**base, "choices": [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                    {"index": index, "function": {"arguments": part}}]}}]})
        finish = self.finish_reason or ("tool_calls" if self.tool_calls else "stop")
        out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        out.append({**base, "choices": [], "usage": self.usage})
        return out


class _Disconnect(Exception):
    """Raised inside the body iterator so uvicorn drops the connection mid-stream."""


class ScriptedUpstream:
    """The scripted server. ``requests`` holds every chat request body, in order."""

    def __init__(self, *, models: tuple[str, ...] = (DEFAULT_MODEL,), props: dict | None = None) -> None:
        self.models = models
        self.props = props
        self.replies: deque[Reply] = deque()
        self.requests: list[dict] = []
        self.abandoned = 0  # streamed answers whose reader went away before their end
        self.gates: list[threading.Event] = []  # of the held answers served, released by reset()
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/props", self._props, methods=["GET"]),
        ])

    def reset(self) -> None:
        """Forget scripted replies and received requests (between tests sharing one upstream)."""
        self.replies.clear()
        self.requests.clear()
        self.abandoned = 0
        for gate in self.gates:  # an answer a test left held must not outlive it
            gate.set()
        self.gates.clear()

    def script(self, *replies: Reply) -> None:
        """Queue replies; when the queue is empty the upstream answers "ok"."""
        self.replies.extend(replies)

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

    async def _props(self, request: Request) -> Response:
        if self.props is None:
            return JSONResponse({"error": {"message": "not found"}}, status_code=404)
        return JSONResponse(self.props)

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        reply = self.replies.popleft() if self.replies else Reply(text="ok")
        if reply.gate is not None:
            self.gates.append(reply.gate)
        if reply.status >= 400:
            return JSONResponse({"error": {"message": f"scripted {reply.status}", "type": "server_error"}},
                                status_code=reply.status)

        async def frames() -> Any:
            try:
                async for frame in self._frames(reply):
                    yield frame
            except asyncio.CancelledError:  # starlette saw the reader disconnect
                self.abandoned += 1
                raise

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def _frames(self, reply: Reply) -> Any:
        """The SSE frames of ``reply``, with its scripted slowness and faults."""
        for n, chunk in enumerate(reply.chunks()):
            while n == 1 and reply.gate is not None and not reply.gate.is_set():
                await asyncio.sleep(GATE_POLL_S)
            if reply.disconnect_after is not None and n == reply.disconnect_after:
                raise _Disconnect("scripted disconnect")
            if reply.malformed_after is not None and n == reply.malformed_after:
                yield b"data: {this is not json\n\n"
                continue
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if n == 0 and reply.first_delay:
                await asyncio.sleep(reply.first_delay)
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"


class Router:
    """The reference router under test, served from a thread, with an httpx2 client.

    ``upstreams`` are ScriptedUpstream URLs; extra keyword arguments go to RouterConfig.
    """

    def __init__(self, db_path: Any, upstreams: list[str], **config: Any) -> None:
        from reference_impl.app import RouterConfig, create_app  # the code under test

        self.config = RouterConfig(backends=upstreams, db=f"sqlite:///{db_path}", **config)
        self.server = ServerThread(create_app(self.config))
        self.url = self.server.url

    def __enter__(self) -> "Router":
        import httpx2

        from fixtures.capture import default_ssl_context

        self.server.__enter__()
        self.client = httpx2.Client(base_url=self.url, timeout=30, verify=default_ssl_context())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.client.close()
        self.server.__exit__(*exc)

    def create(self, **body: Any) -> Any:
        """POST /v1/responses with ``body`` (model defaults to the upstream's)."""
        body.setdefault("model", DEFAULT_MODEL)
        return self.client.post("/v1/responses", json=body)

    def wait_status(self, response_id: str, statuses: tuple[str, ...], timeout: float = 10) -> dict:
        """Poll GET until the response has one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.client.get(f"/v1/responses/{response_id}").json()
            if got.get("status") in statuses or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def serve_upstream(**kwargs: Any) -> Any:
    """A generator for a pytest fixture: a started ScriptedUpstream with its ``url`` set."""
    scripted = ScriptedUpstream(**kwargs)
    with ServerThread(scripted.app) as server:
        scripted.url = server.url  # type: ignore[attr-defined]
        try:
            yield scripted
        finally:
            scripted.reset()  # held answers end, so the server's shutdown does not wait on them


TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def stream_events(body: bytes, *, mode: str = "normal") -> list[dict]:
    """Parse an SSE body, check it against the streaming grammar, and return the event dicts.

    Uses fixtures.grammar when it exists; the framing checks here run in every case.
    """
    from fixtures.sse import parse_frames

    frames = parse_frames(body)
    events = []
    for frame in frames:
        event = frame.json()
        assert frame.event == event["type"], (frame.event, event["type"])
        events.append(event)
    seqs = [e["sequence_number"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True, seqs
    try:
        from fixtures.grammar import check_stream
    except ImportError:
        check_stream = None
    if check_stream is not None:
        violations = check_stream(frames, mode=mode)
        assert not violations, "\n".join(str(v) for v in violations)
    return events


class NativeUpstream(ScriptedUpstream):
    """A scripted upstream that speaks ``POST /v1/responses`` (streamed), for native passthrough.

    Each reply's text becomes upstream events with upstream ids the router must not leak.
    """

    UPSTREAM_ID = "resp_upstream_secret_id"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app.router.routes.append(Route("/v1/responses", self._responses, methods=["POST"]))

    async def _responses(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        reply = self.replies.popleft() if self.replies else Reply(text="ok")
        if reply.gate is not None:
            self.gates.append(reply.gate)
        base = {"id": self.UPSTREAM_ID, "object": "response", "status": "in_progress", "output": []}
        events = [{"type": "response.created", "response": base}]
        events += [{"type": "response.output_text.delta", "item_id": "msg_upstream", "delta": reply.text[i:i + 4]}
                   for i in range(0, len(reply.text), 4)]
        events.append({"type": "response.completed", "response": {
            **base, "status": "completed",
            "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}})

        async def frames() -> Any:
            for n, event in enumerate(events):
                yield f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': n})}\n\n".encode()

        return StreamingResponse(frames(), media_type="text/event-stream")


class ContextAwareUpstream(ScriptedUpstream):
    """A model stand-in whose answer depends on what it was sent, not on a script.

    It says ``REMEMBERED`` only when a message before the last one mentions ``FACT``, ``SEEN`` only
    when some message carries an ``image_url`` part, and ``UNKNOWN`` otherwise: so a router that
    drops a chain's context or an image gets a visibly different answer.
    """

    FACT = "42"
    REMEMBERED = "Your favourite number is 42."
    SEEN = "It is red."
    UNKNOWN = "I do not know."

    @staticmethod
    def _parts(message: dict) -> list[Any]:
        content = message.get("content")
        return content if isinstance(content, list) else [{"type": "text", "text": content or ""}]

    def answer(self, messages: list[dict]) -> str:
        """The text this stand-in answers to ``messages``."""
        parts = [p for m in messages for p in self._parts(m) if isinstance(p, dict)]
        if any(p.get("type") == "image_url" for p in parts):
            return self.SEEN
        earlier = [p for m in messages[:-1] for p in self._parts(m) if isinstance(p, dict)]
        if any(self.FACT in str(p.get("text") or "") for p in earlier):
            return self.REMEMBERED
        return self.UNKNOWN

    async def _chat(self, request: Request) -> Response:
        body = await request.json()  # Starlette caches it: the base class reads it again
        self.replies.appendleft(Reply(text=self.answer(body.get("messages") or [])))
        return await super()._chat(request)


class ContextLimitedUpstream(ScriptedUpstream):
    """A llama.cpp stand-in with a small context window: one word is one token.

    A chat request whose prompt exceeds ``window`` tokens is rejected with llama.cpp's own HTTP
    400 body; ``/props``, ``/apply-template`` and ``/tokenize`` answer as llama.cpp does
    (``tokenizer=False``: a server without them). ``tokenize_calls`` counts the tokenize calls.
    """

    def __init__(self, *, window: int = 100, tokenizer: bool = True, **kwargs: Any) -> None:
        props = {"default_generation_settings": {"n_ctx": window}, "modalities": {"vision": False}}
        super().__init__(props=props if tokenizer else None, **kwargs)
        self.window = window
        self.tokenize_calls = 0
        self.app.router.routes.append(Route("/apply-template", self._template, methods=["POST"]))
        self.app.router.routes.append(Route("/tokenize", self._tokenize, methods=["POST"]))

    def reset(self) -> None:
        super().reset()
        self.tokenize_calls = 0

    @staticmethod
    def prompt(messages: list[dict]) -> str:
        """The prompt text of ``messages`` (a stand-in for a chat template)."""
        def text(message: dict) -> str:
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
            return str(content or "")
        return "\n".join(f"{m.get('role')}: {text(m)}" for m in messages)

    @classmethod
    def tokens(cls, messages: list[dict]) -> int:
        """The prompt size in tokens (words)."""
        return len(cls.prompt(messages).split())

    async def _template(self, request: Request) -> Response:
        return JSONResponse({"prompt": self.prompt((await request.json())["messages"])})

    async def _tokenize(self, request: Request) -> Response:
        self.tokenize_calls += 1
        return JSONResponse({"tokens": list(range(len((await request.json())["content"].split())))})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        size = self.tokens(body.get("messages") or [])
        if size > self.window:
            self.requests.append(body)
            return JSONResponse({"error": {
                "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": size, "n_ctx": self.window,
                "message": f"request ({size} tokens) exceeds the available context size ({self.window} tokens), "
                           "try increasing it"}}, status_code=400)
        return await super()._chat(request)


def checked_stream(body: bytes, *, mode: str = "normal") -> list[dict]:
    """`stream_events` plus the schema of every event and of the final response (no errors)."""
    from fixtures.grammar import final_response
    from fixtures.schemas import errors_only, validate_event, validate_response
    from fixtures.sse import parse_frames

    events = stream_events(body, mode=mode)
    for event in events:
        issues = errors_only(validate_event(event))
        assert not issues, (event["type"], [str(i) for i in issues])
    final = final_response(parse_frames(body))
    if final is not None:
        issues = errors_only(validate_response(final))
        assert not issues, [str(i) for i in issues]
    return events
