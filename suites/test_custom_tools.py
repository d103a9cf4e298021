"""Custom tools: free-form text input (cases in cases/custom_tools.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("custom_tools", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """A custom tool call carries a string input (streamed: input deltas then done)."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("custom_tools", "custom_round_trip"))
def test_custom_round_trip(conformance: Conformance, case: Case) -> None:
    """custom_tool_call_output sent back on the chain yields an answer."""
    request, response, exchange = conformance.round_trip(case, item_type="custom_tool_call")
    conformance.capability(case, response, request, exchange)
