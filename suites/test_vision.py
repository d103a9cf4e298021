"""Image inputs by URL and data URL (cases in cases/vision.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("vision", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """An image input is accepted and answered."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("vision", "follow_up"))
def test_follow_up(conformance: Conformance, case: Case) -> None:
    """An image from an earlier turn is still in context on the chain."""
    request, response, exchange = conformance.chain(case)[-1]
    conformance.capability(case, response, request, exchange)
