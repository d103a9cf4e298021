"""Core: the basic exchange, retrieval and chaining (cases in cases/core.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import require
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("core", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """One request; the answer is conformant and meets the case's expectations."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("core", "retrieve_equals_create"))
def test_retrieve_equals_create(conformance: Conformance, case: Case) -> None:
    """GET /responses/{id} returns exactly what create returned."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    retrieved = conformance.ok(conformance.client.retrieve(created["id"]))
    require(retrieved == created, "retrieve.equals_create", "GET differs from the create answer")


@pytest.mark.parametrize("case", cases_for("core", "follow_up"))
def test_follow_up(conformance: Conformance, case: Case) -> None:
    """A follow-up names its previous response and is answered in its context."""
    request, response, exchange = conformance.chain(case)[-1]
    conformance.capability(case, response, request, exchange)
