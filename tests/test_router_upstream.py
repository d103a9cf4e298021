"""Backend behaviour seen through the router: failures, retries, timeouts, capabilities,
record/replay, the response cache, and the MCP loop against a real MCP server."""
from __future__ import annotations

import json
import re
import socket
import time

import pytest

from fixtures.mcp_server import serve_mcp
from reference_impl.recording import request_key
from reference_impl.sse import SSEDataDecoder
from upstream import DEFAULT_MODEL, Reply, Router, serve_upstream, stream_events

ABANDON_TIMEOUT_S = 10.0  # until the backend sees the router let go: a hang guard


@pytest.fixture
def router(upstream, tmp_path):
    with Router(tmp_path / "db.sqlite", [upstream.url], read_timeout=2.0) as r:
        yield r


def _failed_stream(router, reply: Reply) -> dict:
    resp = router.create(input="x", stream=True)
    events = stream_events(resp.content)
    assert events[-1]["type"] == "response.failed" and events[-2]["type"] == "error"
    final = events[-1]["response"]
    assert final["error"]["code"] == "server_error" and final["error"]["message"]
    assert router.client.get(f"/v1/responses/{final['id']}").json()["status"] == "failed"
    return final


@pytest.mark.parametrize("reply", [
    Reply(text="abcdef", pieces=3, disconnect_after=2),
    Reply(text="abcdef", pieces=3, malformed_after=2),
    Reply(status=400),
], ids=["disconnect", "malformed", "http400"])
def test_upstream_failure_mid_stream_fails_response(router, upstream, reply):
    upstream.script(reply)
    _failed_stream(router, reply)


def test_sync_failure_returns_failed_response(router, upstream):
    upstream.script(Reply(text="abc", disconnect_after=2))
    body = router.create(input="x").json()
    assert body["status"] == "failed" and body["error"]["code"] == "server_error"


def test_5xx_retried_before_first_byte(router, upstream):
    upstream.script(Reply(status=500), Reply(status=503), Reply(text="third time"))
    body = router.create(input="x").json()
    assert body["status"] == "completed" and body["output"][0]["content"][0]["text"] == "third time"
    assert len(upstream.requests) == 3


def test_5xx_exhausted_fails(router, upstream):
    upstream.script(*[Reply(status=500)] * 3)
    assert router.create(input="x").json()["status"] == "failed"
    assert len(upstream.requests) == 3


def test_slow_upstream_times_out_not_hangs(upstream, tmp_path):
    # A shorter read timeout than the module's: the answer is six times later still.
    upstream.script(Reply(text="zzz", pieces=2, delay=3.0))
    with Router(tmp_path / "db.sqlite", [upstream.url], read_timeout=0.5) as router:
        body = router.create(input="x").json()
    assert body["status"] == "failed" and "timed out" in body["error"]["message"]


def test_unreachable_backend_fails(tmp_path):
    with Router(tmp_path / "db.sqlite", ["http://127.0.0.1:9"]) as router:
        body = router.create(input="x").json()
    assert body["status"] == "failed"


def test_forced_tool_choice_adapter_on_llamacpp(tmp_path):
    gen = serve_upstream(props={"modalities": {"vision": False}})
    llama = next(gen)
    try:
        llama.script(Reply(text='{"name": "get_weather", "arguments": {"city": "Tokyo"}}'))
        tools = [{"type": "function", "name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}]
        with Router(tmp_path / "db.sqlite", [llama.url]) as router:
            resp = router.create(input=[{"role": "user", "content": [
                {"type": "input_text", "text": "weather?"},
                {"type": "input_image", "image_url": "http://127.0.0.1:1/cat.png"}]}],
                tools=tools, tool_choice="required", parallel_tool_calls=False, stream=True)
        call = stream_events(resp.content)[-1]["response"]["output"][0]
        assert call["type"] == "function_call" and json.loads(call["arguments"]) == {"city": "Tokyo"}
        sent = llama.requests[-1]
        assert sent["response_format"]["type"] == "json_schema" and "tool_choice" not in sent
        assert "image_url" not in json.dumps(sent["messages"])
    finally:
        gen.close()


def test_record_then_replay_without_network(upstream, tmp_path):
    upstream.script(Reply(text="recorded answer"))
    rec = tmp_path / "rec"
    with Router(tmp_path / "a.sqlite", [upstream.url], record_dir=str(rec)) as router:
        first = router.create(input="remember me", temperature=0.0).json()
    assert first["output"][0]["content"][0]["text"] == "recorded answer"
    assert len(upstream.requests) == 1
    files = sorted(p.name for p in rec.glob("*.json"))
    key = request_key("POST", "/v1/chat/completions", upstream.requests[0])
    assert f"{key}.json" in files
    with Router(tmp_path / "b.sqlite", [], replay_dir=str(rec)) as router:
        again = router.create(input="remember me", temperature=0.0).json()
        assert again["output"][0]["content"][0]["text"] == "recorded answer"
        missing = router.create(input="never recorded", temperature=0.0).json()
    assert len(upstream.requests) == 1
    assert missing["status"] == "failed"
    assert "--backend-record" in missing["error"]["message"] and "key" in missing["error"]["message"]


def test_request_key_normalises_loopback_ports_only():
    a = request_key("POST", "/p", {"url": "http://127.0.0.1:5555/mcp", "x": 1})
    b = request_key("POST", "/p", {"url": "http://127.0.0.1:6666/mcp", "x": 1})
    c = request_key("POST", "/p", {"url": "http://127.0.0.2:5555/mcp", "x": 1})
    assert a == b != c


def test_request_key_normalises_router_minted_ids():
    a = request_key("POST", "/p", {"tool_call_id": "call_" + "a" * 48})
    b = request_key("POST", "/p", {"tool_call_id": "call_" + "b" * 48})
    c = request_key("POST", "/p", {"tool_call_id": "call_abc"})
    assert a == b != c


def test_a_mid_stream_failure_replays_as_the_same_failure(upstream, tmp_path):
    upstream.script(Reply(text="abcdef", pieces=3, disconnect_after=2))
    rec = tmp_path / "rec"
    with Router(tmp_path / "a.sqlite", [upstream.url], record_dir=str(rec)) as router:
        recorded = router.create(input="x").json()
    with Router(tmp_path / "b.sqlite", [], replay_dir=str(rec)) as router:
        replayed = router.create(input="x").json()
    assert recorded["status"] == replayed["status"] == "failed"
    assert [i["content"][0]["text"] for i in replayed["output"]] == \
        [i["content"][0]["text"] for i in recorded["output"]]


def test_sse_decoder_line_endings():
    decoder = SSEDataDecoder()
    out = decoder.feed("data: {\"a\":\"\u2028\"}\r")
    out += decoder.feed("\n\r\ndata: 2\rdata: 3\n\n")
    assert out == ['{"a":"\u2028"}', "2\n3"]


def test_sse_decoder_whole_body_and_byte_by_byte_agree():
    """The split-at-blank-lines path (LF only, a whole body at once) gives what the line-by-line
    path gives when the same body arrives one byte at a time."""
    body = ('data: {"a":1}\n\n: comment\ndata: x\ndata:y\n\n\n\nevent: e\ndata:  z\n\n'
            'data: \u00e9\n\ndata: tail').encode()
    whole = SSEDataDecoder()
    at_once = whole.feed(body) + whole.flush()
    slow = SSEDataDecoder()
    one_by_one = [d for i in range(len(body)) for d in slow.feed(body[i:i + 1])] + slow.flush()
    assert at_once == one_by_one == ['{"a":1}', "x\ny", " z", "\u00e9", "tail"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_cache_hit_skips_upstream(router, upstream, stream):
    upstream.script(Reply(text="cached words"))
    first = router.create(input="same", x_cache=True, stream=stream)
    second = router.create(input="same", x_cache=True, stream=stream)
    assert len(upstream.requests) == 1
    if stream:
        one, two = stream_events(first.content), stream_events(second.content)
        assert [e["type"] for e in one] == [e["type"] for e in two]
        a, b = one[-1]["response"], two[-1]["response"]
    else:
        a, b = first.json(), second.json()
    assert a["id"] != b["id"] and a["output"] == b["output"]
    assert router.client.get(f"/v1/responses/{b['id']}").json()["id"] == b["id"]
    # A cached JSON answer is also served as SSE, and an un-flagged request is not cached.
    third = router.create(input="same", x_cache=True, stream=not stream)
    assert third.status_code == 200 and len(upstream.requests) == 1
    router.create(input="same")
    assert len(upstream.requests) == 2


def test_server_wide_cache(upstream, tmp_path):
    with Router(tmp_path / "db.sqlite", [upstream.url], cache=True) as router:
        router.create(input="q")
        router.create(input="q")
        router.create(input="q", x_cache=False)
    assert len(upstream.requests) == 2


def test_mcp_loop_calls_tool_and_feeds_result(router, upstream):
    with serve_mcp(token="zq-secret-77") as mcp:
        upstream.script(Reply(tool_calls=[("weather__get_weather", '{"city": "Tokyo"}')]), Reply(text="It is sunny"))
        tools = [{"type": "mcp", "server_label": "weather", "server_url": mcp.url,
                  "headers": mcp.auth_headers, "require_approval": "never"}]
        resp = router.create(input="weather in Tokyo?", tools=tools, stream=True)
    events = stream_events(resp.content)
    output = events[-1]["response"]["output"]
    assert [i["type"] for i in output] == ["mcp_list_tools", "mcp_call", "message"]
    assert "Sunny" in output[1]["output"] and output[1]["name"] == "get_weather"
    assert upstream.requests[1]["messages"][-1]["role"] == "tool"
    assert "zq-secret-77" not in resp.text


def test_mcp_approval_then_call(router, upstream):
    with serve_mcp() as mcp:
        tools = [{"type": "mcp", "server_label": "calc", "server_url": mcp.url, "require_approval": "always"}]
        upstream.script(Reply(tool_calls=[("calc__add", '{"a": 2, "b": 3}')]), Reply(text="five"))
        first = router.create(input="2+3?", tools=tools).json()
        request = first["output"][-1]
        assert request["type"] == "mcp_approval_request" and request["name"] == "add"
        second = router.create(previous_response_id=first["id"], tools=tools, input=[
            {"type": "mcp_approval_response", "approval_request_id": request["id"], "approve": True}]).json()
    call = next(i for i in second["output"] if i["type"] == "mcp_call")
    assert call["output"] == "5" and second["output"][-1]["content"][0]["text"] == "five"
    bad = router.create(previous_response_id=first["id"], tools=tools, input=[
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_nope", "approve": True}])
    assert bad.status_code == 400


def test_a_client_gone_mid_stream_stops_the_stream_and_nothing_is_stored(router, upstream):
    """The SSE response stops at a client's disconnect (routes._SSEResponse): the rest of the
    backend's answer is not waited for, the response is not stored, and the router serves on."""
    upstream.script(Reply(text="abcdefghij", pieces=10, delay=0.2))
    host, port = router.url.removeprefix("http://").split(":")
    body = json.dumps({"model": DEFAULT_MODEL, "input": "x", "stream": True}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        seen = b""
        while b"response.output_text.delta" not in seen:
            seen += conn.recv(65536)
    response_id = re.search(rb'"id":"(resp_[0-9a-f]+)"', seen).group(1).decode()
    # The router lets go of the backend's stream (rather than reading on to its end)...
    deadline = time.monotonic() + ABANDON_TIMEOUT_S
    while not upstream.abandoned and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.abandoned == 1
    # ...serves on, and has stored nothing: the next response's store write comes after any the
    # abandoned one could have queued.
    upstream.script(Reply(text="still here"))
    assert router.create(input="y").json()["status"] == "completed"
    assert router.client.get(f"/v1/responses/{response_id}").status_code == 404
