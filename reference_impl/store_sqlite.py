"""`SqliteStore`: the `Store` on one SQLite file in WAL mode, the router's default store.

Its own module beside store_postgres.py: what only SQLite does (its ``responses`` table and the
columns added to older databases, the ``turn`` column and the index that carries it, the chain
walked as one recursive query on that index, ``BEGIN IMMEDIATE`` transactions on autocommit
connections). Everything written once for both databases is store_sql.py.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .jsoncodec import has_long_number, loads_exact, loads_many
from .store_sql import IN_FLIGHT, SHARED_SCHEMA, SqlStore

BUSY_TIMEOUT_MS = 10_000
# Postgres's link indexes (store_postgres.LINK_INDEXES), which SQLite databases had too: SQLite
# walks on its own `TURNS_INDEX` and drops them (every index is one more b-tree written per stored
# response; no query of SQLite's used them any more).
DROP_LINK_INDEXES = "DROP INDEX IF EXISTS responses_previous; DROP INDEX IF EXISTS responses_links;"
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
MAX_CHAIN_LENGTH = 100_000


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
