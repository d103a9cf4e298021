"""Persistence of responses: the `Store` protocol, and `store_for_url`, which opens one.

What is kept: each Response object (JSON, status, created_at, background flag), its ``output``
again in a column of its own (so that a chain reads only the items it needs, never the whole
object), in SQLite its whole turn (input and output items, see `SqliteStore.chain`), its input
items in order, the chain link to ``previous_response_id`` (a column with an index), and the event log
of background responses (for ``GET ?stream=true``). MCP credentials never reach the store:
`credentials.without_credentials` removes them before writing.

Two implementations share their SQL through `store_sql.SqlStore` (row shaping, input item
paging, event logs, orphan marking, per-thread connections, and the conversations of
conversation_store.py): `store_sqlite.SqliteStore` (WAL) and `store_postgres.PostgresStore`
add connections, transactions, upserts and the chain walk. `store_for_url` picks one by URL
scheme.
"""
from __future__ import annotations

from typing import Protocol

from .store_sqlite import SqliteStore


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


def store_for_url(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or
    ``postgresql://user@host:port/db`` (needs the psycopg driver)."""
    if url.startswith("sqlite:///"):
        return SqliteStore(url[len("sqlite:///"):])
    if url.startswith(("postgres://", "postgresql://")):
        from .store_postgres import PostgresStore  # lazy: psycopg is only needed for Postgres

        return PostgresStore(url)
    raise ValueError(f"unsupported store URL {url!r}: expected sqlite:///PATH or postgresql://…")
