"""Store writes off the event loop: one writer thread, in order, batching what queues up meanwhile.

`engine.persist` used ``asyncio.to_thread`` for each response: a hop to the default executor and
one ``BEGIN IMMEDIATE … COMMIT`` per response, with up to one writer thread per request
contending for SQLite's single write lock. Under load that cost about 0.3 ms of CPU per stored
response, three times the write itself. `StoreWriter` hands each write to one thread; the writes
that arrived while it was busy go into the next batch, written in one transaction
(`SqlStore.put_responses`), and every waiter of the batch is woken with one call into its loop.

Writes reach the thread once per turn of their event loop: a create appends its write to its
loop's pending list, and the first one of a turn schedules the hand-over of the whole list. Each
hand-over woke the waiting thread, and on two cores the woken writer took the core (and then the
GIL) from the event loop mid-request: py-spy found 5 % of the loop's samples inside that wake-up
under wrk at c=32.

A write is awaited: a create answers only after its response is stored, so a GET that follows
it always finds it. A failed batch is written again one response at a time, so each waiter gets
its own outcome.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

MAX_BATCH = 64  # responses per transaction


@dataclass
class _Write:
    """One queued `put_response` and the future its caller awaits."""

    response: dict
    input_items: list[dict]
    background: bool
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


def _settle(outcomes: list[tuple[asyncio.Future, BaseException | None]]) -> None:
    """On the caller's loop: resolve each future (a caller that went away is skipped)."""
    for future, error in outcomes:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class StoreWriter:
    """Serialises ``put_response`` calls onto one daemon thread, batched per transaction."""

    def __init__(self, store: Any) -> None:
        """``store``: a `store.Store`; batched when it has ``put_responses``, else one by one."""
        self.store = store
        self._queue: queue.SimpleQueue[list[_Write] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Each event loop's writes of its current turn, not yet handed to the thread.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Write]] = {}

    async def put_response(self, response: dict, *, input_items: list[dict], background: bool = False) -> None:
        """Store ``response`` with its input items; returns once it is committed."""
        loop = asyncio.get_running_loop()
        write = _Write(response, input_items, background, loop.create_future(), loop)
        pending = self._pending.get(loop)
        if pending is None:
            self._pending[loop] = pending = []
            loop.call_soon(self._hand_over, loop)
        pending.append(write)
        await write.future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: the writes of this turn go to the thread, with one wake-up."""
        self._start()  # here, not at the write: a close() in between would leave them unread
        self._queue.put(self._pending.pop(loop))

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = list(first)
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch += more
            for start in range(0, len(batch), MAX_BATCH):
                self._write(batch[start:start + MAX_BATCH])
            if stop:
                return

    def _write(self, batch: list[_Write]) -> None:
        outcomes: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, BaseException | None]]]
        outcomes = defaultdict(list)
        if not self._write_together(batch):
            for w in batch:
                try:
                    self.store.put_response(w.response, input_items=w.input_items, background=w.background)
                    outcomes[w.loop].append((w.future, None))
                except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                    outcomes[w.loop].append((w.future, exc))
        else:
            for w in batch:
                outcomes[w.loop].append((w.future, None))
        for loop, settled in outcomes.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:
                pass  # that loop is closed: nobody waits any more

    def _write_together(self, batch: list[_Write]) -> bool:
        """One transaction for the whole batch; False when it must go one by one instead."""
        put_many = getattr(self.store, "put_responses", None)
        if put_many is None or len(batch) == 1:
            return False
        try:
            put_many([(w.response, w.input_items, w.background) for w in batch])
        except Exception:  # noqa: BLE001 - written again one by one, each waiter its own outcome
            return False
        return True

    def close(self) -> None:
        """Write what is queued, then stop the thread (blocking; call it off the loop)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
