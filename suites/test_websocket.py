"""WebSocket mode on /v1/responses (cases in cases/websocket.yaml).

The openai SDK's ``client.responses.connect()`` is the client; every message on the socket is
captured (fixtures.ws_capture) and each answer is judged like an SSE stream: the same schemas,
the same grammar. Error answers are typed ``error`` events, and the socket stays open after them.
"""
from __future__ import annotations

from typing import Any

import pytest

from fixtures.cases import Case, cases_for
from fixtures import checks
from fixtures.findings import Finding, ProtocolFailure, fail_on, require
from fixtures.session import Conformance

NOT_FOUND = "previous_response_not_found"


def _still_open(conformance: Conformance, socket: Any, case: Case) -> None:
    """After an error event the same socket still answers a create (``params.after``)."""
    conformance.ws_ok(conformance.ws_create(socket, conformance.request_of(case, case.params["after"])))


@pytest.mark.parametrize("case", cases_for("websocket", "in_order"))
def test_in_order(conformance: Conformance, case: Case) -> None:
    """Creates on one socket, each sent once the one before is answered, are answered whole and in
    order. (Sent back to back instead, a target may queue them or refuse the second as in flight;
    the specs differ, so the suite does not pipeline. The reference router queues them:
    tests/test_router_websocket.py.)"""
    requests = [conformance.request_of(case)] + [conformance.request_of(case, turn) for turn in case.turns]
    with conformance.client.connect() as socket:
        exchanges = [conformance.ws_create(socket, request) for request in requests]
    responses = [conformance.ws_ok(e) for e in exchanges]
    fail_on(checks.ws_order_findings(requests, responses), f"in case {case.id}")


@pytest.mark.parametrize("case", cases_for("websocket", "streamed"))
def test_streamed(conformance: Conformance, case: Case) -> None:
    """A response on the socket is the SSE event sequence, one JSON message per event."""
    request = conformance.request_of(case)
    with conformance.client.connect() as socket:
        exchange = conformance.ws_create(socket, request)
    response = conformance.ws_ok(exchange)
    conformance.expect(case, response, request, exchange)


@pytest.mark.parametrize("case", cases_for("websocket", "continuation"))
def test_continuation(conformance: Conformance, case: Case) -> None:
    """previous_response_id continues on the socket; with store false, from the connection's cache."""
    with conformance.client.connect() as socket:
        first = conformance.ws_ok(conformance.ws_create(socket, conformance.request_of(case)))
        conformance.bindings["previous"] = first["id"]
        request = conformance.request_of(case, case.turns[0])
        exchange = conformance.ws_create(socket, request)
        continued = conformance.ws_ok(exchange)
    _chained(first, continued, case)
    conformance.capability(case, continued, request, exchange)


@pytest.mark.parametrize("case", cases_for("websocket", "previous_not_found"))
def test_previous_not_found(conformance: Conformance, case: Case) -> None:
    """An unknown previous_response_id is an error event with code previous_response_not_found."""
    with conformance.client.connect() as socket:
        exchange = conformance.ws_create(socket, conformance.request_of(case))
        conformance.ws_error(exchange, code=NOT_FOUND, rule="websocket.previous_response_not_found")
        _still_open(conformance, socket, case)


@pytest.mark.parametrize("case", cases_for("websocket", "cache_evicted"))
def test_cache_evicted(conformance: Conformance, case: Case) -> None:
    """A continuation that fails evicts the cached store:false response: naming it again is
    previous_response_not_found."""
    with conformance.client.connect() as socket:
        first = conformance.ws_ok(conformance.ws_create(socket, conformance.request_of(case)))
        link = {"previous_response_id": first["id"], **case.params["then"]}
        conformance.ws_error(conformance.ws_create(socket, {**link, **case.params["refused"]}))
        conformance.ws_error(conformance.ws_create(socket, link), code=NOT_FOUND, rule="websocket.cache_evicted")


@pytest.mark.parametrize("case", cases_for("websocket", "bad_message"))
def test_bad_message(conformance: Conformance, case: Case) -> None:
    """A message that is not a client event gets a typed error event, and the socket lives on."""
    with conformance.client.connect() as socket:
        conformance.ws_error(socket.send_raw(case.params["raw"]))
        _still_open(conformance, socket, case)


@pytest.mark.parametrize("case", cases_for("websocket", "steer"))
def test_steer(conformance: Conformance, case: Case) -> None:
    """response.steer is answered with a response.steer.* event the SDK parses (accepted, pending,
    or failed with a code), never silence or a closed socket."""
    from openai.types.responses.responses_server_event import ResponsesServerEvent
    from pydantic import TypeAdapter, ValidationError

    with conformance.client.connect() as socket:
        first = conformance.ws_ok(conformance.ws_create(socket, conformance.request_of(case)))
        exchange = socket.steer(first["id"], case.params["input"])
    require(exchange.error is None, "websocket.steer", f"no answer to response.steer: {exchange.error}")
    event = exchange.events()[-1] if exchange.events() else {}
    require(str(event.get("type", "")).startswith("response.steer."), "websocket.steer",
            "response.steer was not answered with a response.steer.* event", expected="response.steer.*",
            got=event.get("type"))
    try:
        TypeAdapter(ResponsesServerEvent).validate_python(event)
    except ValidationError as exc:
        require(False, "websocket.steer", f"the SDK's types reject the steer answer: {exc.errors()[:2]}",
                got=event)


def _chained(previous: dict[str, Any], response: dict[str, Any], case: Case) -> None:
    if response.get("previous_response_id") != previous.get("id"):
        raise ProtocolFailure([Finding(
            "chain.previous_response_id", message=f"expected {previous.get('id')!r}, got "
                                                  f"{response.get('previous_response_id')!r}",
            expected=previous.get("id"), got=response.get("previous_response_id"))], f"in case {case.id}")


@pytest.mark.parametrize("case", cases_for("websocket", "compacted_chain"))
def test_compacted_chain(conformance: Conformance, case: Case) -> None:
    """A compacted history (POST /responses/compact) sent on the socket with store false and no
    previous_response_id starts a new chain there, and that chain continues from the connection."""
    compacted = conformance.ok(conformance.client.compact(conformance.request_of(case, case.params["compact"])),
                               kind="compacted_response")
    items = compacted.get("output") or []
    require(any(i.get("type") == "compaction" for i in items), "compaction.output",
            "compact answered no compaction item to start the chain with", got=[i.get("type") for i in items])
    start = {"store": False, "max_output_tokens": 16,
             "input": [*items, {"type": "message", "role": "user", "content": case.params["question"]}]}
    with conformance.client.connect() as socket:
        exchange = conformance.ws_create(socket, start)
        started = conformance.ws_ok(exchange)
        follow = {"store": False, "max_output_tokens": 16, "previous_response_id": started["id"],
                  "input": case.params["follow"]}
        continued = conformance.ws_ok(conformance.ws_create(socket, follow))
    require(started.get("previous_response_id") is None, "chain.previous_response_id",
            "a create without previous_response_id names one", got=started.get("previous_response_id"))
    _chained(started, continued, case)
    conformance.capability(case, started, start, exchange)
