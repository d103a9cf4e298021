"""Persistence of responses: the `Store` protocol and its SQLite (WAL) implementation.

What is kept: each Response object (JSON, status, created_at, background flag), its input items
in order, the chain link to ``previous_response_id`` (a column with an index, walked one point
lookup per link), and the event log of background responses (for ``GET ?stream=true``).
MCP credentials never reach the store: `credentials.without_credentials` removes them from tools before writing.
A Postgres implementation only has to satisfy `Store`; `store_for_url` picks one by URL scheme.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from .credentials import without_credentials

IN_FLIGHT = ("queued", "in_progress")
BUSY_TIMEOUT_MS = 10_000
ORPHAN_ERROR = {
    # "server_error" because ResponseError.code is an enum; the message says what happened.
    "code": "server_error",
    "message": "server_restarted: the server restarted while this response was in progress.",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    previous_response_id TEXT,
    background INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS responses_status ON responses(status);
CREATE INDEX IF NOT EXISTS responses_previous ON responses(previous_response_id);
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
"""


class Store(Protocol):
    """What the router needs from persistence. All methods are synchronous and thread-safe."""

    def put_response(self, response: dict, *, input_items: list[dict], background: bool = False) -> None:
        """Insert or replace a response with its input items."""
    def get_response(self, response_id: str) -> dict | None:
        """The stored Response object, or None."""
    def update_response(self, response: dict) -> None:
        """Replace the JSON and status of an existing response."""
    def delete_response(self, response_id: str) -> bool:
        """Delete a response, its input items and its events; False if it did not exist."""
    def list_input_items(
        self, response_id: str, *, after: str | None = None, limit: int = 20, order: str = "desc"
    ) -> tuple[list[dict], bool]:
        """A page of input items and whether more follow."""
    def chain(self, response_id: str) -> list[tuple[list[dict], list[dict]]]:
        """(input items, output items) per response, oldest first, ending at ``response_id``."""
    def append_events(self, response_id: str, events: list[dict]) -> None:
        """Append events to a response's event log."""
    def get_events(self, response_id: str, *, starting_after: int | None = None) -> list[dict]:
        """Stored events with ``sequence_number`` greater than ``starting_after``."""
    def mark_orphans_failed(self) -> list[str]:
        """Mark every queued/in_progress response failed (start-up recovery); return their ids."""
    def close(self) -> None:
        """Release connections."""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# Links are walked inside SQLite; depth bounds a (never expected) cycle.
MAX_CHAIN_LENGTH = 100_000
CHAIN_SQL = """
WITH RECURSIVE chain(id, prev, depth) AS (
    SELECT id, previous_response_id, 0 FROM responses WHERE id = ?
    UNION ALL
    SELECT r.id, r.previous_response_id, c.depth + 1
    FROM responses r JOIN chain c ON r.id = c.prev
    WHERE c.depth < ?
)
"""


class SqliteStore:
    """`Store` on one SQLite file in WAL mode, with one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path in ("", ":memory:"):
            raise ValueError("SqliteStore needs a file path: an in-memory database is per connection")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def put_response(self, response: dict, *, input_items: list[dict], background: bool = False) -> None:
        """Insert or replace a response with its input items (one transaction)."""
        response = without_credentials(response)
        conn = self._conn()
        with _transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO responses (id, json, status, created_at, previous_response_id,"
                " background) VALUES (?, ?, ?, ?, ?, ?)",
                (response["id"], _dumps(response), response.get("status") or "completed",
                 int(response.get("created_at") or time.time()), response.get("previous_response_id"),
                 int(background)),
            )
            conn.execute("DELETE FROM input_items WHERE response_id = ?", (response["id"],))
            conn.executemany(
                "INSERT INTO input_items (response_id, position, item_id, json) VALUES (?, ?, ?, ?)",
                [(response["id"], i, item.get("id"), _dumps(item)) for i, item in enumerate(input_items)],
            )

    def get_response(self, response_id: str) -> dict | None:
        """The stored Response object, or None."""
        row = self._conn().execute("SELECT json FROM responses WHERE id = ?", (response_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def update_response(self, response: dict) -> None:
        """Replace the JSON and status of an existing response (no-op if it was deleted)."""
        response = without_credentials(response)
        self._conn().execute(
            "UPDATE responses SET json = ?, status = ? WHERE id = ?",
            (_dumps(response), response.get("status") or "completed", response["id"]),
        )

    def delete_response(self, response_id: str) -> bool:
        """Delete a response, its input items and its events."""
        conn = self._conn()
        with _transaction(conn):
            cur = conn.execute("DELETE FROM responses WHERE id = ?", (response_id,))
            conn.execute("DELETE FROM input_items WHERE response_id = ?", (response_id,))
            conn.execute("DELETE FROM events WHERE response_id = ?", (response_id,))
        return cur.rowcount > 0

    def list_input_items(
        self, response_id: str, *, after: str | None = None, limit: int = 20, order: str = "desc"
    ) -> tuple[list[dict], bool]:
        """A page of input items in ``order`` starting after item id ``after``; KeyError if unknown."""
        conn = self._conn()
        direction = "DESC" if order == "desc" else "ASC"
        params: list[Any] = [response_id]
        where = "response_id = ?"
        if after is not None:
            row = conn.execute("SELECT position FROM input_items WHERE response_id = ? AND item_id = ?",
                               (response_id, after)).fetchone()
            if row is None:
                raise KeyError(after)
            where += " AND position < ?" if order == "desc" else " AND position > ?"
            params.append(row[0])
        rows = conn.execute(
            f"SELECT json FROM input_items WHERE {where} ORDER BY position {direction} LIMIT ?",
            (*params, limit + 1),
        ).fetchall()
        items = [json.loads(r[0]) for r in rows]
        return items[:limit], len(items) > limit

    def _all_input_items(self, response_id: str) -> list[dict]:
        rows = self._conn().execute(
            "SELECT json FROM input_items WHERE response_id = ? ORDER BY position", (response_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def chain(self, response_id: str) -> list[tuple[list[dict], list[dict]]]:
        """Walk ``previous_response_id`` links back from ``response_id``; KeyError if it is unknown.

        A link to a deleted response ends the walk there: the rest of the history is gone. Two
        queries whatever the length: the links are walked inside SQLite (a recursive CTE), and
        only each response's ``output`` is extracted and parsed, not the whole stored object.
        """
        conn = self._conn()
        links = conn.execute(CHAIN_SQL + "SELECT c.id, json_extract(r.json, '$.output') FROM chain c "
                             "JOIN responses r ON r.id = c.id ORDER BY c.depth",
                             (response_id, MAX_CHAIN_LENGTH)).fetchall()
        if not links:
            raise KeyError(response_id)
        ids: list[str] = []
        for rid, _ in links:
            if rid in ids:  # a cycle cannot be made through the API; stop rather than loop
                break
            ids.append(rid)
        items: dict[str, list[dict]] = {rid: [] for rid in ids}
        rows = conn.execute(CHAIN_SQL + "SELECT i.response_id, i.json FROM input_items i "
                            "JOIN chain c ON i.response_id = c.id ORDER BY i.response_id, i.position",
                            (response_id, MAX_CHAIN_LENGTH)).fetchall()
        for rid, raw in rows:
            if rid in items:
                items[rid].append(json.loads(raw))
        outputs = dict(links[: len(ids)])
        return [(items[rid], json.loads(outputs[rid] or "[]")) for rid in reversed(ids)]

    def append_events(self, response_id: str, events: list[dict]) -> None:
        """Append events to a response's event log (keyed by their sequence numbers)."""
        conn = self._conn()
        with _transaction(conn):
            conn.executemany(
                "INSERT OR REPLACE INTO events (response_id, sequence_number, json) VALUES (?, ?, ?)",
                [(response_id, e["sequence_number"], _dumps(e)) for e in events],
            )

    def get_events(self, response_id: str, *, starting_after: int | None = None) -> list[dict]:
        """Stored events after ``starting_after`` (all when None), in order."""
        rows = self._conn().execute(
            "SELECT json FROM events WHERE response_id = ? AND sequence_number > ? ORDER BY sequence_number",
            (response_id, -1 if starting_after is None else starting_after),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def mark_orphans_failed(self) -> list[str]:
        """Mark every queued/in_progress response failed with `ORPHAN_ERROR`."""
        conn = self._conn()
        ids: list[str] = []
        with _transaction(conn):
            rows = conn.execute(
                "SELECT id, json FROM responses WHERE status IN (?, ?)", IN_FLIGHT
            ).fetchall()
            for rid, raw in rows:
                response = json.loads(raw)
                response.update(status="failed", error=dict(ORPHAN_ERROR))
                conn.execute("UPDATE responses SET json = ?, status = 'failed' WHERE id = ?",
                             (_dumps(response), rid))
                ids.append(rid)
        return ids

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class _transaction:
    """BEGIN IMMEDIATE … COMMIT/ROLLBACK on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def store_for_url(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or
    ``postgresql://user@host:port/db`` (needs the psycopg driver)."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):])
    if url.startswith(("postgres://", "postgresql://")):
        from .store_postgres import PostgresStore  # lazy: psycopg is only needed for Postgres

        return PostgresStore(url)
    raise ValueError(f"unsupported store URL {url!r}: expected sqlite:///PATH or postgresql://…")
