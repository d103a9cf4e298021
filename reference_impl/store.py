"""Persistence of responses: the `Store` protocol, the SQL both stores share, and SQLite.

What is kept: each Response object (JSON, status, created_at, background flag), its ``output``
again in a column of its own (so that a chain reads only the items it needs, never the whole
object), in SQLite its whole turn (input and output items, see `SqliteStore.chain`), its input
items in order, the chain link to ``previous_response_id`` (a column with an index), and the event log
of background responses (for ``GET ?stream=true``). MCP credentials never reach the store:
`credentials.without_credentials` removes them before writing.

`SqlStore` holds everything that is the same SQL on both databases (row shaping, input item
paging, event logs, orphan marking, per-thread connections, and the conversations of
conversation_store.py); `SqliteStore` (WAL) and
store_postgres.py add connections, transactions, upserts and the chain walk. `store_for_url`
picks one by URL scheme.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from .conversation_store import CONVERSATION_SCHEMA, ConversationSql
from .credentials import without_credentials
from .jsoncodec import has_long_number, loads, loads_exact, loads_many

IN_FLIGHT = ("queued", "in_progress")
BUSY_TIMEOUT_MS = 10_000
ORPHAN_ERROR = {
    # "server_error" because ResponseError.code is an enum; the message says what happened.
    "code": "server_error",
    "message": "server_restarted: the server restarted while this response was in progress.",
}

# The link indexes of Postgres. SQLite walks on its own `TURNS_INDEX` and drops these (every index
# is one more b-tree written per stored response; no query of SQLite's used them any more).
LINK_INDEXES = """
CREATE INDEX IF NOT EXISTS responses_previous ON responses(previous_response_id);
-- Covers a chain walk's step (id -> previous_response_id) without reading the row itself.
CREATE INDEX IF NOT EXISTS responses_links ON responses(id, previous_response_id);
"""
DROP_LINK_INDEXES = "DROP INDEX IF EXISTS responses_previous; DROP INDEX IF EXISTS responses_links;"
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
SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    previous_response_id TEXT,
    background INTEGER NOT NULL DEFAULT 0,
    output TEXT,
    turn TEXT
);
""" + SHARED_SCHEMA
# Databases made before the output column: added on open. Their rows keep a NULL output, and the
# chain reads those rows' output from the Response JSON instead (CHAIN_OUTPUT_SQL).
OUTPUT_COLUMN = "output"
ADD_OUTPUT_COLUMN = "ALTER TABLE responses ADD COLUMN output TEXT"
CHAIN_OUTPUT_SQL = "COALESCE(r.output, json_extract(r.json, '$.output'))"
# SQLite only: the ``turn`` column, ``[[input items], [output items]]`` as one JSON text, and an
# index that carries it beside the link, so that a chain is walked and read in that index alone
# (a walk through the table reads past each row's Response JSON, and its cost per turn grew with
# the chain's length: docs/benchmarks.md). NULL in rows written before the column, after
# `update_response` (it has no input items), and when the text holds a run of 20 digits (the
# chain parses these texts with orjson, exact only up to 64-bit integers: jsoncodec.py).
TURN_COLUMN = "turn"
ADD_TURN_COLUMN = "ALTER TABLE responses ADD COLUMN turn TEXT"
TURNS_INDEX = "CREATE INDEX IF NOT EXISTS responses_turns ON responses(id, previous_response_id, turn)"
CHAIN_TURNS_SQL = """
WITH RECURSIVE chain(id, prev, turn, depth) AS (
    SELECT id, previous_response_id, turn, 0 FROM responses INDEXED BY responses_turns WHERE id = ?
    UNION ALL
    SELECT r.id, r.previous_response_id, r.turn, c.depth + 1
    FROM responses r INDEXED BY responses_turns JOIN chain c ON r.id = c.prev
    WHERE c.depth < ?
)
SELECT id, turn, depth FROM chain
"""
CHAIN_INPUTS_SQL = ("SELECT response_id, json FROM input_items WHERE response_id IN (SELECT value FROM json_each(?))"
                    " ORDER BY response_id, position")


class Store(Protocol):
    """What the router needs from persistence. All methods are synchronous and thread-safe."""

    def put_response(self, response: dict, *, input_items: list[dict], background: bool = False) -> None:
        """Insert or replace a response with its input items."""
    def put_responses(self, rows: list[tuple[dict, list[dict], bool]]) -> None:
        """`put_response` for each ``(response, input_items, background)``, in one transaction."""
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
    def get_item(self, item_id: str) -> dict | None:
        """A stored input or output item by id (what an ``item_reference`` names), or None."""
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


def _output_text(response: dict) -> str:
    """The ``output`` column: the Response's output items alone."""
    return _dumps(response.get("output") or [])


MAX_CHAIN_LENGTH = 100_000


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
        (store_writer.py batches the writes that queue up under load)."""
        with self._transaction() as tx:
            for response, input_items, background in rows:
                response = without_credentials(response)
                texts = [_dumps(item) for item in input_items]
                tx.execute(self._sql(self.UPSERT_RESPONSE), self._response_row(response, background, texts))
                tx.execute(self._sql("DELETE FROM input_items WHERE response_id = ?"), (response["id"],))
                tx.executemany(
                    self._sql("INSERT INTO input_items (response_id, position, item_id, json) VALUES (?, ?, ?, ?)"),
                    [(response["id"], i, item.get("id"), text)
                     for i, (item, text) in enumerate(zip(input_items, texts))],
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
        direction = "DESC" if order == "desc" else "ASC"
        params: list[Any] = [response_id]
        where = "response_id = ?"
        if after is not None:
            rows = self._query("SELECT position FROM input_items WHERE response_id = ? AND item_id = ?",
                               (response_id, after))
            if not rows:
                raise KeyError(after)
            where += " AND position < ?" if order == "desc" else " AND position > ?"
            params.append(rows[0][0])
        rows = self._query(f"SELECT json FROM input_items WHERE {where} ORDER BY position {direction} LIMIT ?",
                           (*params, limit + 1))
        items = [loads(r[0]) for r in rows]
        return items[:limit], len(items) > limit

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


class SqliteStore(SqlStore):
    """`Store` on one SQLite file in WAL mode, with one connection per thread."""

    UPSERT_RESPONSE = ("INSERT OR REPLACE INTO responses (id, json, status, created_at, previous_response_id,"
                       " background, output, turn) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    # An update has no input items to rebuild the turn from: the chain reads that row the slow way.
    UPDATE_RESPONSE = "UPDATE responses SET json = ?, status = ?, output = ?, turn = NULL WHERE id = ?"
    UPSERT_EVENT = "INSERT OR REPLACE INTO events (response_id, sequence_number, json) VALUES (?, ?, ?)"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path in ("", ":memory:"):
            raise ValueError("SqliteStore needs a file path: an in-memory database is per connection")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__()
        conn = self._conn()
        conn.executescript(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
        if OUTPUT_COLUMN not in columns:
            conn.execute(ADD_OUTPUT_COLUMN)
        if TURN_COLUMN not in columns:
            conn.execute(ADD_TURN_COLUMN)
        conn.execute(TURNS_INDEX)
        conn.executescript(DROP_LINK_INDEXES)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _transaction(self) -> _transaction:
        return _transaction(self._conn())

    def _response_row(self, response: dict, background: bool, item_texts: list[str]) -> tuple:
        row = super()._response_row(response, background, item_texts)
        turn = "[[" + ",".join(item_texts) + "]," + row[6] + "]"
        return (*row, None if has_long_number(turn) else turn)

    def chain(self, response_id: str) -> list[tuple[list[dict], list[dict]]]:
        """Walk ``previous_response_id`` links back from ``response_id``; KeyError if it is unknown.

        A link to a deleted response ends the walk there: the rest of the history is gone. One
        query walks the links inside SQLite (a recursive CTE) on the ``responses_turns`` index,
        which also holds each response's ``turn`` text, and one parse reads all those texts
        joined. Rows without a turn text (`TURN_COLUMN`) are read from their input items and
        ``output`` column instead.
        """
        conn = self._conn()
        rows = conn.execute(CHAIN_TURNS_SQL, (response_id, MAX_CHAIN_LENGTH)).fetchall()
        if not rows:
            raise KeyError(response_id)
        rows.sort(key=lambda row: row[2])  # already in depth order: a linear check
        walk: dict[str, str | None] = {}
        for rid, turn, _ in rows:
            if rid in walk:  # a cycle cannot be made through the API; stop rather than loop
                break
            walk[rid] = turn
        order = list(reversed(walk))
        missing = [rid for rid in order if walk[rid] is None]
        parsed = iter(loads_exact("[" + ",".join(walk[rid] for rid in order if walk[rid] is not None) + "]"))
        slow = self._turns_from_items(conn, missing) if missing else {}
        return [slow[rid] if walk[rid] is None else tuple(next(parsed)) for rid in order]  # type: ignore[misc]

    def _turns_from_items(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[list[dict], list[dict]]]:
        """(input items, output items) of the responses ``ids`` from the input_items table and
        the ``output`` column (or the Response JSON in rows from before that column)."""
        items: dict[str, list[dict]] = {rid: [] for rid in ids}
        # The ids as one JSON array parameter: a long chain is not bound as thousands of parameters.
        rows = conn.execute(CHAIN_INPUTS_SQL, (json.dumps(ids),)).fetchall()
        for (rid, _), item in zip(rows, loads_many([raw for _, raw in rows])):
            items[rid].append(item)
        outputs = conn.execute(f"SELECT r.id, {CHAIN_OUTPUT_SQL} FROM responses r WHERE r.id IN "
                               "(SELECT value FROM json_each(?))", (json.dumps(ids),)).fetchall()
        texts = dict(outputs)
        return {rid: (items[rid], out) for rid, out in zip(ids, loads_many([texts.get(rid) or "[]" for rid in ids]))}

    def mark_orphans_failed(self) -> list[str]:
        """Mark every queued/in_progress response failed with `ORPHAN_ERROR`."""
        with self._transaction() as tx:
            rows = tx.execute("SELECT id, json FROM responses WHERE status IN (?, ?)", IN_FLIGHT).fetchall()
            return self._fail_orphans(tx, rows)


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
