"""Fuzzing WebSocket mode on /v1/responses: whatever a client sends on the socket, the router answers.

Hypothesis generates client messages of every kind: text that is not JSON, binary frames, JSON
that is not an object, objects of known and unknown ``type`` with arbitrary fields, and messages
above the router's size limit. Over one real socket to a real router (uvicorn, over a scripted
upstream), each message must get its whole answer: one error event in exactly the typed shape
(``{"type": "error", "status", "error": {"message", "type", "param", "code"}}``, status 4xx), a
``response.steer.*`` event, or a response stream the grammar accepts. The socket must never close
and the router never answers with a 5xx. Generation is derandomized, so a run is reproducible.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import grammar
from upstream import DEFAULT_MODEL, Router, ScriptedUpstream

LIMIT = 4096  # the router's message limit here: oversized messages are cheap to make
MAX_EXAMPLES = 400
ANSWER_TIMEOUT_S = 10
ERROR_FIELDS = {"message", "type", "param", "code"}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")
TYPES = ("response.create", "response.steer", "response.cancel", "session.update", "")

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                         max_size=3),
                           max_leaves=8)
create_fields = st.fixed_dictionaries({}, optional={
    "model": st.just(DEFAULT_MODEL) | st.text(max_size=8), "input": st.text(max_size=30) | json_values,
    "store": json_values, "previous_response_id": st.text(max_size=12) | json_values,
    "max_output_tokens": json_values, "background": json_values, "stream": json_values,
    "temperature": json_values, "tools": json_values,
})
objects = st.builds(lambda kind, fields, extra: {**extra, **fields, "type": kind},
                    st.sampled_from(TYPES) | st.text(max_size=15), create_fields,
                    st.dictionaries(st.text(max_size=10), json_values, max_size=3))
messages = st.one_of(
    st.text(max_size=60),                                   # mostly not JSON
    st.binary(max_size=60),                                 # binary frames, often not UTF-8
    json_values.map(json.dumps),                            # JSON that is not an object
    objects.map(json.dumps),                                # objects of known and unknown types
    st.integers(LIMIT + 1, 4 * LIMIT).map(lambda n: json.dumps({"type": "response.create", "input": "x" * n})),
)


@pytest.fixture(scope="module")
def socket(shared_upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One connection to a router with a small message limit, shared by every example."""
    from websockets.sync.client import connect

    db = tmp_path_factory.mktemp("ws-fuzz") / "router.sqlite"
    with Router(db, [shared_upstream.url], ws_max_message_bytes=LIMIT) as router:
        with connect(router.url.replace("http", "ws", 1) + "/v1/responses", max_size=None) as connection:
            yield connection


def _answer(connection: Any) -> list[dict]:
    """The messages answering one client message (the router answers every message in full)."""
    events: list[dict] = []
    while True:
        event = json.loads(connection.recv(timeout=ANSWER_TIMEOUT_S))
        events.append(event)
        kind = event.get("type")
        if kind in TERMINAL or (kind == "error" and len(events) == 1) or str(kind).startswith("response.steer."):
            return events


def _judge(events: list[dict]) -> None:
    first = events[0]
    if first["type"] == "error" and len(events) == 1:
        assert set(first["error"]) == ERROR_FIELDS, first
        assert isinstance(first["error"]["message"], str) and first["error"]["message"], first
        assert 400 <= first["status"] < 500, first  # the client's mistake, never the server's failure
    elif first["type"].startswith("response.steer."):
        assert first["error"]["code"] == "steering_not_supported", first
    else:
        assert grammar.check_stream(events) == [], events


@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(message=messages)
def test_every_message_gets_a_typed_answer_and_the_socket_stays_open(socket: Any, message: str | bytes) -> None:
    socket.send(message)
    _judge(_answer(socket))


def test_the_socket_is_still_serving_after_the_fuzz(socket: Any) -> None:
    socket.send(json.dumps({"type": "response.create", "model": DEFAULT_MODEL, "input": "still there?"}))
    assert _answer(socket)[-1]["type"] == "response.completed"
