"""Function tools and tool_choice (cases in cases/tools.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("tools", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """One request with tools; calls are well-formed and tool_choice is honoured."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("tools", "function_round_trip"))
def test_function_round_trip(conformance: Conformance, case: Case) -> None:
    """function_call_output sent back on the chain yields an answer."""
    request, response, exchange = conformance.round_trip(case)
    conformance.capability(case, response, request, exchange)
