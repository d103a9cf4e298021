"""The hub of the router: one create request in, an async iterator of events and a final response out.

No HTTP here. Every transport (HTTP JSON and SSE in routes.py, WebSocket messages in
websocket.py, the background runner) does the same three things:

1. `Engine.prepare` turns a body into a `Turn`, raising `ApiError` for anything that must be a
   4xx before an event exists: validation, the ``previous_response_id`` chain, approvals, the
   backend choice and a trial translation.
2. `Engine.events` yields the Responses events of that turn (one terminal event at the end unless
   the consumer stops early) and leaves the final Response in ``turn.response``. A backend
   failure becomes ``response.failed``; the iterator never hangs.
3. `Engine.persist` stores the final state (nothing when ``store`` is false).

`Engine.run` is 2 then 3 for a foreground transport (its terminal event after 3);
`Engine.complete` is the same for a non-streamed request, with a quiet `ResponseStream` that
builds the final Response and no event. The engine builds one `ResponseStream` per turn and feeds
it backend chunks and the items of the MCP loop; backends, the store, the cache and MCP are
services it calls. What one backend turn sends and how its chunks come back (the chat body,
adapters, truncation retries, the first chunk read ahead) is backend_turn.py; `Turn` is turn.py.

The first backend turn is opened before ``response.created``: a backend rejects a prompt beyond
its context window before it streams (context.py), and that must be a 400
``context_length_exceeded`` rather than a 200 stream that fails. So `Engine.events` raises
`ApiError` from its first step for such a rejection (a foreground transport awaits that first
step before it sends a status line), unless ``truncation: "auto"`` makes the request fit. The wait
of a stream is bounded by `OPEN_WAIT_SECONDS`: a backend that is busy generating gets its
``response.created`` then, and a rejection arriving later fails the response with the typed code
instead. A non-streamed response sends nothing before its end, so it waits as long as it takes
and its rejection is always the 400. A
background response was already answered with ``queued``: its overflow fails the response with
code ``context_length_exceeded`` (an ``error`` event, then ``response.failed``).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from . import (
    compaction, context, conversations, mcp_loop, reasoning, translate, translate_items, translate_skeleton,
    translate_tools,
)
from .backend import BackendError, BackendPool, ModelNotFound
from .backend_turn import BackendTurns, OpenedTurn
from .cache import ResponseCache
from .errors import ApiError
from .ids import new_id
from .sealing import Sealer
from .store import Store
from .store_writer import StoreWriter
from .stream import TERMINAL_EVENTS, ResponseStream
from .turn import Turn
from .validate import validate_create

CHAINABLE_STATUSES = ("completed", "incomplete")
FAILURE_CODE = "server_error"  # Response.error.code is an enum; backend failures are server errors
# How long the first backend turn may take to answer before response.created goes out anyway.
# Rejections (context overflow) come back after tokenization only, in milliseconds.
OPEN_WAIT_SECONDS = 1.0


class Engine:
    """Runs creates against a store, a backend pool and an optional cache."""

    def __init__(self, store: Store, pool: BackendPool, *, cache: ResponseCache | None = None,
                 hosted_tools: str = "reject", sealer: Sealer | None = None) -> None:
        """``hosted_tools``: ``reject`` (a 400 naming the tool) or ``drop`` (served without it);
        ``sealer``: seals and opens encrypted_content (a per-process key without one)."""
        if hosted_tools not in translate_tools.HOSTED_POLICIES:
            raise ValueError(f"hosted_tools must be one of {translate_tools.HOSTED_POLICIES}")
        self.store = store
        self.pool = pool
        self.cache = cache
        self.hosted_tools = hosted_tools
        self.sealer = sealer if sealer is not None else Sealer()
        self.writer = StoreWriter(store)
        self.backend_turns = BackendTurns(pool)

    async def aclose(self) -> None:
        """Finish the queued store writes and stop the writer thread."""
        await asyncio.to_thread(self.writer.close)

    # ------------------------------------------------------------ before any event

    def prepare(self, body: Any, *, known: Callable[[str], list[dict] | None] | None = None) -> Turn:
        """Validate and resolve a create body; `ApiError` for anything the client got wrong.

        ``known``: a transport's own memory of responses (the WebSocket connection's cache), asked
        first for the history of ``previous_response_id``, so that ``store: false`` chains continue
        on the connection that made them; None there falls back to the store.
        """
        request = self._without_hosted_tools(validate_create(body))
        request = self._resolve_references(request)
        conversation = conversations.conversation_id(request)
        previous = request.get("previous_response_id")
        remembered = known(previous) if known is not None and isinstance(previous, str) else None
        if conversation is not None:
            history = conversations.history(self.store, conversation)
        elif remembered is not None:
            history = remembered
        else:
            history = self._history(previous)
        try:
            input_items = translate_items.request_to_input_items(request)
            translate.chat_request(request, history, model=request["model"])
        except translate_items.TranslationError as exc:
            raise ApiError(400, exc.message, param=exc.param) from exc
        try:
            backend = self.pool.choose(request["model"])
        except ModelNotFound as exc:
            raise ApiError(404, exc.message, param="model", code="model_not_found") from exc
        chat_inputs = compaction.open_items(reasoning.open_items(input_items, self.sealer), self.sealer,
                                            compaction.input_param)
        # A stored compaction item is opened for the model each time its chain is continued.
        history = compaction.open_items(history, self.sealer,
                                        lambda _: "conversation" if conversation else "previous_response_id")
        mcp_loop.check_approvals(input_items, history)
        toolset = mcp_loop.toolset_for(request.get("tools") or [])
        status = "queued" if request.get("background") else "in_progress"
        response = translate_skeleton.response_object(
            request, response_id=new_id("resp"), created_at=int(time.time()),
            model=request["model"], status=status,
        )
        if conversation is not None:
            response["conversation"] = {"id": conversation}
        return Turn(request, response, input_items, history, backend, toolset, chat_inputs=chat_inputs)

    def _without_hosted_tools(self, request: dict) -> dict:
        """Refuse the first hosted tool by name, or drop them all (``hosted_tools="drop"``).

        Dropped tools are gone from the request, so the Response's ``tools`` lists what the
        model was offered; a ``tool_choice`` naming a dropped tool becomes ``auto``.
        """
        hosted = translate_tools.hosted_tools(request.get("tools"))
        if not hosted:
            return request
        if self.hosted_tools == "reject":
            index, kind = hosted[0]
            raise ApiError(400, translate_tools.hosted_tool_message(kind), param=f"tools[{index}]",
                           code=translate_tools.UNSUPPORTED_TOOL_CODE)
        dropped = {index for index, _ in hosted}
        request = {**request, "tools": [t for i, t in enumerate(request["tools"]) if i not in dropped]}
        choice = request.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in translate_tools.HOSTED_TOOL_TYPES:
            request["tool_choice"] = "auto"
        return request

    def _resolve_references(self, request: dict) -> dict:
        """Replace each ``item_reference`` input item by the stored item it names (an input or
        output item of a stored response); 404 naming ``input[i].id`` when there is none."""
        raw = request.get("input")
        if not isinstance(raw, list) or not any(translate_items.is_item_reference(i) for i in raw):
            return request
        resolved = []
        for position, item in enumerate(raw):
            if translate_items.is_item_reference(item):
                stored = self.store.get_item(item.get("id")) if isinstance(item.get("id"), str) else None
                if stored is None:
                    raise ApiError(404, f"Item with id '{item.get('id')}' not found.",
                                   param=f"input[{position}].id", code="item_not_found")
                item = stored
            resolved.append(item)
        return {**request, "input": resolved}

    def chain_history(self, previous_id: str | None) -> list[dict]:
        """The stored items a continuation of ``previous_id`` sees (400 if it cannot be continued)."""
        return self._history(previous_id)

    def outgoing_body(self, turn: Turn) -> dict:
        """The first chat body of ``turn`` exactly as `BackendTurns.send` would send it
        (input_tokens counts it)."""
        return self.backend_turns.adapted(turn.backend, self.backend_turns.chat_body(turn, [], []))[0]

    def _history(self, previous_id: str | None) -> list[dict]:
        if previous_id is None:
            return []
        previous = self.store.get_response(previous_id)
        if previous is None:
            raise ApiError(400, f"Previous response with id '{previous_id}' not found.",
                           param="previous_response_id", code="previous_response_not_found")
        if previous.get("status") not in CHAINABLE_STATUSES:
            raise ApiError(400, f"Previous response '{previous_id}' has status "
                                f"'{previous.get('status')}' and cannot be continued.",
                           param="previous_response_id", code="invalid_value")
        history: list[dict] = []
        for inputs, outputs in self.store.chain(previous_id):
            history += inputs + outputs
        return history

    # ------------------------------------------------------------ events

    async def events(self, turn: Turn, *, quiet: bool = False) -> AsyncIterator[dict]:
        """Yield every event of ``turn``'s response (ending with one terminal event, unless
        cancelled) and remember them in ``turn.events``; ``turn.response`` is then final.

        ``quiet``: yield nothing, only make ``turn.response`` final (`complete`). A request the
        cache takes part in is never quiet: its events are kept to answer a later SSE request.
        """
        quiet = quiet and not (self.cache is not None and self.cache.wants(turn.request))
        cached = self.cache.get(turn.request, response_id=turn.response["id"],
                                created_at=turn.response["created_at"]) if self.cache else None
        if cached is not None:
            for event in cached.events:
                turn.events.append(event)
                yield event
            turn.response = cached.response
            return
        tools = turn.request.get("tools")
        stream = ResponseStream(turn.response, tool_kinds=translate.tool_kinds(tools),
                                tool_names=translate_tools.tool_names(tools),
                                reasoning_summary=reasoning.wants_summary(turn.request),
                                seal=reasoning.sealing(turn.request, self.sealer), quiet=quiet)
        try:
            async for event in self._produce(turn, stream):
                turn.events.append(event)
                yield event
        finally:
            # Stopped before the first event (cancelled while listing MCP tools): the skeleton
            # stays, and the caller decides what a response that never started became.
            if stream.started:
                turn.response = stream.response if stream.terminated else stream.cancel()
        if self.cache is not None:
            self.cache.put(turn.request, turn.response, turn.events)

    async def run(self, turn: Turn) -> AsyncIterator[dict]:
        """What a foreground transport iterates: every event, with `persist` before the terminal one.

        A client may continue or fetch the response (on another connection, or another replica) the
        moment it reads the terminal event, so the response is stored by then. Storing happens only
        when the consumer reads to the end; a client that goes away mid-stream closes this
        generator at a ``yield`` and nothing is stored.
        """
        terminal = None
        async for event in self.events(turn):
            if event.get("type") in TERMINAL_EVENTS:
                terminal = event
            else:
                yield event
        await self.persist(turn)
        if terminal is not None:
            yield terminal

    async def complete(self, turn: Turn) -> dict:
        """A non-streamed request: run ``turn`` to its end without making events, `persist`, and
        return the final Response (the same object `run` leaves in ``turn.response``)."""
        async for _ in self.events(turn, quiet=True):
            pass
        await self.persist(turn)
        return turn.response

    async def _produce(self, turn: Turn, stream: ResponseStream) -> AsyncIterator[dict]:
        try:
            listed = await mcp_loop.list_tools(turn.toolset, stream)
        except Exception as exc:  # noqa: BLE001 - an MCP set-up failure fails this response only
            for event in stream.start() + stream.fail(FAILURE_CODE, f"MCP tools unavailable: {exc}"):
                yield event
            return
        first: OpenedTurn | None = None
        try:
            if not mcp_loop.has_approvals(turn.input_items):
                # Approved MCP calls run before the first backend turn; otherwise open it now, so
                # that a context overflow is known before response.created.
                extra_tools = turn.toolset.chat_tools() if turn.toolset is not None else []
                first = OpenedTurn(self.backend_turns.chunks(turn, listed, extra_tools))
                overflow = await first.overflow(None if stream.quiet else OPEN_WAIT_SECONDS)
                if overflow is not None:
                    if not turn.background:
                        raise context.overflow_error() from overflow
                    for event in stream.start() + stream.fail(context.CODE, overflow.message):
                        yield event
                    return
            for event in stream.start():
                yield event
            for item in listed:
                for event in stream.add_item(item):
                    yield event

            def backend_turn(outputs: list[dict], extra_tools: list[dict]) -> AsyncIterator[dict]:
                nonlocal first
                if first is not None:
                    opened, first = first, None
                    return opened.chunks()
                return self.backend_turns.chunks(turn, outputs, extra_tools)

            try:
                async for event in mcp_loop.turns(stream, turn.toolset, backend_turn,
                                                  input_items=turn.input_items, history=turn.history):
                    yield event
            except BackendError as exc:
                code = context.CODE if context.is_overflow(exc) else FAILURE_CODE
                for event in stream.fail(code, exc.message):
                    yield event
        finally:
            if first is not None:
                await first.aclose()

    # ------------------------------------------------------------ after the events

    async def persist(self, turn: Turn) -> None:
        """Store the final response (insert or update); nothing when ``store`` is false.

        The write runs on the store's writer thread (store_writer.py) so a slow disk never stalls
        other requests' streams.
        """
        if turn.stored:
            await self.writer.put_response(turn.response, input_items=turn.input_items,
                                           background=turn.background)
        if turn.response.get("conversation"):
            await asyncio.to_thread(conversations.append_turn, self.store, turn.response["conversation"]["id"],
                                    turn.response, turn.input_items)
