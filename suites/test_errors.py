"""Error shapes: {"error": {"message", "type", "param", "code"}} with the right status
(cases in cases/errors.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.session import Conformance

UNKNOWN_ID = "resp_00000000000000000000000000000000000000000000beef"
NOT_FOUND = 404
BAD_REQUEST = 400
CHAIN_REJECTED = (400, 404)


@pytest.mark.parametrize("case", cases_for("errors", "unknown_id"))
def test_unknown_id(conformance: Conformance, case: Case) -> None:
    """Every endpoint taking an id answers 404 with an error object for an unknown id."""
    method = getattr(conformance.client, case.params["method"])
    conformance.error(method(UNKNOWN_ID), NOT_FOUND)


@pytest.mark.parametrize("case", cases_for("errors", "rejected"))
def test_rejected(conformance: Conformance, case: Case) -> None:
    """An invalid request is a 400 error object naming the offending parameter."""
    request = conformance.request_of(case)
    body = {"model": conformance.client.model, **request}
    for name in case.params.get("drop", []):
        body.pop(name, None)
    exchange = conformance.client.raw("POST", "/responses", json_body=body)
    status = CHAIN_REJECTED if "previous_response_id" in request else BAD_REQUEST
    error = conformance.error(exchange, status)
    conformance.expect(case, error, request, exchange)


@pytest.mark.parametrize("case", cases_for("errors", "invalid_json"))
def test_invalid_json(conformance: Conformance, case: Case) -> None:
    """A body that is not JSON is a 400 error object, not a crash."""
    exchange = conformance.client.raw("POST", "/responses", content=b'{"model": "x", "input": ')
    conformance.error(exchange, BAD_REQUEST)


@pytest.mark.parametrize("case", cases_for("errors", "stream_failure"))
def test_stream_failure(conformance: Conformance, case: Case) -> None:
    """A bad streamed request fails either before the stream (4xx) or inside it, typed."""
    request = conformance.request_of(case)
    exchange = conformance.create(request)
    if exchange.status and exchange.status >= 400:
        body = conformance.error(exchange, tuple(range(400, 500)))
    else:
        body = conformance.ok(exchange)
    conformance.expect(case, body or {}, request, exchange)
