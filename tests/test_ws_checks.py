"""The WebSocket capture and its judgement: each rule of the websocket family fails on the answer
that breaks it, over real sockets where the transport is the point.

Misbehaving servers here are ``websockets`` servers on loopback ports, each wrong in one way (a
refused upgrade, a socket closed mid-answer, an error event without its fields); the openai SDK
is the client, through ``fixtures.client.ResponsesClient.connect``.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from fixtures import checks
from fixtures.capture import Exchange, Transcript
from fixtures.client import ResponsesClient
from fixtures.findings import ProtocolFailure
from fixtures.processes import free_port
from fixtures.ws_capture import ConnectionLog
from fixtures.ws_cassettes import WsCassette
from fixtures.ws_frames import WsFrame

pytestmark = pytest.mark.unit


def _exchange(*events: Any, error: str | None = None, status: int | None = 101) -> Exchange:
    exchange = Exchange("WEBSOCKET", "ws://127.0.0.1:1/v1/responses", {"type": "response.create"}, {},
                        websocket=True, status=status, error=error)
    exchange.frames = [WsFrame(e if isinstance(e, bytes) else json.dumps(e).encode()) for e in events]
    return exchange


def _rules(exchange: Exchange) -> set[str]:
    return {f.rule for f in checks.judge(exchange, dialect="openai") if f.severity == "error"}


@contextmanager
def _server(handler: Callable[[Any], None]) -> Iterator[str]:
    """A misbehaving WebSocket server; yields its http:// /v1 root, as a target's base_url."""
    from websockets.sync.server import serve

    server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}/v1"
    finally:
        server.shutdown()
        thread.join(5)


def _client(base_url: str, *, timeout_s: float = 5.0) -> ResponsesClient:
    return ResponsesClient(base_url=base_url, api_key="sk-test", model="m", transcript=Transcript(),
                           timeout_s=timeout_s)


def test_a_lone_typed_error_event_passes() -> None:
    event = {"type": "error", "status": 400, "error": {"type": "invalid_request_error", "code": "x",
                                                       "message": "no", "param": None}}
    assert _rules(_exchange(event)) == set()
    assert checks.require_ws_error(_exchange(event), dialect="openai", code="x") == event


def test_an_error_event_without_its_fields_is_websocket_error_event() -> None:
    assert _rules(_exchange({"type": "error", "error": {"message": "no"}})) == {"websocket.error_event"}
    assert _rules(_exchange({"type": "error", "status": 200, "error": {
        "type": "t", "code": None, "message": "m", "param": None}})) == {"websocket.error_event"}


def test_a_wrong_code_is_the_named_rule() -> None:
    event = {"type": "error", "status": 500, "error": {"type": "server_error", "code": "server_error",
                                                       "message": "upstream failed", "param": None}}
    with pytest.raises(ProtocolFailure, match="websocket.previous_response_not_found"):
        checks.require_ws_error(_exchange(event), dialect="openai", code="previous_response_not_found",
                                rule="websocket.previous_response_not_found")


def test_an_error_where_a_stream_was_due_is_websocket_answer() -> None:
    event = {"type": "error", "status": 400, "error": {"type": "invalid_request_error", "code": "c",
                                                       "message": "m", "param": None}}
    with pytest.raises(ProtocolFailure, match="websocket.answer"):
        checks.require_ws_stream(_exchange(event), dialect="openai")


def test_grammar_applies_to_websocket_messages_without_an_event_line() -> None:
    exchange = _exchange({"type": "response.in_progress", "sequence_number": 3}, b"{not json")
    rules = _rules(exchange)
    assert {"lifecycle.created_first", "frame.json"} <= rules
    assert "frame.event_matches_type" not in rules


def test_answers_out_of_order_are_websocket_order() -> None:
    requests = [{"max_output_tokens": 16}, {"max_output_tokens": 17}]
    responses = [{"id": "a", "max_output_tokens": 17}, {"id": "a", "max_output_tokens": 16}]
    assert [f.rule for f in checks.ws_order_findings(requests, responses)] == ["websocket.order"] * 3
    assert checks.ws_order_findings(requests, [{"id": "a", **requests[0]}, {"id": "b", **requests[1]}]) == []


def test_a_refused_upgrade_is_websocket_upgrade() -> None:
    client = _client(f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    with client.connect() as socket:
        exchange = socket.create({"model": "m", "input": "x"})
    assert _rules(exchange) == {"websocket.upgrade"}


def test_a_socket_closed_mid_answer_is_websocket_answer_with_the_reason() -> None:
    def handler(connection: Any) -> None:
        connection.recv()
        connection.send(json.dumps({"type": "response.created", "sequence_number": 0, "response": {}}))
        connection.close(1011, "backend went away")

    with _server(handler) as url, _client(url).connect() as socket:
        exchange = socket.create({"model": "m", "input": "x"})
    assert "websocket.answer" in _rules(exchange)
    assert "1011" in (exchange.error or "") and "backend went away" in (exchange.error or "")


def _silent(connection: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        while connection.recv():
            pass  # never answers
    except ConnectionClosed:
        return


def test_a_silent_server_is_cut_off_by_the_deadline() -> None:
    with _server(_silent) as url, \
            _client(url, timeout_s=0.5).connect() as socket:
        exchange = socket.create({"model": "m", "input": "x"})
    assert "no complete answer" in (exchange.error or "") and "websocket.answer" in _rules(exchange)


def test_a_recorded_connection_replays_over_a_real_socket(tmp_path: Any) -> None:
    cassette = WsCassette(tmp_path / "t.ws.json", mode="rewrite")
    log = ConnectionLog("ws://x/v1/responses")
    log.add("send", json.dumps({"type": "response.create", "input": "x", "mcp": "http://127.0.0.1:9/mcp"}))
    log.add("recv", json.dumps({"type": "error", "status": 400, "error": {
        "type": "invalid_request_error", "code": "c", "message": "m", "param": None}}))
    cassette.keep(log)
    cassette.save()
    replay = WsCassette(tmp_path / "t.ws.json", mode="none")
    client = ResponsesClient(base_url="http://cassette.invalid/v1", api_key="k", model="m",
                             transcript=Transcript(), timeout_s=5.0, replayed=True)
    client.ws_cassette = replay
    try:
        with client.connect() as socket:
            # The loopback port differs between runs, as the HTTP cassettes allow.
            answered = socket.send_raw(json.dumps({"type": "response.create", "input": "x",
                                                   "mcp": "http://127.0.0.1:4242/mcp"}))
            refused = socket.send_raw('{"type": "response.create", "input": "not recorded"}')
    finally:
        replay.close()
    assert checks.require_ws_error(answered, dialect="openai", code="c")["status"] == 400
    assert "4000" in (refused.error or "") and "cassette holds no further message" in (refused.error or "")
