"""Structured output through text.format (cases in cases/structured.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("structured", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """The output text parses as JSON and is valid under the requested schema."""
    conformance.run(case)
