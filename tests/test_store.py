"""The Store implementations (SQLite, and Postgres when installed): round trips, input item pages,
chains, event logs, orphans, secrets, URLs."""
from __future__ import annotations

import threading

import pytest

from reference_impl.credentials import without_credentials
from reference_impl.store import store_for_url
from reference_impl.store_sqlite import SqliteStore

import pg


def _response(rid: str, *, prev: str | None = None, status: str = "completed", output: list | None = None) -> dict:
    return {"id": rid, "object": "response", "status": status, "created_at": 1, "previous_response_id": prev,
            "output": output or [{"id": f"msg_{rid}", "type": "message", "role": "assistant",
                                  "content": [{"type": "output_text", "text": rid}]}]}


def _items(n: int, tag: str = "i") -> list[dict]:
    return [{"id": f"{tag}{k}", "type": "message", "role": "user",
             "content": [{"type": "input_text", "text": str(k)}]} for k in range(n)]


class StoreBackend:
    """Opens stores on one fresh database of one kind, and reads that database's bytes on disk."""

    def __init__(self, kind: str, tmp_path, request) -> None:
        self.kind, self.opened = kind, []
        if kind == "sqlite":
            self.path = tmp_path / "db.sqlite"
            return
        try:
            self.cluster = pg.shared_cluster()
        except pg.PostgresUnavailable as exc:
            pytest.skip(f"Postgres store tests: {exc}")
        self.url = self.cluster.new_database()
        request.addfinalizer(lambda: self.cluster.drop_database(self.url))

    def open(self):
        """A new store (its own connections) on this backend's database."""
        if self.kind == "sqlite":
            store = SqliteStore(self.path)
        else:
            from reference_impl.store_postgres import PostgresStore

            store = PostgresStore(self.url)
        self.opened.append(store)
        return store

    def raw_bytes(self) -> bytes:
        """Everything the database holds on disk, including its write-ahead log."""
        if self.kind == "sqlite":
            return b"".join(p.read_bytes() for p in self.path.parent.glob("db.sqlite*"))
        return self.cluster.raw_bytes(self.url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    b = StoreBackend(request.param, tmp_path, request)
    yield b
    for s in b.opened:
        s.close()


@pytest.fixture
def store(backend):
    return backend.open()


def test_put_get_update_delete(store):
    store.put_response(_response("r1"), input_items=_items(2))
    assert store.get_response("r1")["output"][0]["id"] == "msg_r1"
    store.update_response({**_response("r1"), "status": "failed"})
    assert store.get_response("r1")["status"] == "failed"
    assert store.delete_response("r1") is True
    assert store.get_response("r1") is None
    assert store.delete_response("r1") is False
    with pytest.raises(KeyError):
        store.chain("r1")


def test_input_items_pages_desc_by_default(store):
    store.put_response(_response("r1"), input_items=_items(5))
    page, more = store.list_input_items("r1", limit=2)
    assert [i["id"] for i in page] == ["i4", "i3"] and more
    page, more = store.list_input_items("r1", after="i3", limit=2)
    assert [i["id"] for i in page] == ["i2", "i1"] and more
    page, more = store.list_input_items("r1", after="i1", limit=2)
    assert [i["id"] for i in page] == ["i0"] and not more
    page, more = store.list_input_items("r1", order="asc", after="i2", limit=10)
    assert [i["id"] for i in page] == ["i3", "i4"] and not more
    with pytest.raises(KeyError):
        store.list_input_items("r1", after="nope")


def test_delete_removes_input_items(store):
    store.put_response(_response("r1"), input_items=_items(2))
    store.delete_response("r1")
    assert store.list_input_items("r1") == ([], False)


def test_a_batch_writing_one_response_twice_keeps_the_last_write(store):
    """A background response's queued and final states can share one writer batch."""
    store.put_responses([(_response("r1"), _items(3), True), (_response("r2"), _items(1), False),
                         ({**_response("r1"), "status": "failed"}, _items(2), True)])
    assert store.get_response("r1")["status"] == "failed"
    assert [i["id"] for i in store.list_input_items("r1", order="asc")[0]] == ["i0", "i1"]
    assert [i["id"] for i in store.list_input_items("r2")[0]] == ["i0"]


def test_chain_walks_links_oldest_first(store):
    store.put_response(_response("a"), input_items=_items(1, "a"))
    store.put_response(_response("b", prev="a"), input_items=_items(1, "b"))
    store.put_response(_response("c", prev="b"), input_items=_items(1, "c"))
    store.put_response(_response("x"), input_items=_items(1, "x"))  # unrelated
    links = store.chain("c")
    assert [inputs[0]["id"] for inputs, _ in links] == ["a0", "b0", "c0"]
    assert [outputs[0]["id"] for _, outputs in links] == ["msg_a", "msg_b", "msg_c"]
    store.delete_response("a")  # a deleted ancestor ends the walk
    assert [inputs[0]["id"] for inputs, _ in store.chain("c")] == ["b0", "c0"]


def test_event_log_starting_after(store):
    store.put_response(_response("r1", status="in_progress"), input_items=[], background=True)
    store.append_events("r1", [{"type": "e", "sequence_number": n} for n in range(4)])
    assert [e["sequence_number"] for e in store.get_events("r1")] == [0, 1, 2, 3]
    assert [e["sequence_number"] for e in store.get_events("r1", starting_after=1)] == [2, 3]
    store.delete_response("r1")
    assert store.get_events("r1") == []


def test_orphans_marked_failed_across_connections(backend):
    first = backend.open()
    first.put_response(_response("q", status="queued"), input_items=[], background=True)
    first.put_response(_response("p", status="in_progress"), input_items=[], background=True)
    first.put_response(_response("d"), input_items=[])
    first.close()
    second = backend.open()
    assert sorted(second.mark_orphans_failed()) == ["p", "q"]
    failed = second.get_response("q")
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert second.get_response("d")["status"] == "completed"
    assert second.mark_orphans_failed() == []
    second.close()


def test_mcp_secrets_never_stored(store, backend):
    tools = [{"type": "mcp", "server_label": "s", "server_url": "http://x", "headers": {"Authorization": "Bearer s3"},
              "authorization": "s3"}, {"type": "function", "name": "f", "headers": "kept"}]
    store.put_response({**_response("r1"), "tools": tools}, input_items=[])
    store.update_response({**_response("r1"), "tools": tools})
    assert b"Bearer s3" not in backend.raw_bytes()  # the write-ahead log holds recent writes
    assert store.get_response("r1")["tools"][1]["headers"] == "kept"
    assert without_credentials({"tools": tools})["tools"][0] == {"type": "mcp", "server_label": "s", "server_url": "http://x"}


def test_threads_share_one_file(store):
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for n in range(10):
                store.put_response(_response(f"t{k}_{n}"), input_items=_items(2, f"t{k}_{n}_"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(store.get_response(f"t{k}_9") for k in range(4))


def test_store_urls(tmp_path):
    assert isinstance(store_for_url(f"sqlite:///{tmp_path}/x.db"), SqliteStore)
    with pytest.raises(ValueError, match="sqlite"):
        store_for_url("mysql://x")
    with pytest.raises(ValueError):
        SqliteStore(":memory:")


# The responses table as it was before the output column (issue 14): an old database still opens,
# gains the column, and chains through its old rows (read from their Response JSON).
OLD_RESPONSES_TABLE = {
    "sqlite": "CREATE TABLE responses (id TEXT PRIMARY KEY, json TEXT NOT NULL, status TEXT NOT NULL,"
              " created_at INTEGER NOT NULL, previous_response_id TEXT, background INTEGER NOT NULL DEFAULT 0)",
    "postgres": "CREATE TABLE responses (id TEXT PRIMARY KEY, json TEXT NOT NULL, status TEXT NOT NULL,"
                " created_at BIGINT NOT NULL, previous_response_id TEXT,"
                " background BOOLEAN NOT NULL DEFAULT FALSE, owner INTEGER)",
}


def _old_database(backend) -> None:
    """Two chained responses written the old way: no output column, output only in the JSON."""
    import json

    rows = [_response("r1"), _response("r2", prev="r1")]
    if backend.kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(backend.path)
        conn.execute(OLD_RESPONSES_TABLE["sqlite"])
        conn.executemany("INSERT INTO responses VALUES (?, ?, 'completed', 1, ?, 0)",
                         [(r["id"], json.dumps(r), r["previous_response_id"]) for r in rows])
        conn.commit()
        conn.close()
        return
    import psycopg

    with psycopg.connect(backend.url, autocommit=True) as conn:
        conn.execute(OLD_RESPONSES_TABLE["postgres"])
        for r in rows:
            conn.execute("INSERT INTO responses VALUES (%s, %s, 'completed', 1, %s, FALSE, NULL)",
                         (r["id"], json.dumps(r), r["previous_response_id"]))


def test_a_database_from_before_the_output_column_is_migrated_and_still_chains(backend):
    _old_database(backend)
    store = backend.open()
    assert [out[0]["id"] for _, out in store.chain("r2")] == ["msg_r1", "msg_r2"]
    store.put_response(_response("r3", prev="r2"), input_items=_items(1))  # a new row, output column set
    chain = store.chain("r3")
    assert [out[0]["id"] for _, out in chain] == ["msg_r1", "msg_r2", "msg_r3"]
    assert [len(inputs) for inputs, _ in chain] == [0, 0, 1]
    assert store.get_response("r1") == _response("r1")


def test_the_output_column_follows_updates(store):
    store.put_response(_response("r1"), input_items=[])
    store.update_response({**_response("r1"), "output": [{"id": "msg_new", "type": "message", "role": "assistant",
                                                          "content": [{"type": "output_text", "text": "new"}]}]})
    assert store.chain("r1")[0][1][0]["id"] == "msg_new"


def test_a_chain_mixing_fast_and_slow_rows_keeps_order_and_exact_integers(store):
    """Rows whose turn text cannot be parsed by orjson exactly (an integer beyond 64 bits), rows
    updated since (no input items to rebuild the turn from) and plain rows chain in order."""
    big = 123456789012345678901234567890
    hex_id = "msg_" + "1234567890" * 4 + "abcdef12"  # a digit run inside a word: not a number
    store.put_response(_response("a"), input_items=[{**_items(1, "a")[0], "x_big": big}])
    store.put_response(_response("b", prev="a", output=[{"id": hex_id, "type": "message", "role": "assistant",
                                                        "content": [{"type": "output_text", "text": "b"}]}]),
                       input_items=_items(2, "b"))
    store.put_response(_response("c", prev="b"), input_items=_items(1, "c"))
    store.update_response({**_response("c", prev="b"), "output": []})
    store.put_response(_response("d", prev="c"), input_items=[])
    chain = store.chain("d")
    assert [[i["id"] for i in inputs] for inputs, _ in chain] == [["a0"], ["b0", "b1"], ["c0"], []]
    assert [[o["id"] for o in outputs] for _, outputs in chain] == [["msg_a"], [hex_id], [], ["msg_d"]]
    assert chain[0][0][0]["x_big"] == big and isinstance(chain[0][0][0]["x_big"], int)
