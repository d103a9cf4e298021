"""One backend turn of a response: the request sent to a Chat Completions (or native) backend
for the history, the input and the outputs so far, and the chunks it streams back.

Owns the chat body of a turn (the MCP tools added, a named MCP tool chosen, no tools once
``max_tool_calls`` is reached), the adapters a weak backend needs (images degraded, a tool call
forced through ``response_format``), context-overflow retries under ``truncation: "auto"``, and
`OpenedTurn`, a turn whose first chunk is read before the response's first event. Separate from
engine.py, which decides when turns run and what becomes of their chunks: this module only talks
to the backend pool. The chunk generators here are on the per-chunk path and stay direct
(each chunk is yielded by one generator over the pool's own).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import adapters, context, native, translate
from .backend import RESPONSES_PATH, Backend, BackendError, BackendPool
from .context import ContextOverflow
from .turn import Turn

if TYPE_CHECKING:
    from .mcp import McpToolset

MAX_TRUNCATIONS = 3  # backend rejections retried with a shorter history under truncation auto


async def _forced_chunks(pool: BackendPool, backend: Backend, forced: dict) -> AsyncIterator[dict]:
    """Run a forced-tool-call request and re-emit its JSON reply as ordinary tool-call chunks."""
    content: list[str] = []
    usage: dict | None = None
    finish: str | None = None
    async for chunk in pool.stream(backend, forced):
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            content.append((choice.get("delta") or {}).get("content") or "")
            finish = choice.get("finish_reason") or finish
    for chunk in adapters.forced_reply_to_chunks("".join(content), usage, finish_reason=finish):
        yield chunk


def _calls_exhausted(request: dict, outputs: list[dict]) -> bool:
    """Whether this response already made ``max_tool_calls`` tool calls."""
    limit = request.get("max_tool_calls")
    made = sum(1 for o in outputs if o.get("type") in ("function_call", "custom_tool_call", "mcp_call"))
    return isinstance(limit, int) and made >= limit


def _choose_mcp_tool(body: dict, choice: Any, toolset: McpToolset | None) -> None:
    """A named MCP tool choice (``{type: mcp, server_label, name}``) forces that tool's chat function."""
    if toolset is None or not isinstance(choice, dict) or choice.get("type") != "mcp" \
            or not choice.get("name") or body.get("tool_choice") != "required":
        return
    for tool in body.get("tools") or []:
        name = tool["function"]["name"]
        if toolset.owns(name) and toolset.describe(name) == (choice.get("server_label"), choice["name"]):
            body["tool_choice"] = {"type": "function", "function": {"name": name}}
            return


async def _first_chunk(chunks: AsyncIterator[dict]) -> dict:
    """The first chunk of a backend turn (`StopAsyncIteration` when there is none)."""
    return await anext(chunks)


class OpenedTurn:
    """A backend turn whose first chunk is read before the response's first event."""

    def __init__(self, chunks: AsyncIterator[dict]) -> None:
        self._chunks = chunks
        self._ahead: asyncio.Future | None = None  # the first chunk, read by its own task
        self._head: list[dict] = []  # or read inline: at most that chunk
        self._error: Exception | None = None  # what reading it inline raised, for `chunks`

    async def overflow(self, timeout: float | None) -> ContextOverflow | None:
        """Wait up to ``timeout`` for the backend's answer; its context rejection, if it was one.

        Any other outcome (a chunk, another failure, no answer yet) is for `chunks` to deliver.
        ``timeout`` None waits as long as it takes, in this task: a non-streamed response has no
        first event to send meanwhile, and a read ahead by a task costs as much CPU as a
        quarter of the stream it reads (docs/benchmarks.md).
        """
        if timeout is None:
            try:
                self._head.append(await anext(self._chunks))
            except StopAsyncIteration:
                pass
            except ContextOverflow as exc:
                return exc
            except Exception as exc:  # noqa: BLE001 - delivered by chunks(), as from the task
                self._error = exc
            return None
        self._ahead = asyncio.ensure_future(_first_chunk(self._chunks))
        done, _ = await asyncio.wait({self._ahead}, timeout=timeout)
        if done and not self._ahead.cancelled() and isinstance(self._ahead.exception(), ContextOverflow):
            return self._ahead.exception()
        return None

    async def chunks(self) -> AsyncIterator[dict]:
        """The turn's chunks, the one read ahead first."""
        try:
            if self._ahead is not None:
                try:
                    chunk = await self._ahead
                except StopAsyncIteration:
                    return
                yield chunk
            if self._error is not None:
                raise self._error
            for chunk in self._head:
                yield chunk
            async for chunk in self._chunks:
                yield chunk
        finally:
            await self._chunks.aclose()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        """Stop reading (the client went away, or the turn is over)."""
        if self._ahead is not None:
            if not self._ahead.done():
                self._ahead.cancel()
            await asyncio.gather(self._ahead, return_exceptions=True)
        await self._chunks.aclose()  # type: ignore[attr-defined]


class BackendTurns:
    """The backend turns of responses, sent through one backend pool."""

    def __init__(self, pool: BackendPool) -> None:
        self.pool = pool

    def chat_body(self, turn: Turn, outputs: list[dict], extra_tools: list[dict]) -> dict:
        """The chat body for history + input + outputs so far (before adapters)."""
        request = turn.request
        if any(o.get("type") == "mcp_call" for o in outputs):
            # A forced choice is satisfied once a tool has run; forcing again would loop.
            request = {**request, "tool_choice": "auto"}
        current = (turn.input_items if turn.chat_inputs is None else turn.chat_inputs) + outputs
        if turn.backend.native:
            return native.upstream_body(request, current, turn.history, extra_tools)
        body = translate.chat_request({**request, "input": current}, turn.history, model=request["model"])
        if extra_tools:
            body["tools"] = body.get("tools", []) + extra_tools
            _choose_mcp_tool(body, request.get("tool_choice"), turn.toolset)
        if _calls_exhausted(request, outputs):
            # max_tool_calls reached: the model may only answer now.
            for key in ("tools", "tool_choice", "parallel_tool_calls"):
                body.pop(key, None)
        return body

    def send(self, backend: Backend, body: dict) -> AsyncIterator[dict]:
        """Stream one chat body to ``backend``, with the adapters its capabilities need."""
        if backend.native:
            return native.events_to_chunks(self.pool.stream(backend, body, path=RESPONSES_PATH))
        body, forced = self.adapted(backend, body)
        if forced:
            return _forced_chunks(self.pool, backend, body)
        return self.pool.stream(backend, body)

    @staticmethod
    def adapted(backend: Backend, body: dict) -> tuple[dict, bool]:
        """(the chat body after the adapters ``backend`` needs, whether a tool call is forced)."""
        if backend.native:
            return body, False
        if not backend.caps.vision:
            body = adapters.degrade_images(body)
        forced = None if backend.caps.native_tool_choice else adapters.force_tool_call_request(body)
        return (body, False) if forced is None else (forced, True)

    async def chunks(self, turn: Turn, outputs: list[dict],
                              extra_tools: list[dict]) -> AsyncIterator[dict]:
        """One backend turn's chunks. A context rejection is a `ContextOverflow`, or, under
        ``truncation: "auto"``, the oldest messages are dropped until the request fits."""
        body = self.chat_body(turn, outputs, extra_tools)
        for attempt in range(MAX_TRUNCATIONS + 1):
            chunks = self.send(turn.backend, body)
            started = False
            try:
                async with contextlib.aclosing(chunks):
                    async for chunk in chunks:
                        started = True
                        yield chunk
                return
            except BackendError as exc:
                if started or not context.is_overflow(exc):
                    raise
                auto = turn.request.get("truncation") == "auto" and not turn.backend.native
                if not auto or attempt == MAX_TRUNCATIONS:
                    raise exc if isinstance(exc, ContextOverflow) else ContextOverflow(exc.message) from exc
                body = await self.fit(turn.backend, body, exc)

    async def fit(self, backend: Backend, body: dict, exc: BackendError) -> dict:
        """``body`` truncated to the backend's window, counted by its tokenizer when it has one."""
        counts = context.counts_from(exc)
        window = counts[1] if counts else backend.caps.context_window
        if backend.caps.tokenizer and window:
            async def count(candidate: dict) -> int:
                return await self.pool.count_tokens(backend, candidate)
            try:
                return await context.fit(body, count=count, window=window)
            except ContextOverflow:
                raise
            except BackendError:
                pass  # no usable tokenizer after all: estimate below
        estimate = context.estimator(body, exc)
        if estimate is None:
            raise ContextOverflow(exc.message) from exc
        count, window = estimate
        return await context.fit(body, count=count, window=window)
