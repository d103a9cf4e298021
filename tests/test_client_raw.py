"""The suite's raw requests (ResponsesClient.raw) against a target that never answers: the timeout is
a `transport` finding on the captured exchange, as it is for SDK calls, never a bare exception
that would error the test with no rule."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures import checks
from fixtures.capture import Exchange, Transcript
from fixtures.client import ResponsesClient
from fixtures.findings import ProtocolFailure
from misbehaving import build_app
from upstream import ServerThread

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """The misbehaving targets (tests/misbehaving.py) on one loopback port."""
    with ServerThread(build_app()) as running:
        yield running


def _raw_exchange(base_url: str) -> Exchange:
    """One raw POST /responses to ``base_url`` through a fresh client."""
    client = ResponsesClient(base_url=base_url, api_key=None, model="m", transcript=Transcript(),
                             timeout_s=TIMEOUT_S)
    try:
        return client.raw("POST", "/responses", json_body={"model": "m", "input": "hi"})
    finally:
        client.close()


def _rules(exchange: Exchange) -> list[str]:
    """The rules of the findings an expected 400 error answer gets."""
    with pytest.raises(ProtocolFailure) as failure:
        checks.require_conformant(exchange, dialect="openai", expect_kind="error", status=400)
    return [f.rule for f in failure.value.findings]


def test_a_raw_request_that_times_out_is_a_transport_finding(server: ServerThread) -> None:
    exchange = _raw_exchange(f"{server.url}/hang/v1")
    assert exchange.error and "ReadTimeout" in exchange.error
    assert "transport" in _rules(exchange)


def test_a_raw_request_to_a_closed_port_is_a_transport_finding() -> None:
    exchange = _raw_exchange("http://127.0.0.1:9/v1")
    assert exchange.error and "ConnectError" in exchange.error
    assert "transport" in _rules(exchange)
