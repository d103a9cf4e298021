"""The `Store` protocol on PostgreSQL (psycopg 3), for several router processes sharing one database.

Same tables and semantics as `SqliteStore`, with two differences that sharing needs:

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

import json
import secrets
import threading
import time
from typing import Any

from .credentials import without_credentials
from .store import IN_FLIGHT, ORPHAN_ERROR

# Advisory lock namespace (first key of the two-key form): b"RESP" as an int.
LOCK_NAMESPACE = 0x52455350
SCHEMA_LOCK = 0  # second key held while creating tables, so concurrent starts do not race
OWNER_ATTEMPTS = 16
CONNECT_TIMEOUT_S = 10

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    previous_response_id TEXT,
    background BOOLEAN NOT NULL DEFAULT FALSE,
    owner INTEGER
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

# Ancestors of one response, newest first; the path array stops a (corrupt) cyclic chain.
CHAIN_SQL = """
WITH RECURSIVE walk(id, json, previous_response_id, depth, path) AS (
    SELECT id, json, previous_response_id, 0, ARRAY[id] FROM responses WHERE id = %s
  UNION ALL
    SELECT r.id, r.json, r.previous_response_id, w.depth + 1, w.path || r.id
    FROM responses r JOIN walk w ON r.id = w.previous_response_id
    WHERE NOT r.id = ANY(w.path)
)
SELECT id, json FROM walk ORDER BY depth DESC
"""

# Owners whose store is still open somewhere: they hold their advisory lock in this database.
LIVE_OWNERS_SQL = """
SELECT objid::bigint FROM pg_locks
WHERE locktype = 'advisory' AND classid = %s AND objsubid = 2 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # an optional dependency: only Postgres URLs need it
        raise ValueError("a postgresql:// store needs the psycopg driver: pip install 'psycopg[binary]'") from exc
    return psycopg


class PostgresStore:
    """`Store` on a PostgreSQL database named by a libpq URL (``postgresql://user@host:port/db``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._psycopg = _psycopg()
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
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

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def put_response(self, response: dict, *, input_items: list[dict], background: bool = False) -> None:
        """Insert or replace a response with its input items (one transaction), owned by this store."""
        response = without_credentials(response)
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "INSERT INTO responses (id, json, status, created_at, previous_response_id, background, owner)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET json = EXCLUDED.json,"
                " status = EXCLUDED.status, created_at = EXCLUDED.created_at,"
                " previous_response_id = EXCLUDED.previous_response_id, background = EXCLUDED.background,"
                " owner = EXCLUDED.owner",
                (response["id"], _dumps(response), response.get("status") or "completed",
                 int(response.get("created_at") or time.time()), response.get("previous_response_id"),
                 bool(background), self.owner),
            )
            cur.execute("DELETE FROM input_items WHERE response_id = %s", (response["id"],))
            cur.executemany(
                "INSERT INTO input_items (response_id, position, item_id, json) VALUES (%s, %s, %s, %s)",
                [(response["id"], i, item.get("id"), _dumps(item)) for i, item in enumerate(input_items)],
            )

    def get_response(self, response_id: str) -> dict | None:
        """The stored Response object, or None."""
        row = self._conn().execute("SELECT json FROM responses WHERE id = %s", (response_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def update_response(self, response: dict) -> None:
        """Replace the JSON and status of an existing response (no-op if it was deleted)."""
        response = without_credentials(response)
        self._conn().execute(
            "UPDATE responses SET json = %s, status = %s WHERE id = %s",
            (_dumps(response), response.get("status") or "completed", response["id"]),
        )

    def delete_response(self, response_id: str) -> bool:
        """Delete a response, its input items and its events."""
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("DELETE FROM responses WHERE id = %s", (response_id,))
            deleted = cur.rowcount > 0
            cur.execute("DELETE FROM input_items WHERE response_id = %s", (response_id,))
            cur.execute("DELETE FROM events WHERE response_id = %s", (response_id,))
        return deleted

    def list_input_items(
        self, response_id: str, *, after: str | None = None, limit: int = 20, order: str = "desc"
    ) -> tuple[list[dict], bool]:
        """A page of input items in ``order`` starting after item id ``after``; KeyError if unknown."""
        conn = self._conn()
        direction = "DESC" if order == "desc" else "ASC"
        params: list[Any] = [response_id]
        where = "response_id = %s"
        if after is not None:
            row = conn.execute("SELECT position FROM input_items WHERE response_id = %s AND item_id = %s",
                               (response_id, after)).fetchone()
            if row is None:
                raise KeyError(after)
            where += " AND position < %s" if order == "desc" else " AND position > %s"
            params.append(row[0])
        rows = conn.execute(
            f"SELECT json FROM input_items WHERE {where} ORDER BY position {direction} LIMIT %s",
            (*params, limit + 1),
        ).fetchall()
        items = [json.loads(r[0]) for r in rows]
        return items[:limit], len(items) > limit

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
        for rid, raw in conn.execute(
            "SELECT response_id, json FROM input_items WHERE response_id = ANY(%s) ORDER BY response_id, position",
            (ids,),
        ):
            inputs[rid].append(json.loads(raw))
        return [(inputs[rid], list(json.loads(raw).get("output") or [])) for rid, raw in responses]

    def append_events(self, response_id: str, events: list[dict]) -> None:
        """Append events to a response's event log (keyed by their sequence numbers)."""
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (response_id, sequence_number, json) VALUES (%s, %s, %s)"
                " ON CONFLICT (response_id, sequence_number) DO UPDATE SET json = EXCLUDED.json",
                [(response_id, e["sequence_number"], _dumps(e)) for e in events],
            )

    def get_events(self, response_id: str, *, starting_after: int | None = None) -> list[dict]:
        """Stored events after ``starting_after`` (all when None), in order."""
        rows = self._conn().execute(
            "SELECT json FROM events WHERE response_id = %s AND sequence_number > %s ORDER BY sequence_number",
            (response_id, -1 if starting_after is None else starting_after),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def mark_orphans_failed(self) -> list[str]:
        """Fail every queued/in_progress response whose owning store is gone; return their ids."""
        conn = self._conn()
        ids: list[str] = []
        with conn.transaction():
            rows = conn.execute(
                "SELECT id, json FROM responses WHERE status = ANY(%s)"
                f" AND (owner IS NULL OR owner::bigint NOT IN ({LIVE_OWNERS_SQL})) FOR UPDATE",
                (list(IN_FLIGHT), LOCK_NAMESPACE),
            ).fetchall()
            for rid, raw in rows:
                response = json.loads(raw)
                response.update(status="failed", error=dict(ORPHAN_ERROR))
                conn.execute("UPDATE responses SET json = %s, status = 'failed' WHERE id = %s",
                             (_dumps(response), rid))
                ids.append(rid)
        return ids

    def close(self) -> None:
        """Close every connection; closing the liveness one lets others recover this store's orphans."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            if self._liveness is not None:
                # Unlock explicitly: a closed connection's backend releases its locks only when
                # it exits, a moment later, and another store could see this one alive meanwhile.
                with contextlib.suppress(self._psycopg.Error):
                    self._liveness.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, self.owner))
                self._liveness.close()
                self._liveness = None
        self._local = threading.local()
