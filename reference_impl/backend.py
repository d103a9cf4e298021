"""Chat Completions backends: discovery, choice, and streaming calls with retries.

`BackendPool` knows the backends: it discovers their models (``GET /v1/models``) and
capabilities (llama.cpp ``GET /props``), picks one by model and then by fewest requests in
flight, and streams a request to it. The bytes go through a `BackendTransport`: backend_http.py's
`LiveTransport` speaks HTTP (retrying connect errors and 5xx before the first byte, decoding the
SSE body into chunk dicts); recording.py wraps it to record, or replaces it to replay.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .jsoncodec import loads

READ_TIMEOUT = 120.0  # per read: a backend silent this long is treated as failed
CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MODELS_PATH = "/v1/models"
PROPS_PATH = "/props"
TEMPLATE_PATH = "/apply-template"  # llama.cpp: chat messages -> the prompt text
TOKENIZE_PATH = "/tokenize"        # llama.cpp: text -> tokens
# Chat body fields llama.cpp's template renders into the prompt (the rest shape sampling only).
TEMPLATE_FIELDS = ("messages", "tools", "tool_choice", "parallel_tool_calls")
REPLAY_URL = "replay://"  # the backend of a router replaying recordings without any URL


class BackendError(Exception):
    """A failed backend exchange. ``status`` is the upstream HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "server_error",
                 body: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body  # the upstream's error body (cut short), for an HTTP error status


class ModelNotFound(BackendError):
    """No backend serves the requested model."""


@dataclass
class Capabilities:
    """What a backend can do natively; backend_turn.py applies adapters for what it cannot."""

    native_tool_choice: bool = True
    vision: bool = True
    tokenizer: bool = False  # llama.cpp's /apply-template and /tokenize
    context_window: int | None = None  # tokens, when the backend says (llama.cpp /props)


@dataclass
class Backend:
    """One upstream endpoint. ``models`` None means unknown (discovery failed): serves anything."""

    base_url: str
    native: bool = False
    models: set[str] | None = None
    caps: Capabilities = field(default_factory=Capabilities)
    in_flight: int = 0


def server_root(url: str) -> str:
    """The server root of a backend URL: users give the OpenAI-style ``…/v1`` root or the bare host."""
    root = url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def parse_chunk(data: str) -> dict:
    """One SSE data payload → chunk dict; `BackendError` when malformed or an error object."""
    try:
        chunk = loads(data)
    except json.JSONDecodeError as exc:
        raise BackendError(f"backend sent a malformed chunk: {data[:200]!r}") from exc
    if not isinstance(chunk, dict):
        raise BackendError(f"backend sent a chunk that is not an object: {data[:200]!r}")
    if "error" in chunk and "choices" not in chunk:
        err = chunk["error"]
        message = err.get("message") if isinstance(err, dict) else str(err)
        raise BackendError(f"backend error: {message}")
    return chunk


class BackendTransport(Protocol):
    """How the pool exchanges bytes with a backend: live, recording or replaying."""

    offline: bool  # True when it needs no backend URL (replay)

    async def get_json(self, base_url: str, path: str) -> Any:
        """GET ``path`` as JSON; `BackendError` on any failure."""

    async def post_json(self, base_url: str, path: str, body: dict) -> Any:
        """POST ``body`` and return the JSON reply; `BackendError` on any failure."""

    def stream(self, base_url: str, path: str, body: dict) -> AsyncIterator[dict]:
        """POST ``body`` and yield each streamed chunk; `BackendError` on failure."""

    async def aclose(self) -> None:
        """Release connections."""


class BackendPool:
    """The router's backends. Create, `await start()`, use, `await aclose()`."""

    def __init__(self, urls: list[str], *, transport: BackendTransport,
                 native_urls: list[str] | None = None) -> None:
        """``transport``: recording.transport_for's live, recording or replaying transport."""
        self.transport = transport
        self.backends = [Backend(server_root(u)) for u in urls]
        self.backends += [Backend(server_root(u), native=True) for u in native_urls or []]
        if not self.backends and self.transport.offline:
            self.backends = [Backend(REPLAY_URL)]
        if not self.backends:
            raise ValueError("at least one backend URL is required")

    async def start(self) -> None:
        """Discover models and capabilities of every backend; failures leave it permissive."""
        await asyncio.gather(*(self._discover(b) for b in self.backends))

    async def _discover(self, backend: Backend) -> None:
        try:
            listing = await self.transport.get_json(backend.base_url, MODELS_PATH)
            backend.models = {m["id"] for m in listing.get("data", []) if isinstance(m, dict) and "id" in m}
        except (BackendError, KeyError, TypeError, AttributeError):
            backend.models = None
        try:
            props = await self.transport.get_json(backend.base_url, PROPS_PATH)
        except BackendError:
            return  # not llama.cpp: assume a capable backend
        # llama.cpp neither enforces "required" nor accepts a named tool_choice.
        backend.caps.native_tool_choice = False
        modalities = props.get("modalities") if isinstance(props, dict) else None
        backend.caps.vision = bool(isinstance(modalities, dict) and modalities.get("vision"))
        backend.caps.tokenizer = True
        settings = props.get("default_generation_settings") if isinstance(props, dict) else None
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        backend.caps.context_window = n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None

    def choose(self, model: str) -> Backend:
        """The backend for ``model``: those that list it (else those with unknown models), least busy."""
        candidates = [b for b in self.backends if b.models is not None and model in b.models]
        candidates = candidates or [b for b in self.backends if b.models is None]
        if not candidates:
            raise ModelNotFound(f"The model '{model}' does not exist.", status=404, code="model_not_found")
        return min(candidates, key=lambda b: b.in_flight)

    def list_models(self) -> list[dict]:
        """Every discovered model in the ``/v1/models`` shape (unique ids)."""
        ids = sorted({m for b in self.backends for m in (b.models or ())})
        return [{"id": m, "object": "model", "created": 0, "owned_by": "reference_impl"} for m in ids]

    async def stream(self, backend: Backend, body: dict, *, path: str = CHAT_PATH) -> AsyncIterator[dict]:
        """POST ``body`` to ``path`` and yield each streamed chunk; `BackendError` on failure."""
        backend.in_flight += 1
        try:
            # Closed here, not left to the garbage collector: a recording of a response the
            # router stopped reading must be written when it stops.
            async with contextlib.aclosing(self.transport.stream(backend.base_url, path, body)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            backend.in_flight -= 1

    async def count_tokens(self, backend: Backend, body: dict, *, exact: bool = False) -> int:
        """The prompt size of a chat body with the backend's own template and tokenizer.

        ``exact``: the template also renders the tools (as the chat request does) and the tokenizer
        adds the special tokens the server adds to a prompt, so the count is the request's
        ``prompt_tokens``. Without it (truncation's probes) only the messages are rendered.
        """
        template_body = {k: body[k] for k in TEMPLATE_FIELDS if k in body} if exact else {"messages": body["messages"]}
        template = await self.transport.post_json(backend.base_url, TEMPLATE_PATH, template_body)
        prompt = template.get("prompt") if isinstance(template, dict) else None
        if not isinstance(prompt, str):
            raise BackendError(f"POST {TEMPLATE_PATH}: no prompt in the reply")
        tokenize_body = {"content": prompt, "add_special": True} if exact else {"content": prompt}
        tokens = await self.transport.post_json(backend.base_url, TOKENIZE_PATH, tokenize_body)
        if not isinstance(tokens, dict) or not isinstance(tokens.get("tokens"), list):
            raise BackendError(f"POST {TOKENIZE_PATH}: no tokens in the reply")
        return len(tokens["tokens"])

    async def aclose(self) -> None:
        """Close the transport's connections."""
        await self.transport.aclose()
