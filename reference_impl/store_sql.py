"""The SQL both stores share: `SqlStore`, the base of `store_sqlite.SqliteStore` and
`store_postgres.PostgresStore`, with the tables both create besides their own ``responses``.

Separate from each database's module because it is written once for both (``?`` placeholders,
rewritten to the driver's own), and from store.py, which holds the `Store` protocol the router
codes against and opens a store by URL. The response statuses a restart leaves in flight
(`IN_FLIGHT`) and the error they are failed with (`ORPHAN_ERROR`) are here because the orphan
marking both stores share writes them.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from .conversation_store import CONVERSATION_SCHEMA, ConversationSql
from .credentials import without_credentials
from .jsoncodec import loads

IN_FLIGHT = ("queued", "in_progress")
ORPHAN_ERROR = {
    # "server_error" because ResponseError.code is an enum; the message says what happened.
    "code": "server_error",
    "message": "server_restarted: the server restarted while this response was in progress.",
}
# The tables both stores create after their own ``responses`` table (whose types differ).
SHARED_SCHEMA = """
CREATE INDEX IF NOT EXISTS responses_status ON responses(status);
CREATE TABLE IF NOT EXISTS input_items (
    response_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    item_id TEXT,
    json TEXT NOT NULL,
    PRIMARY KEY (response_id, position)
);
CREATE TABLE IF NOT EXISTS events (
    response_id TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (response_id, sequence_number)
);
""" + CONVERSATION_SCHEMA


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _output_text(response: dict) -> str:
    """The ``output`` column: the Response's output items alone."""
    return _dumps(response.get("output") or [])


class SqlStore(ConversationSql):
    """The SQL both stores share. Subclasses give connections, transactions and the upserts.

    Shared statements are written with ``?`` placeholders; `PLACEHOLDER` is the driver's own.
    """

    PLACEHOLDER = "?"
    UPSERT_RESPONSE = ""  # (id, json, status, created_at, previous_response_id, background, …, output)
    UPDATE_RESPONSE = "UPDATE responses SET json = ?, status = ?, output = ? WHERE id = ?"
    UPSERT_EVENT = ""  # (response_id, sequence_number, json)

    def __init__(self) -> None:
        self._local = threading.local()  # one connection per thread
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        """A new connection, set up for this store."""
        raise NotImplementedError

    def _reusable(self, conn: Any) -> bool:
        """Whether a thread's connection can still be used."""
        return True

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or not self._reusable(conn):
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _release(self) -> None:
        """Anything besides the connections to let go of on close (called under the lock)."""

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._release()
        self._local = threading.local()

    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A transaction, yielding something with ``execute`` and ``executemany``."""
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text if self.PLACEHOLDER == "?" else text.replace("?", self.PLACEHOLDER)

    def _query(self, text: str, params: tuple | list) -> list[tuple]:
        return self._conn().execute(self._sql(text), params).fetchall()

    def _response_row(self, response: dict, background: bool, item_texts: list[str]) -> tuple:
        """The UPSERT_RESPONSE parameters; ``item_texts``: the input items as stored."""
        return (response["id"], _dumps(response), response.get("status") or "completed",
                int(response.get("created_at") or time.time()), response.get("previous_response_id"),
                int(background), _output_text(response))

    def put_response(self, response: dict, *, input_items: list[dict], background: bool = False) -> None:
        """Insert or replace a response with its input items (one transaction)."""
        self.put_responses([(response, input_items, background)])

    def put_responses(self, rows: list[tuple[dict, list[dict], bool]]) -> None:
        """`put_response` for each ``(response, input_items, background)``, all in one transaction
        (store_writer.py batches the writes that queue up under load).

        One ``executemany`` per statement for the whole batch: each call is a round of Python
        work between SQLite's steps, and the writer thread had to win the GIL back for each.
        A response written twice in one batch (a background response's queued and final
        states) keeps its last write, which is what writing them in order left.
        """
        last: dict[str, tuple[dict, list[dict], bool]] = {}
        for response, input_items, background in rows:
            last[response["id"]] = (without_credentials(response), input_items, background)
        response_rows, item_rows = [], []
        for rid, (response, input_items, background) in last.items():
            texts = [_dumps(item) for item in input_items]
            response_rows.append(self._response_row(response, background, texts))
            item_rows += [(rid, i, item.get("id"), text) for i, (item, text) in enumerate(zip(input_items, texts))]
        with self._transaction() as tx:
            tx.executemany(self._sql(self.UPSERT_RESPONSE), response_rows)
            tx.executemany(self._sql("DELETE FROM input_items WHERE response_id = ?"), [(rid,) for rid in last])
            tx.executemany(
                self._sql("INSERT INTO input_items (response_id, position, item_id, json) VALUES (?, ?, ?, ?)"),
                item_rows,
            )

    def get_response(self, response_id: str) -> dict | None:
        """The stored Response object, or None."""
        rows = self._query("SELECT json FROM responses WHERE id = ?", (response_id,))
        return loads(rows[0][0]) if rows else None

    def update_response(self, response: dict) -> None:
        """Replace the JSON and status of an existing response (no-op if it was deleted)."""
        response = without_credentials(response)
        self._conn().execute(
            self._sql(self.UPDATE_RESPONSE),
            (_dumps(response), response.get("status") or "completed", _output_text(response), response["id"]),
        )

    def delete_response(self, response_id: str) -> bool:
        """Delete a response, its input items and its events."""
        with self._transaction() as tx:
            deleted = tx.execute(self._sql("DELETE FROM responses WHERE id = ?"), (response_id,)).rowcount > 0
            tx.execute(self._sql("DELETE FROM input_items WHERE response_id = ?"), (response_id,))
            tx.execute(self._sql("DELETE FROM events WHERE response_id = ?"), (response_id,))
        return deleted

    def list_input_items(
        self, response_id: str, *, after: str | None = None, limit: int = 20, order: str = "desc"
    ) -> tuple[list[dict], bool]:
        """A page of input items in ``order`` starting after item id ``after``; KeyError if unknown."""
        return self._page("input_items", "response_id", response_id, after=after, limit=limit, order=order)

    def get_item(self, item_id: str) -> dict | None:
        """A stored input or output item by id (what an ``item_reference`` names), or None."""
        rows = self._query("SELECT json FROM input_items WHERE item_id = ?", (item_id,))
        if rows:
            return json.loads(rows[0][0])
        # Output items live inside the Response JSON: a LIKE narrows the scan, then an exact match.
        for (text,) in self._query("SELECT json FROM responses WHERE json LIKE ?", (f"%{item_id}%",)):
            for item in json.loads(text).get("output") or []:
                if isinstance(item, dict) and item.get("id") == item_id:
                    return item
        return None

    def append_events(self, response_id: str, events: list[dict]) -> None:
        """Append events to a response's event log (keyed by their sequence numbers)."""
        with self._transaction() as tx:
            tx.executemany(self._sql(self.UPSERT_EVENT),
                           [(response_id, e["sequence_number"], _dumps(e)) for e in events])

    def get_events(self, response_id: str, *, starting_after: int | None = None) -> list[dict]:
        """Stored events after ``starting_after`` (all when None), in order."""
        rows = self._query(
            "SELECT json FROM events WHERE response_id = ? AND sequence_number > ? ORDER BY sequence_number",
            (response_id, -1 if starting_after is None else starting_after),
        )
        return [loads(r[0]) for r in rows]

    def _fail_orphans(self, tx: Any, rows: list[tuple[str, str]]) -> list[str]:
        """Mark the in-flight ``(id, json)`` rows failed with `ORPHAN_ERROR`, inside ``tx``."""
        for rid, raw in rows:
            response = json.loads(raw)
            response.update(status="failed", error=dict(ORPHAN_ERROR))
            tx.execute(self._sql("UPDATE responses SET json = ?, status = 'failed' WHERE id = ?"),
                       (_dumps(response), rid))
        return [rid for rid, _ in rows]
