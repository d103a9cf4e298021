"""Restart safety: a router process stopped with background work in flight (SIGKILL or SIGTERM),
then started again on the same SQLite file, loses nothing it stored and leaves no response queued
or in progress: each one is failed with the typed ``server_error`` orphan error.
"""
from __future__ import annotations

import json
import sqlite3
import time

import pytest

from reference_impl.store_sql import IN_FLIGHT, ORPHAN_ERROR
from router_process import RouterProcess
from upstream import Reply, stream_events

# Slow enough that nothing finishes during the test: 40 chunks at 0.25 s.
SLOW = Reply(text="x" * 40, pieces=40, delay=0.25)
MAX_BACKGROUND = 2  # three background creates: two run (in_progress), one waits (queued)
BACKGROUND_COUNT = 3
SETTLE_TIMEOUT_S = 10.0  # until the background work is seen running and queued: a hang guard
POLL_S = 0.05


def _rows(db_path) -> dict[str, dict]:
    """Every stored response, read straight from the file (WAL included) with a fresh connection."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {rid: {"status": status, **json.loads(raw)}
                for rid, status, raw in conn.execute("SELECT id, status, json FROM responses")}
    finally:
        conn.close()


def _start_work(router: RouterProcess, upstream) -> tuple[list[dict], list[str]]:
    """Two finished responses (a chain), then background ones left running and queued."""
    upstream.script(Reply(text="first answer"), Reply(text="second answer"))
    first = router.create(input="one")
    second = router.create(input="two", previous_response_id=first["id"])
    assert second["status"] == "completed"
    upstream.script(*[SLOW] * BACKGROUND_COUNT)
    background = [router.create(input=f"bg {n}", background=True)["id"] for n in range(BACKGROUND_COUNT)]
    # Two running and one waiting for a worker: polled until seen (waiting on each id in turn
    # waited the full timeout on the one that stays queued).
    expected = ["in_progress"] * MAX_BACKGROUND + ["queued"] * (BACKGROUND_COUNT - MAX_BACKGROUND)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        statuses = sorted(router.get(rid)["status"] for rid in background)
        if statuses == expected or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    assert statuses == expected
    return [router.get(first["id"]), router.get(second["id"])], background


def _assert_recovered(router: RouterProcess, done: list[dict], background: list[str]) -> None:
    for before in done:
        assert router.get(before["id"]) == before  # finished work is untouched
    for rid in background:
        got = router.get(rid)
        assert got["status"] == "failed", got
        assert got["error"] == ORPHAN_ERROR
        assert got["background"] is True
    items = router.client.get(f"/v1/responses/{done[1]['id']}/input_items").json()
    assert [i["content"][0]["text"] for i in items["data"]] == ["two"]


@pytest.mark.parametrize("stop", ["sigkill", "sigterm"])
def test_restart_leaves_no_response_in_flight(upstream, tmp_path, stop):
    db = tmp_path / "router.db"
    url = f"sqlite:///{db}"
    args = ("--max-background", str(MAX_BACKGROUND))
    with RouterProcess(url, [upstream.url], tmp_path, extra_args=args) as first:
        done, background = _start_work(first, upstream)
        if stop == "sigkill":
            first.kill()
            assert first.proc.returncode == -9
        else:
            assert first.terminate() == 0, first.log()

    rows = _rows(db)  # before any restart: the file alone holds everything created
    assert set(rows) == {d["id"] for d in done} | set(background)
    assert all(rows[rid]["status"] in IN_FLIGHT for rid in background)
    assert all(rows[d["id"]] == {"status": "completed", **d} for d in done)

    with RouterProcess(url, [upstream.url], tmp_path, extra_args=args) as second:
        _assert_recovered(second, done, background)
        # A chain through a finished response still works after the restart.
        upstream.reset()  # drop the slow reply the queued response never took
        upstream.script(Reply(text="third answer"))
        third = second.create(input="three", previous_response_id=done[1]["id"])
        assert third["status"] == "completed"
        history = upstream.requests[-1]["messages"]
        assert [m["content"] for m in history if m["role"] == "user"] == ["one", "two", "three"]
    assert not any(r["status"] in IN_FLIGHT for r in _rows(db).values())


def test_orphan_event_stream_ends_with_failure(upstream, tmp_path):
    """Replaying a recovered orphan's events ends with a terminal event, never a cut-off stream."""
    url = f"sqlite:///{tmp_path / 'router.db'}"
    with RouterProcess(url, [upstream.url], tmp_path) as first:
        upstream.script(SLOW)
        rid = first.create(input="bg", background=True)["id"]
        assert first.wait_status(rid, ("in_progress",), timeout=3)["status"] == "in_progress"
        first.kill()
    with RouterProcess(url, [upstream.url], tmp_path) as second:
        resp = second.client.get(f"/v1/responses/{rid}", params={"stream": "true"})
        assert resp.status_code == 200, resp.text
        events = stream_events(resp.content, mode="background")
        assert events[-1]["type"] == "response.failed", [e["type"] for e in events]
        assert events[-1]["response"]["error"] == ORPHAN_ERROR
