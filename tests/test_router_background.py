"""Background responses: queued answer, polling, resumable streams, cancel, orphan recovery."""
from __future__ import annotations

import sqlite3
import threading

from upstream import Reply, Router, stream_events


def test_background_queued_then_completed(router, upstream):
    upstream.script(Reply(text="done later"))
    queued = router.create(input="x", background=True)
    assert queued.status_code == 200 and queued.json()["status"] == "queued"
    assert queued.json()["background"] is True
    final = router.wait_status(queued.json()["id"], ("completed",))
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == "done later"


def test_background_stream_and_resume(router, upstream):
    upstream.script(Reply(text="abcdefgh", pieces=4))
    live = router.create(input="x", background=True, stream=True)
    events = stream_events(live.content, mode="background")
    assert [e["type"] for e in events[:3]] == ["response.created", "response.queued", "response.in_progress"]
    assert events[0]["response"]["status"] == "queued" and events[-1]["type"] == "response.completed"
    rid = events[0]["response"]["id"]
    replay = router.client.get(f"/v1/responses/{rid}", params={"stream": "true"})
    assert stream_events(replay.content, mode="background") == events
    resumed = router.client.get(f"/v1/responses/{rid}", params={"stream": "true", "starting_after": 4})
    tail = stream_events(resumed.content, mode="resume")
    assert tail == events[5:]


def test_stream_of_non_background_response_is_400(router):
    rid = router.create(input="x").json()["id"]
    resp = router.client.get(f"/v1/responses/{rid}", params={"stream": "true"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "stream"


def test_cancel_in_flight_is_idempotent(router, upstream):
    upstream.script(Reply(text="an answer held until cancelled", pieces=6, gate=threading.Event()))
    rid = router.create(input="x", background=True).json()["id"]
    router.wait_status(rid, ("in_progress",))
    first = router.client.post(f"/v1/responses/{rid}/cancel")
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = router.client.post(f"/v1/responses/{rid}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert router.client.get(f"/v1/responses/{rid}").json()["status"] == "cancelled"


def test_cancel_errors(router):
    sync_id = router.create(input="x").json()["id"]
    resp = router.client.post(f"/v1/responses/{sync_id}/cancel")
    assert resp.status_code == 400 and set(resp.json()["error"]) == {"message", "type", "param", "code"}
    done_id = router.create(input="x", background=True).json()["id"]
    router.wait_status(done_id, ("completed",))
    assert router.client.post(f"/v1/responses/{done_id}/cancel").status_code == 400
    assert router.client.post("/v1/responses/resp_nope/cancel").status_code == 404


def test_bounded_workers_queue_the_rest(upstream, tmp_path):
    held = threading.Event()  # the first answer runs until the queue has been seen
    upstream.script(Reply(text="slow", pieces=2, gate=held), *[Reply(text="slow", pieces=2) for _ in range(2)])
    with Router(tmp_path / "db.sqlite", [upstream.url], max_background=1) as router:
        ids = [router.create(input=f"x{n}", background=True).json()["id"] for n in range(3)]
        router.wait_status(ids[0], ("in_progress",))
        assert router.client.get(f"/v1/responses/{ids[2]}").json()["status"] == "queued"
        held.set()
        for rid in ids:
            assert router.wait_status(rid, ("completed",), timeout=15)["status"] == "completed"


def test_orphans_fail_after_restart(upstream, tmp_path):
    db = tmp_path / "db.sqlite"
    upstream.script(Reply(text="never finishes", pieces=10, gate=threading.Event()))
    with Router(db, [upstream.url]) as router:
        rid = router.create(input="x", background=True).json()["id"]
        router.wait_status(rid, ("in_progress",))
        done = router.create(input="y").json()["id"]
    # A crash leaves rows in flight; shutdown leaves them so, too (no outcome is recorded).
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM responses WHERE id = ?", (rid,)).fetchone()[0] == "in_progress"
    conn.close()
    with Router(db, [upstream.url]) as router:
        orphan = router.client.get(f"/v1/responses/{rid}").json()
        assert orphan["status"] == "failed" and orphan["error"]["code"] == "server_error"
        assert "restart" in orphan["error"]["message"]
        assert router.client.get(f"/v1/responses/{done}").json()["status"] == "completed"
