"""Stateless agent loops: store false with the whole history sent back each turn
(cases in cases/stateless.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.loops import require_not_stored, run_loop
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("stateless", "loop"))
def test_loop(conformance: Conformance, case: Case) -> None:
    """Every turn is accepted and conformant; the last one meets the case; nothing was stored."""
    turns = run_loop(conformance, case)
    request, response, exchange = turns[-1]
    conformance.expect(case, response, request, exchange)
    require_not_stored(conformance, turns)
    conformance.capability(case, response, request, exchange)
