"""Tools in the forms real clients send (cases in cases/tool_forms.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.hosted import require_run_or_refused
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("tool_forms", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """The tool form is accepted and the call it asks for comes back in its own shape."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("tool_forms", "hosted_tool"))
def test_hosted_tool(conformance: Conformance, case: Case) -> None:
    """A hosted tool is run (a conformant 200) or refused with a 4xx naming tools[i] and its type."""
    request = conformance.request_of(case)
    require_run_or_refused(conformance, request, conformance.create(request))
