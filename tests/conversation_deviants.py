"""Deviant routers for conversations: the real router whose store appends items unsafely under concurrency.

The reference store appends a request's items as one block, positions reserved under the
conversation row's lock (reference_impl/conversation_store.py). Each deviation here swaps that one
method of the running router's store for a way real servers get it wrong, and leaves everything
else (validation, ids, answers) to the router. A single request still gets a correct answer; only
parallel creates on one conversation show the fault. tests/deviants.py lists them with the others,
and tests/test_deviations.py requires the suite's parallel items case to fail each one with its rule.

The window between a deviation's read and its write stands for a remote store's round trip. The
suite sends its creates together, so they fall inside each other's window.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Append = Callable[[Any, str, list[dict]], bool]
STORE_ROUND_TRIP_S = 0.5


def _with_append(app: Any, append: Append) -> ASGIApp:
    """``app`` whose store appends conversation items with ``append(store, cid, items)``.

    The store exists only once the lifespan has run, so it is changed at the first request."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            store = app.state.store
            if "append_conversation_items" not in vars(store):  # the class's method: not swapped yet
                store.append_conversation_items = lambda cid, items: append(store, cid, items)
        await app(scope, receive, send)

    return wrapped


def _write_list(store: Any, cid: str, items: list[dict]) -> None:
    """Replace the conversation's whole item list with ``items`` (one transaction)."""
    with store._transaction() as tx:
        tx.execute(store._sql("DELETE FROM conversation_items WHERE conversation_id = ?"), (cid,))
        tx.execute(store._sql("UPDATE conversations SET next_position = ? WHERE id = ?"), (len(items), cid))
        store._insert_items(tx, cid, 0, items)


def _read_modify_write(store: Any, cid: str, items: list[dict]) -> bool:
    if store.get_conversation(cid) is None:
        return False
    current = store.conversation_items(cid)
    time.sleep(STORE_ROUND_TRIP_S)  # another append reads the same list meanwhile
    _write_list(store, cid, current + items)  # and one of the two writes overwrites the other
    return True


def _one_by_one(store: Any, cid: str, items: list[dict]) -> bool:
    for item in items:
        if not type(store).append_conversation_items(store, cid, [item]):
            return False
        time.sleep(STORE_ROUND_TRIP_S / len(items))  # another append's items land in between
    return True


def conversation_items_lost_update(app: ASGIApp) -> ASGIApp:
    """Items are appended by reading the list and writing it back: parallel creates overwrite each other."""
    return _with_append(app, _read_modify_write)


def conversation_items_interleaved(app: ASGIApp) -> ASGIApp:
    """A create's items are appended one at a time, so parallel creates on one conversation interleave."""
    return _with_append(app, _one_by_one)


CONVERSATION_DEVIATIONS: dict[str, tuple[str, Callable[[ASGIApp], ASGIApp]]] = {
    f.__name__: ((f.__doc__ or "").strip(), f)
    for f in (conversation_items_lost_update, conversation_items_interleaved)
}
