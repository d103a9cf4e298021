"""PostgresStore beyond the shared store suite (tests/test_store.py runs that against Postgres too):
URLs, concurrent start-up, long and cyclic chains, orphans that belong to a live process, and two
router processes sharing one database, including one of them crashing and restarting.

Skips, saying why, when PostgreSQL binaries or the psycopg driver are absent.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

import pg
from reference_impl.store import store_for_url
from reference_impl.store_sql import ORPHAN_ERROR
from router_process import RouterProcess
from upstream import Reply

ANSWER = "y" * 24


@pytest.fixture(scope="module")
def cluster():
    try:
        return pg.shared_cluster()
    except pg.PostgresUnavailable as exc:
        pytest.skip(f"Postgres tests: {exc}")


@pytest.fixture
def db_url(cluster):
    url = cluster.new_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def open_store(db_url):
    from reference_impl.store_postgres import PostgresStore

    opened: list[PostgresStore] = []

    def factory() -> PostgresStore:
        opened.append(PostgresStore(db_url))
        return opened[-1]

    yield factory
    for store in opened:
        store.close()


def _response(rid: str, *, prev: str | None = None, status: str = "completed") -> dict:
    return {"id": rid, "object": "response", "status": status, "created_at": 1, "previous_response_id": prev,
            "output": [{"id": f"msg_{rid}", "type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": rid}]}]}


def test_store_for_url_opens_postgres(db_url):
    from reference_impl.store_postgres import PostgresStore

    for url in (db_url, db_url.replace("postgresql://", "postgres://", 1)):
        store = store_for_url(url)
        try:
            assert isinstance(store, PostgresStore)
            store.put_response(_response("r"), input_items=[])
            assert store.get_response("r")["id"] == "r"
        finally:
            store.close()


def test_concurrent_first_start_creates_schema_once(db_url, open_store):
    errors: list[BaseException] = []
    owners: list[int] = []

    def start() -> None:
        try:
            owners.append(open_store().owner)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(owners)) == 4  # each store holds its own liveness lock


def test_long_chain_in_order_and_cycle_terminates(open_store):
    store = open_store()
    prev = None
    for n in range(300):
        rid = f"r{n:03d}"
        store.put_response(_response(rid, prev=prev), input_items=[{"id": f"in{n}", "type": "message"}])
        prev = rid
    links = store.chain("r299")
    assert [inputs[0]["id"] for inputs, _ in links] == [f"in{n}" for n in range(300)]
    assert links[-1][1][0]["id"] == "msg_r299"
    # A corrupt cycle (a -> b -> a) must end the walk, not loop.
    store.put_response(_response("a", prev="b"), input_items=[])
    store.put_response(_response("b", prev="a"), input_items=[])
    assert [out[0]["id"] for _, out in store.chain("a")] == ["msg_b", "msg_a"]


def test_orphans_of_a_live_store_are_left_alone(open_store):
    running, restarted = open_store(), open_store()
    running.put_response(_response("live", status="in_progress"), input_items=[], background=True)
    assert restarted.mark_orphans_failed() == []
    assert restarted.get_response("live")["status"] == "in_progress"
    running.close()
    assert restarted.mark_orphans_failed() == ["live"]
    assert restarted.get_response("live")["error"] == ORPHAN_ERROR


def test_orphans_of_a_killed_process_are_failed(db_url, open_store):
    script = ("import sys, time; from reference_impl.store_postgres import PostgresStore; "
              "s = PostgresStore(sys.argv[1]); "
              "s.put_response({'id': 'crash', 'status': 'in_progress', 'created_at': 1}, input_items=[], "
              "background=True); print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", script, db_url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        survivor = open_store()
        assert survivor.mark_orphans_failed() == []  # its owner is alive
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # The server notices the dropped connection and releases its lock; poll briefly for it.
        for _ in range(50):
            if survivor.mark_orphans_failed() == ["crash"]:
                break
            threading.Event().wait(0.1)
        assert survivor.get_response("crash")["status"] == "failed"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def test_two_routers_share_a_chain(upstream, db_url, tmp_path):
    with RouterProcess(db_url, [upstream.url], tmp_path) as a, RouterProcess(db_url, [upstream.url], tmp_path) as b:
        upstream.script(Reply(text="answer from a"), Reply(text="answer from b"))
        first = a.create(input="asked on a")
        second = b.create(input="asked on b", previous_response_id=first["id"])
        assert second["status"] == "completed" and second["previous_response_id"] == first["id"]
        # B rehydrated A's turn: the upstream saw the whole history.
        history = [(m["role"], m["content"]) for m in upstream.requests[-1]["messages"]]
        assert history == [("user", "asked on a"), ("assistant", "answer from a"), ("user", "asked on b")]
        assert a.get(second["id"]) == b.get(second["id"]) == second
        for router in (a, b):
            for rid, text in ((first["id"], "asked on a"), (second["id"], "asked on b")):
                page = router.client.get(f"/v1/responses/{rid}/input_items").json()
                assert [i["content"][0]["text"] for i in page["data"]] == [text]
        assert b.client.delete(f"/v1/responses/{first['id']}").status_code == 200
        assert a.client.get(f"/v1/responses/{first['id']}").status_code == 404


def test_a_router_crash_does_not_fail_the_other_routers_work(upstream, db_url, tmp_path):
    held = threading.Event()  # both answers stay in flight until the restart has been checked
    with RouterProcess(db_url, [upstream.url], tmp_path) as steady:
        crashing = RouterProcess(db_url, [upstream.url], tmp_path)
        try:
            upstream.script(*[Reply(text=ANSWER, pieces=24, gate=held)] * 2)
            lost = crashing.create(input="on the crashing router", background=True)["id"]
            kept = steady.create(input="on the steady router", background=True)["id"]
            assert crashing.wait_status(lost, ("in_progress",), timeout=3)["status"] == "in_progress"
            assert steady.wait_status(kept, ("in_progress",), timeout=3)["status"] == "in_progress"
            crashing.kill()
        finally:
            crashing.kill()
        with RouterProcess(db_url, [upstream.url], tmp_path) as restarted:
            got = restarted.get(lost)
            assert got["status"] == "failed" and got["error"] == ORPHAN_ERROR
            assert restarted.get(kept)["status"] == "in_progress"  # its owner is alive
        held.set()
        done = steady.wait_status(kept, ("completed", "failed"), timeout=20)
        assert done["status"] == "completed", done
        assert done["output"][0]["content"][0]["text"] == ANSWER
