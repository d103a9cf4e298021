"""Every create parameter: echoed, accepted or enforced as the API promises
(cases in cases/parameters.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import require
from fixtures.overflow import oversized_input
from fixtures.session import Conformance

BAD_REQUEST = 400
PENDING = ("queued", "in_progress")


@pytest.mark.parametrize("case", cases_for("parameters", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """The parameters are accepted, and echoed or enforced."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("parameters", "rejected"))
def test_rejected(conformance: Conformance, case: Case) -> None:
    """A mistake is a 400 error object naming the parameter."""
    request = conformance.request_of(case)
    exchange = conformance.create(request)
    error = conformance.error(exchange, BAD_REQUEST)
    conformance.expect(case, error, request, exchange)


@pytest.mark.parametrize("case", cases_for("parameters", "background"))
def test_background(conformance: Conformance, case: Case) -> None:
    """A background request with its options is queued, then ends completed or incomplete."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    require(created["status"] in PENDING, "background.initial_status", "not queued or in_progress",
            expected=PENDING, got=created["status"])
    final = conformance.poll_until_terminal(created["id"])
    # Completed or cut short by max_output_tokens: either way the options were honoured.
    require(final["status"] in ("completed", "incomplete"), "background.terminal",
            "the polled response did not reach completed or incomplete",
            expected="completed or incomplete", got=final["status"])


@pytest.mark.parametrize("case", cases_for("parameters", "overflow"))
def test_overflow(conformance: Conformance, case: Case) -> None:
    """An input beyond the context window: a 400 context error, or truncated with truncation auto."""
    window = conformance.endpoint.target.context_window
    request = conformance.request_of(case, input=oversized_input(window, case.params.get("question")))
    exchange = conformance.create(request)
    if "error" in case.expect:
        response = conformance.error(exchange, BAD_REQUEST)
    else:
        response = conformance.ok(exchange)
    conformance.expect(case, response, request, exchange)
