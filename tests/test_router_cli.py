"""The command line and native passthrough: start, serve, answer, stop on SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx2
import pytest

from upstream import NativeUpstream, Reply, Router, ServerThread, free_port, serve_upstream, stream_events


@pytest.fixture(scope="module")
def upstream():
    yield from serve_upstream()


def test_cli_serves_and_stops_on_sigterm(upstream, tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "reference_impl", "--backend", upstream.url, "--db",
           f"sqlite:///{tmp_path}/cli.db", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"router listening on http://127.0.0.1:{port}", proc.stderr.read()
        body = httpx2.post(f"http://127.0.0.1:{port}/v1/responses",
                           json={"model": "test-model", "input": "hi"}, timeout=20).json()
        assert body["status"] == "completed"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_usage_error_without_backend():
    result = subprocess.run([sys.executable, "-m", "reference_impl"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--backend" in result.stderr


def test_native_passthrough_keeps_state_in_router(tmp_path):
    native = NativeUpstream()
    with ServerThread(native.app) as server:
        with Router(tmp_path / "db.sqlite", [], native_backends=[server.url]) as router:
            native.script(Reply(text="first answer"), Reply(text="second answer"))
            first = router.create(input="one").json()
            resp = router.create(input="two", previous_response_id=first["id"], stream=True)
    events = stream_events(resp.content)
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "second answer"
    assert NativeUpstream.UPSTREAM_ID not in resp.text
    sent = native.requests[-1]
    assert sent["store"] is False and "previous_response_id" not in sent
    assert [i.get("role") for i in sent["input"]] == ["user", "assistant", "user"]
