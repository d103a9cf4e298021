"""Fault injection: every upstream and MCP fault ends in a typed failure, a terminal stored row,
no hang, no task left running and no upstream connection left open.

Already covered elsewhere, and not repeated here: the stream's ``error`` + ``response.failed``
pair for a mid-stream disconnect, a malformed chunk and an upstream 400
(tests/test_router_upstream.py::test_upstream_failure_mid_stream_fails_response), retries before
the first byte (``test_5xx_retried_before_first_byte``), the sync answers to a slow or unreachable
upstream (``test_slow_upstream_times_out_not_hangs``, ``test_unreachable_backend_fails``), and MCP
failures at the toolset level (tests/test_mcp_toolset.py::test_unreachable_server_gives_an_error_item,
``test_missing_credentials_give_an_error_item``). What this file adds: each upstream fault in
streaming *and* background mode with the leak checks below, the client that hangs up mid-stream,
and MCP faults seen through the router.

The leak checks (`assert_quiet`): no asyncio task is left on the router's loop beyond uvicorn's
own, no background worker is registered, no backend counts a request in flight, and the
scripted upstream has no response body still streaming (the router closed the connection).
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest

from fixtures.mcp_server import serve_mcp
from upstream import Reply, Router, ScriptedUpstream, ServerThread, free_port, stream_events

READ_TIMEOUT_S = 1.0  # the router's per-read upstream timeout in these tests
SETTLE_S = 5.0  # how long the router may take to tidy up after an answer
CLIENT_TIMEOUT_S = 20.0  # the hang guard on every request these tests make
BASELINE_TASKS = {"Server.serve", "LifespanOn.main"}  # uvicorn's own, always running
SLOW_PIECES, SLOW_DELAY_S = 20, 0.2  # an answer that takes 4 s, for the hang-up test
pytestmark = pytest.mark.timeout(60)


class TrackingUpstream(ScriptedUpstream):
    """A ScriptedUpstream that counts response bodies still streaming and chunks sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_streams = 0
        self.frames_sent = 0
        self.before_reply: Callable[[], None] | None = None  # run (in a thread) before each answer

    async def _chat(self, request: Any) -> Any:
        if self.before_reply is not None:
            await asyncio.to_thread(self.before_reply)
        response = await super()._chat(request)
        if hasattr(response, "body_iterator"):
            response.body_iterator = self._tracked(response.body_iterator)
        return response

    async def _tracked(self, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        self.open_streams += 1
        try:
            async for frame in frames:
                self.frames_sent += 1
                yield frame
        finally:
            self.open_streams -= 1


@pytest.fixture(scope="module")
def shared_upstream() -> Iterator[TrackingUpstream]:
    """One tracking upstream for the module."""
    scripted = TrackingUpstream()
    with ServerThread(scripted.app) as server:
        scripted.url = server.url  # type: ignore[attr-defined]
        yield scripted


@pytest.fixture
def upstream(shared_upstream: TrackingUpstream) -> TrackingUpstream:
    """The shared upstream, reset."""
    shared_upstream.reset()
    shared_upstream.frames_sent = 0
    shared_upstream.before_reply = None
    return shared_upstream


@pytest.fixture
def router(upstream: TrackingUpstream, tmp_path: Any) -> Iterator[Router]:
    """A router with a short upstream read timeout."""
    with Router(tmp_path / "db.sqlite", [upstream.url], read_timeout=READ_TIMEOUT_S) as r:
        r.client.timeout = httpx2.Timeout(CLIENT_TIMEOUT_S)
        yield r


def leftovers(router: Router, upstream: TrackingUpstream | None) -> list[str]:
    """What is still running in the router (and upstream) that should not be."""
    server = router.server.server
    loop = server.servers[0].get_loop()
    tasks = [t.get_coro().__qualname__ for t in asyncio.all_tasks(loop) if not t.done()]
    state = server.config.app.state
    found = [f"task {name}" for name in tasks if name not in BASELINE_TASKS]
    found += [f"background worker {rid}" for rid in state.runner._tasks]
    found += [f"{b.base_url} has {b.in_flight} request(s) in flight" for b in state.pool.backends if b.in_flight]
    if upstream is not None and upstream.open_streams:
        found.append(f"upstream still streaming {upstream.open_streams} body(ies)")
    return found


def assert_quiet(router: Router, upstream: TrackingUpstream | None) -> None:
    """Fail unless the router settles (no leftover task, worker, in-flight request) in time."""
    deadline = time.monotonic() + SETTLE_S
    while (found := leftovers(router, upstream)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not found, f"still running {SETTLE_S:.0f}s after the answer: {found}"


def stored(router: Router, response_id: str) -> dict:
    """The stored row, via GET."""
    got = router.client.get(f"/v1/responses/{response_id}")
    assert got.status_code == 200, got.text
    return got.json()


def run_failing(router: Router, mode: str) -> dict:
    """One create in ``mode`` that must fail; returns the final (stored) response after checks."""
    if mode == "stream":
        events = stream_events(router.create(input="x", stream=True).content)
        assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
        assert events[-2]["code"] == "server_error" and events[-2]["message"]
        final = events[-1]["response"]
    else:
        queued = router.create(input="x", background=True).json()
        assert queued["status"] == "queued"
        final = router.wait_status(queued["id"], ("failed", "completed", "cancelled", "incomplete"),
                                   timeout=CLIENT_TIMEOUT_S)
    assert final["status"] == "failed", final
    assert final["error"]["code"] == "server_error" and final["error"]["message"]
    row = stored(router, final["id"])
    assert row["status"] == "failed" and row["error"] == final["error"]
    return final


MODES = ["stream", "background"]


@pytest.mark.parametrize("mode", MODES)
def test_upstream_refused(tmp_path: Any, mode: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    with Router(tmp_path / "db.sqlite", [dead], read_timeout=READ_TIMEOUT_S) as router:
        router.client.timeout = httpx2.Timeout(CLIENT_TIMEOUT_S)
        final = run_failing(router, mode)
        assert "cannot connect" in final["error"]["message"]
        assert_quiet(router, None)


@pytest.mark.parametrize("mode", MODES)
def test_upstream_500(router: Router, upstream: TrackingUpstream, mode: str) -> None:
    upstream.script(*[Reply(status=500)] * 3)
    final = run_failing(router, mode)
    assert "HTTP 500" in final["error"]["message"] and len(upstream.requests) == 3
    assert_quiet(router, upstream)


@pytest.mark.parametrize("mode", MODES)
def test_upstream_slower_than_the_timeout(router: Router, upstream: TrackingUpstream, mode: str) -> None:
    upstream.script(Reply(text="late", pieces=2, delay=READ_TIMEOUT_S * 3))
    started = time.monotonic()
    final = run_failing(router, mode)
    assert "timed out" in final["error"]["message"]
    assert time.monotonic() - started < READ_TIMEOUT_S * 3, "the router waited for the slow chunk"
    assert_quiet(router, upstream)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reply", [
    Reply(text="abcdef", pieces=3, disconnect_after=2),
    Reply(text="abcdef", pieces=3, malformed_after=2),
], ids=["disconnect", "malformed"])
def test_upstream_breaks_mid_stream(router: Router, upstream: TrackingUpstream, mode: str, reply: Reply) -> None:
    upstream.script(reply)
    final = run_failing(router, mode)
    # What arrived before the break is kept: the partial message is in the failed response.
    assert final["output"] and final["output"][0]["content"][0]["text"].startswith("ab")
    assert_quiet(router, upstream)


def _data_lines(resp: httpx2.Response) -> Iterator[dict]:
    """Each SSE ``data:`` payload as it arrives (one line per event in the router's output)."""
    for line in resp.iter_lines():
        if line.startswith("data:"):
            yield json.loads(line[5:])


def test_client_hangs_up_mid_stream(router: Router, upstream: TrackingUpstream) -> None:
    """The router stops reading upstream, and stores nothing: routes.py stores a streamed
    response only when its client stayed to the end."""
    upstream.script(Reply(text="x" * SLOW_PIECES, pieces=SLOW_PIECES, delay=SLOW_DELAY_S))
    response_id = None
    with httpx2.Client(base_url=router.url, timeout=CLIENT_TIMEOUT_S) as client:
        body = {"model": "test-model", "input": "x", "stream": True}
        with client.stream("POST", "/v1/responses", json=body) as resp:
            for event in _data_lines(resp):
                response_id = response_id or event.get("response", {}).get("id")
                if event["type"] == "response.output_text.delta":
                    break
    assert response_id and response_id.startswith("resp_")
    assert_quiet(router, upstream)
    total_frames = SLOW_PIECES + 4  # role, pieces, finish, usage, [DONE]
    assert upstream.frames_sent < total_frames - 5, "the upstream was read to the end"
    assert router.client.get(f"/v1/responses/{response_id}").status_code == 404


def test_background_survives_its_follower_hanging_up(router: Router, upstream: TrackingUpstream) -> None:
    """A background stream's client leaving does not stop the work: the row still completes."""
    upstream.script(Reply(text="abcdefgh", pieces=8, delay=0.1))
    with httpx2.Client(base_url=router.url, timeout=CLIENT_TIMEOUT_S) as client:
        body = {"model": "test-model", "input": "x", "stream": True, "background": True}
        with client.stream("POST", "/v1/responses", json=body) as resp:
            response_id = next(_data_lines(resp))["response"]["id"]
    final = router.wait_status(response_id, ("completed", "failed"), timeout=CLIENT_TIMEOUT_S)
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == "abcdefgh"
    assert_quiet(router, upstream)


def _mcp_run(router: Router, tool: dict) -> tuple[list[dict], dict]:
    events = stream_events(router.create(input="x", tools=[tool], stream=True).content)
    final = events[-1]["response"]
    return events, final


def test_mcp_server_down(router: Router, upstream: TrackingUpstream) -> None:
    upstream.script(Reply(text="no tools today"))
    tool = {"type": "mcp", "server_label": "gone", "require_approval": "never",
            "server_url": f"http://127.0.0.1:{free_port()}/mcp"}
    started = time.monotonic()
    events, final = _mcp_run(router, tool)
    assert time.monotonic() - started < 10, "listing a dead MCP server was not quick"
    assert "response.mcp_list_tools.failed" in [e["type"] for e in events]
    listing = final["output"][0]
    assert listing["type"] == "mcp_list_tools" and "'gone'" in listing["error"]
    assert "connection failed" in listing["error"]
    # The model still answers, without the tools; the row is terminal.
    assert final["status"] == "completed" and stored(router, final["id"])["status"] == "completed"
    assert "tools" not in upstream.requests[-1]
    assert_quiet(router, upstream)


def test_mcp_server_answers_401(router: Router, upstream: TrackingUpstream) -> None:
    upstream.script(Reply(text="no tools today"))
    with serve_mcp(token="the-right-token") as mcp:
        tool = {"type": "mcp", "server_label": "gated", "server_url": mcp.url, "require_approval": "never",
                "authorization": "the-wrong-token"}
        events, final = _mcp_run(router, tool)
    assert "response.mcp_list_tools.failed" in [e["type"] for e in events]
    assert "HTTP status 401 Unauthorized" in final["output"][0]["error"]
    assert final["status"] == "completed" and stored(router, final["id"])["status"] == "completed"
    assert "the-wrong-token" not in str(stored(router, final["id"]))
    assert_quiet(router, upstream)


def test_mcp_call_fails_when_the_server_dies_after_listing(router: Router, upstream: TrackingUpstream) -> None:
    """Listing works, the server is gone by the call: a failed mcp_call, and the loop goes on."""
    with serve_mcp() as mcp:
        upstream.before_reply = mcp.stop  # the chat request comes after listing, before the call
        upstream.script(Reply(tool_calls=[("calc__add", '{"a": 1, "b": 2}')]), Reply(text="could not add"))
        tool = {"type": "mcp", "server_label": "calc", "server_url": mcp.url, "require_approval": "never"}
        events, final = _mcp_run(router, tool)
    types = [e["type"] for e in events]
    assert "response.mcp_list_tools.completed" in types and "response.mcp_call.failed" in types
    call = next(i for i in final["output"] if i["type"] == "mcp_call")
    assert call["status"] == "failed" and "calc" in call["error"]["message"]
    assert final["status"] == "completed" and stored(router, final["id"])["status"] == "completed"
    assert_quiet(router, upstream)


def test_the_leak_check_sees_work_in_flight(router: Router, upstream: TrackingUpstream) -> None:
    """`leftovers` is not blind: a running background response shows in every one of its probes."""
    upstream.script(Reply(text="abcd", pieces=4, delay=0.5))
    queued = router.create(input="x", background=True).json()
    deadline = time.monotonic() + SETTLE_S
    while not upstream.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    found = " | ".join(leftovers(router, upstream))
    for probe in ("task BackgroundRunner._work", "background worker", "in flight", "upstream still streaming"):
        assert probe in found, f"{probe!r} not in {found!r}"
    router.client.post(f"/v1/responses/{queued['id']}/cancel")
    assert stored(router, queued["id"])["status"] == "cancelled"
    assert_quiet(router, upstream)
