"""Streaming: the event grammar on real streams (cases in cases/streaming.yaml).

The grammar itself (DESIGN.md §3) runs on every stream of every test; these cases add what only
streaming can show: deltas, the stored copy, and the incomplete terminal event.
"""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import fail_on
from fixtures.response_compare import check_stored_matches
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("streaming", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """One streamed (or cut-short) request; grammar, schema and expectations hold."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("streaming", "stream_then_retrieve"))
def test_stream_then_retrieve(conformance: Conformance, case: Case) -> None:
    """The stored response equals the terminal event's response (rules 3 and 10)."""
    streamed = conformance.ok(conformance.create(conformance.request_of(case)))
    stored = conformance.ok(conformance.client.retrieve(streamed["id"]))
    fail_on(check_stored_matches(streamed, stored), "between the stream and GET")


@pytest.mark.parametrize("case", cases_for("streaming", "follow_up"))
def test_follow_up(conformance: Conformance, case: Case) -> None:
    """A streamed follow-up on a chain is grammatical and linked."""
    request, response, exchange = conformance.chain(case)[-1]
    conformance.capability(case, response, request, exchange)
