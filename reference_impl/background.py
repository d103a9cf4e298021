"""Background responses: bounded workers, the live event log, cancel, and orphan recovery.

A background create is stored as ``queued`` at once and run by a task that waits for one of
`max_workers` slots. Its events go to the store (for ``GET ?stream=true&starting_after=N``) and to
an in-memory `_Channel` that live subscribers follow. Cancel is idempotent; cancelling a finished
or non-background response is a 400. At start-up, `recover_orphans` marks rows left queued or
in progress by a previous process as failed.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from .engine import Engine
from .errors import ApiError, not_found
from .store import Store
from .store_sql import IN_FLIGHT
from .turn import Turn

log = logging.getLogger("reference_impl")

MAX_WORKERS = 4
FINISHED = ("completed", "failed", "incomplete")


class _Channel:
    """The events of one running response, for live subscribers."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.done = False
        self._changed = asyncio.Condition()

    async def publish(self, event: dict | None) -> None:
        async with self._changed:
            if event is None:
                self.done = True
            else:
                self.events.append(event)
            self._changed.notify_all()

    async def follow(self, starting_after: int | None) -> AsyncIterator[dict]:
        position = 0
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: self.done or len(self.events) > position)
                fresh, position = self.events[position:], len(self.events)
                done = self.done
            for event in fresh:
                if starting_after is None or event["sequence_number"] > starting_after:
                    yield event
            if done and position == len(self.events):
                return


def recover_orphans(store: Store) -> list[str]:
    """Mark responses a previous process left queued/in progress as failed; return their ids."""
    ids = store.mark_orphans_failed()
    if ids:
        log.warning("marked %d orphaned background response(s) failed", len(ids))
    for rid in ids:
        _close_event_log(store, rid)
    return ids


def _close_event_log(store: Store, response_id: str) -> None:
    """End an orphan's stored event log with a typed failure, so a resumed stream terminates."""
    response = store.get_response(response_id)
    if response is None:
        return
    events = store.get_events(response_id)
    seq = events[-1]["sequence_number"] + 1 if events else 0
    tail: list[dict] = []
    if not events:  # a queued orphan never started: its stream still opens with created
        tail.append({"type": "response.created", "sequence_number": seq,
                     "response": {**response, "status": "queued", "error": None}})
        seq += 1
    error = response.get("error") or {}
    tail.append({"type": "error", "code": error.get("code"), "message": error.get("message"),
                 "param": None, "sequence_number": seq})
    tail.append({"type": "response.failed", "sequence_number": seq + 1, "response": response})
    store.append_events(response_id, tail)


class BackgroundRunner:
    """Runs background turns on at most ``max_workers`` concurrent tasks."""

    def __init__(self, engine: Engine, *, max_workers: int = MAX_WORKERS) -> None:
        self.engine = engine
        self.store = engine.store
        self._slots = asyncio.Semaphore(max_workers)
        self._tasks: dict[str, asyncio.Task] = {}
        self._channels: dict[str, _Channel] = {}
        self._closing = False

    def submit(self, turn: Turn) -> dict:
        """Store ``turn`` as queued, start its worker and return the queued Response object."""
        rid = turn.response["id"]
        self.store.put_response(turn.response, input_items=turn.input_items, background=True)
        self._channels[rid] = _Channel()
        self._tasks[rid] = asyncio.get_running_loop().create_task(self._work(turn))
        return dict(turn.response)

    async def _work(self, turn: Turn) -> None:
        rid = turn.response["id"]
        channel = self._channels[rid]
        try:
            async with self._slots:
                async for event in self.engine.events(turn):
                    if event["type"] == "response.in_progress":
                        self.store.update_response(event["response"])
                    self.store.append_events(rid, [event])
                    await channel.publish(event)
        except asyncio.CancelledError:
            if self._closing:
                raise  # shutdown: the row stays in flight and is recovered at next start
            if turn.response.get("status") in IN_FLIGHT:
                turn.response = {**turn.response, "status": "cancelled"}
        except Exception:  # noqa: BLE001 - a worker must never die silently
            log.exception("background response %s crashed", rid)
            turn.response = {**turn.response, "status": "failed",
                             "error": {"code": "server_error", "message": "internal error"}}
        finally:
            self._tasks.pop(rid, None)
            if not self._closing and self.store.get_response(rid) is not None:  # not deleted
                await self.engine.persist(turn)
            await channel.publish(None)
            self._channels.pop(rid, None)

    async def cancel(self, response_id: str) -> dict:
        """Cancel a background response; idempotent; `ApiError` when it cannot be cancelled."""
        stored = self.store.get_response(response_id)
        if stored is None:
            raise not_found("response", response_id)
        if not stored.get("background"):
            raise ApiError(400, "Only background responses can be cancelled.", param="response_id",
                           code="invalid_value")
        status = stored.get("status")
        if status == "cancelled":
            return stored
        if status in FINISHED:
            raise ApiError(400, f"Cannot cancel a response with status '{status}'.",
                           param="response_id", code="invalid_value")
        task = self._tasks.get(response_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return self.store.get_response(response_id) or stored
        # Running elsewhere (or lost): record the cancellation directly.
        stored = {**stored, "status": "cancelled"}
        self.store.update_response(stored)
        return stored

    async def follow(self, response_id: str, *, starting_after: int | None) -> AsyncIterator[dict]:
        """Events of a background response after ``starting_after``: stored ones, then live ones."""
        channel = self._channels.get(response_id)
        if channel is not None:
            async for event in channel.follow(starting_after):
                yield event
            return
        for event in self.store.get_events(response_id, starting_after=starting_after):
            yield event

    async def aclose(self) -> None:
        """Stop all workers without recording an outcome (start-up recovery will)."""
        self._closing = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
