"""The `Store` protocol on PostgreSQL (psycopg 3), for several router processes sharing one database.

Same tables, shared SQL (`store_sql.SqlStore`) and semantics as `SqliteStore`, with two differences
that sharing needs:

- **Orphans are per process.** Each store takes a session advisory lock on a random owner number
  and stamps the rows it creates with it. `mark_orphans_failed` fails only in-flight rows whose
  owner no longer holds its lock (its process died or closed the store), so one router restarting
  never fails the work another live router is running.
- **A chain is one recursive query** plus one query for all its input items, so rehydration costs
  two round trips however long the chain is.

JSON is kept as text (not jsonb) so a response reads back exactly as written. Connections are one
per thread, in autocommit, reopened if the server dropped them.
"""
from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

from .jsoncodec import loads_many
from .store_sql import IN_FLIGHT, SHARED_SCHEMA, SqlStore

# Advisory lock namespace (first key of the two-key form): b"RESP" as an int.
LOCK_NAMESPACE = 0x52455350
SCHEMA_LOCK = 0  # second key held while creating tables, so concurrent starts do not race
OWNER_ATTEMPTS = 16
CONNECT_TIMEOUT_S = 10

# The link indexes: a chain walk's steps. SQLite walks on its own index instead and drops these
# (store_sqlite.DROP_LINK_INDEXES).
LINK_INDEXES = """
CREATE INDEX IF NOT EXISTS responses_previous ON responses(previous_response_id);
-- Covers a chain walk's step (id -> previous_response_id) without reading the row itself.
CREATE INDEX IF NOT EXISTS responses_links ON responses(id, previous_response_id);
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    previous_response_id TEXT,
    background BOOLEAN NOT NULL DEFAULT FALSE,
    owner INTEGER,
    output TEXT
);
-- Databases made before the output column: their rows keep a NULL output (CHAIN_SQL reads it
-- from the Response JSON then).
ALTER TABLE responses ADD COLUMN IF NOT EXISTS output TEXT;
""" + LINK_INDEXES + SHARED_SCHEMA

# Ancestors of one response, oldest first, with their output items only (the output column; for
# a row written before it existed, the output inside the JSON, read as json so its text is kept).
# The path array stops a (corrupt) cyclic chain.
CHAIN_SQL = """
WITH RECURSIVE walk(id, previous_response_id, depth, path) AS (
    SELECT id, previous_response_id, 0, ARRAY[id] FROM responses WHERE id = %s
  UNION ALL
    SELECT r.id, r.previous_response_id, w.depth + 1, w.path || r.id
    FROM responses r JOIN walk w ON r.id = w.previous_response_id
    WHERE NOT r.id = ANY(w.path)
)
SELECT w.id, COALESCE(r.output, (r.json::json -> 'output')::text)
FROM walk w JOIN responses r ON r.id = w.id ORDER BY w.depth DESC
"""

# Owners whose store is still open somewhere: they hold their advisory lock in this database.
LIVE_OWNERS_SQL = """
SELECT objid::bigint FROM pg_locks
WHERE locktype = 'advisory' AND classid = %s AND objsubid = 2 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # an optional dependency: only Postgres URLs need it
        raise ValueError("a postgresql:// store needs the psycopg driver: pip install 'psycopg[binary]'") from exc
    return psycopg


class PostgresStore(SqlStore):
    """`Store` on a PostgreSQL database named by a libpq URL (``postgresql://user@host:port/db``)."""

    PLACEHOLDER = "%s"
    UPSERT_RESPONSE = (
        "INSERT INTO responses (id, json, status, created_at, previous_response_id, background, owner, output)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET json = EXCLUDED.json,"
        " status = EXCLUDED.status, created_at = EXCLUDED.created_at,"
        " previous_response_id = EXCLUDED.previous_response_id, background = EXCLUDED.background,"
        " owner = EXCLUDED.owner, output = EXCLUDED.output"
    )
    UPSERT_EVENT = ("INSERT INTO events (response_id, sequence_number, json) VALUES (?, ?, ?)"
                    " ON CONFLICT (response_id, sequence_number) DO UPDATE SET json = EXCLUDED.json")

    def __init__(self, url: str) -> None:
        self.url = url
        self._psycopg = _psycopg()
        super().__init__()
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, SCHEMA_LOCK))
            conn.execute(SCHEMA)
        self._liveness, self.owner = self._claim_owner()

    def _connect(self) -> Any:
        return self._psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    def _claim_owner(self) -> tuple[Any, int]:
        """A dedicated connection holding the advisory lock that marks this store alive."""
        conn = self._connect()
        for _ in range(OWNER_ATTEMPTS):
            owner = secrets.randbelow(2**31 - 2) + 1
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, owner)).fetchone()[0]
            if got:
                return conn, owner
        conn.close()
        raise RuntimeError("could not claim a store owner number (advisory locks all taken?)")

    def _reusable(self, conn: Any) -> bool:
        return not (conn.closed or conn.broken)  # the server may have dropped it

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def _response_row(self, response: dict, background: bool, item_texts: list[str]) -> tuple:
        # The row is owned by this store, so that only its death makes it an orphan.
        row = super()._response_row(response, background, item_texts)
        return (*row[:5], bool(background), self.owner, row[6])

    def chain(self, response_id: str) -> list[tuple[list[dict], list[dict]]]:
        """(input items, output items) per response, oldest first, ending at ``response_id``.

        KeyError if ``response_id`` is unknown; a link to a deleted response ends the walk there.
        """
        conn = self._conn()
        responses = conn.execute(CHAIN_SQL, (response_id,)).fetchall()
        if not responses:
            raise KeyError(response_id)
        ids = [rid for rid, _ in responses]
        inputs: dict[str, list[dict]] = {rid: [] for rid in ids}
        rows = conn.execute(
            "SELECT response_id, json FROM input_items WHERE response_id = ANY(%s) ORDER BY response_id, position",
            (ids,),
        ).fetchall()
        for (rid, _), item in zip(rows, loads_many([raw for _, raw in rows])):
            inputs[rid].append(item)
        outputs = loads_many([raw or "null" for _, raw in responses])
        return [(inputs[rid], list(output or [])) for (rid, _), output in zip(responses, outputs)]

    def mark_orphans_failed(self) -> list[str]:
        """Fail every queued/in_progress response whose owning store is gone; return their ids."""
        with self._transaction() as tx:
            rows = tx.execute(
                "SELECT id, json FROM responses WHERE status = ANY(%s)"
                f" AND (owner IS NULL OR owner::bigint NOT IN ({LIVE_OWNERS_SQL})) FOR UPDATE",
                (list(IN_FLIGHT), LOCK_NAMESPACE),
            ).fetchall()
            return self._fail_orphans(tx, rows)

    def _release(self) -> None:
        # Closing the liveness connection lets other stores recover this one's orphans.
        if self._liveness is not None:
            # Unlock explicitly: a closed connection's backend releases its locks only when
            # it exits, a moment later, and another store could see this one alive meanwhile.
            with contextlib.suppress(self._psycopg.Error):
                self._liveness.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, self.owner))
            self._liveness.close()
            self._liveness = None
