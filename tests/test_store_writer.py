"""The store's writer thread (reference_impl/store_writer.py): in order, batched, each waiter its own outcome."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from reference_impl.store_sqlite import SqliteStore
from reference_impl.store_writer import StoreWriter


def _response(rid: str) -> dict:
    return {"id": rid, "object": "response", "status": "completed", "created_at": 1, "previous_response_id": None,
            "output": [{"id": f"msg_{rid}", "type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": rid}]}]}


class GatedStore(SqliteStore):
    """A real SQLite store whose first write waits for a gate, so later writes queue into one batch."""

    def __init__(self, path, *, poison: str | None = None) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.entered = threading.Event()  # the writer thread is inside its first write
        self.batches: list[list[str]] = []
        self.poison = poison

    def put_responses(self, rows):
        self.entered.set()
        self.gate.wait(10)
        ids = [r[0]["id"] for r in rows]
        self.batches.append(ids)
        if self.poison in ids:
            raise RuntimeError(f"refused {self.poison}")
        super().put_responses(rows)


async def _put_all(writer: StoreWriter, store: GatedStore, ids: list[str]) -> list[BaseException | None]:
    first = asyncio.ensure_future(writer.put_response(_response(ids[0]), input_items=[]))
    assert await asyncio.to_thread(store.entered.wait, 10)
    tasks = [first] + [asyncio.ensure_future(writer.put_response(_response(rid), input_items=[])) for rid in ids[1:]]
    await asyncio.sleep(0.05)  # every later write is queued behind the gated first one
    store.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_writes_queued_meanwhile_go_in_one_transaction(tmp_path):
    store = GatedStore(tmp_path / "db.sqlite")
    writer = StoreWriter(store)
    try:
        outcomes = asyncio.run(_put_all(writer, store, ["r0", "r1", "r2", "r3"]))
    finally:
        writer.close()
    assert outcomes == [None] * 4
    assert store.batches[0] == ["r0"] and store.batches[1] == ["r1", "r2", "r3"]
    assert [store.get_response(f"r{k}")["id"] for k in range(4)] == ["r0", "r1", "r2", "r3"]
    store.close()


class RecordingStore(SqliteStore):
    """A real SQLite store that keeps the ids of each batch it was given."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.batches: list[list[str]] = []

    def put_responses(self, rows):
        self.batches.append([r[0]["id"] for r in rows])
        super().put_responses(rows)


def test_the_writes_of_one_loop_turn_reach_the_thread_together(tmp_path):
    """One hand-over (one wake-up of the thread) per turn of the loop, not one per write."""
    store = RecordingStore(tmp_path / "db.sqlite")
    writer = StoreWriter(store)

    async def put(k: int) -> None:
        time.sleep(0.02)  # releases the GIL: a thread woken by an earlier write would write it alone
        await writer.put_response(_response(f"r{k}"), input_items=[])

    async def five() -> list[None]:
        return await asyncio.gather(*(put(k) for k in range(5)))

    try:
        assert asyncio.run(five()) == [None] * 5
    finally:
        writer.close()
    assert store.batches == [["r0", "r1", "r2", "r3", "r4"]]
    store.close()


def test_a_failed_batch_is_retried_one_by_one_and_fails_only_its_own_waiter(tmp_path):
    store = GatedStore(tmp_path / "db.sqlite", poison="r2")
    writer = StoreWriter(store)
    try:
        outcomes = asyncio.run(_put_all(writer, store, ["r0", "r1", "r2", "r3"]))
    finally:
        writer.close()
    assert outcomes[:2] == [None, None] and outcomes[3] is None
    assert isinstance(outcomes[2], RuntimeError) and "refused r2" in str(outcomes[2])
    assert store.get_response("r2") is None
    assert all(store.get_response(rid) is not None for rid in ("r0", "r1", "r3"))
    store.close()


def test_close_writes_what_is_queued_then_stops(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    writer = StoreWriter(store)

    async def main() -> None:
        await writer.put_response(_response("a"), input_items=[{"id": "i0", "type": "message", "role": "user",
                                                                 "content": "hi"}])
    asyncio.run(main())
    writer.close()
    assert store.get_response("a")["id"] == "a"
    assert store.list_input_items("a")[0][0]["id"] == "i0"
    with pytest.raises(KeyError):
        store.list_input_items("a", after="missing")
    store.close()
