"""Persistence of conversations: the SQL that SQLite and Postgres share (mixed into `store_sql.SqlStore`).

A conversation is a row (its Conversation object as JSON, and ``next_position``, a counter) and
its items, each at an integer position. Appending reserves positions by bumping the counter with
``UPDATE … RETURNING`` inside the same transaction as the inserts: the UPDATE takes the
conversation row's lock (Postgres) or the database's write lock (SQLite, BEGIN IMMEDIATE), so
concurrent turns on one conversation each get a contiguous block of positions, in commit order,
and no item is lost or interleaved. Deleted items leave gaps; order is by position.
"""
from __future__ import annotations

import json
from typing import Any

from .jsoncodec import loads

CONVERSATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_position BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS conversation_items (
    conversation_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    item_id TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (conversation_id, position)
);
CREATE INDEX IF NOT EXISTS conversation_items_id ON conversation_items(conversation_id, item_id);
"""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class ConversationSql:
    """Conversation methods of the store; needs ``_transaction``, ``_query`` and ``_sql`` (SqlStore)."""

    _transaction: Any
    _query: Any
    _sql: Any

    def create_conversation(self, conversation: dict, items: list[dict]) -> None:
        """Insert a conversation object and its first items (one transaction)."""
        with self._transaction() as tx:
            tx.execute(self._sql("INSERT INTO conversations (id, json, created_at, next_position)"
                                 " VALUES (?, ?, ?, ?)"),
                       (conversation["id"], _dumps(conversation), int(conversation["created_at"]), len(items)))
            self._insert_items(tx, conversation["id"], 0, items)

    def get_conversation(self, conversation_id: str) -> dict | None:
        """The Conversation object, or None."""
        rows = self._query("SELECT json FROM conversations WHERE id = ?", (conversation_id,))
        return json.loads(rows[0][0]) if rows else None

    def update_conversation(self, conversation: dict) -> bool:
        """Replace a conversation's object; False if it does not exist."""
        with self._transaction() as tx:
            cur = tx.execute(self._sql("UPDATE conversations SET json = ? WHERE id = ?"),
                             (_dumps(conversation), conversation["id"]))
            return cur.rowcount > 0

    def delete_conversation(self, conversation_id: str) -> bool:
        """Delete a conversation and its items; False if it did not exist."""
        with self._transaction() as tx:
            deleted = tx.execute(self._sql("DELETE FROM conversations WHERE id = ?"),
                                 (conversation_id,)).rowcount > 0
            tx.execute(self._sql("DELETE FROM conversation_items WHERE conversation_id = ?"), (conversation_id,))
        return deleted

    def append_conversation_items(self, conversation_id: str, items: list[dict]) -> bool:
        """Append ``items`` as one contiguous block; False (nothing written) if the conversation is gone."""
        with self._transaction() as tx:
            row = tx.execute(
                self._sql("UPDATE conversations SET next_position = next_position + ? WHERE id = ?"
                          " RETURNING next_position"),
                (len(items), conversation_id)).fetchone()
            if row is None:
                return False
            self._insert_items(tx, conversation_id, int(row[0]) - len(items), items)
        return True

    def _insert_items(self, tx: Any, conversation_id: str, start: int, items: list[dict]) -> None:
        tx.executemany(
            self._sql("INSERT INTO conversation_items (conversation_id, position, item_id, json)"
                      " VALUES (?, ?, ?, ?)"),
            [(conversation_id, start + k, item["id"], _dumps(item)) for k, item in enumerate(items)],
        )

    def conversation_items(self, conversation_id: str) -> list[dict]:
        """Every item of a conversation, oldest first (what the next turn sees)."""
        rows = self._query("SELECT json FROM conversation_items WHERE conversation_id = ? ORDER BY position",
                           (conversation_id,))
        return [json.loads(r[0]) for r in rows]

    def get_conversation_item(self, conversation_id: str, item_id: str) -> dict | None:
        """One item, or None."""
        rows = self._query("SELECT json FROM conversation_items WHERE conversation_id = ? AND item_id = ?",
                           (conversation_id, item_id))
        return json.loads(rows[0][0]) if rows else None

    def delete_conversation_item(self, conversation_id: str, item_id: str) -> bool:
        """Delete one item; False if it did not exist."""
        with self._transaction() as tx:
            return tx.execute(self._sql("DELETE FROM conversation_items WHERE conversation_id = ? AND item_id = ?"),
                              (conversation_id, item_id)).rowcount > 0

    def list_conversation_items(self, conversation_id: str, *, after: str | None = None, limit: int = 20,
                                order: str = "desc") -> tuple[list[dict], bool]:
        """A page of items in ``order`` after item id ``after``; KeyError if ``after`` is unknown."""
        return self._page("conversation_items", "conversation_id", conversation_id,
                          after=after, limit=limit, order=order)

    def _page(self, table: str, owner_column: str, owner: str, *, after: str | None, limit: int,
              order: str) -> tuple[list[dict], bool]:
        """A page of ``table``'s items of ``owner`` by ``position`` (a response's input items, a
        conversation's items), after item id ``after``; KeyError if ``after`` is not among them.
        ``table`` and ``owner_column`` are this module's constants, never request text."""
        direction = "DESC" if order == "desc" else "ASC"
        params: list[Any] = [owner]
        where = f"{owner_column} = ?"
        if after is not None:
            rows = self._query(f"SELECT position FROM {table} WHERE {owner_column} = ? AND item_id = ?",
                               (owner, after))
            if not rows:
                raise KeyError(after)
            where += " AND position < ?" if order == "desc" else " AND position > ?"
            params.append(rows[0][0])
        rows = self._query(f"SELECT json FROM {table} WHERE {where} ORDER BY position {direction} LIMIT ?",
                           (*params, limit + 1))
        items = [loads(r[0]) for r in rows]
        return items[:limit], len(items) > limit
