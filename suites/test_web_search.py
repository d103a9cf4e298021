"""The hosted web_search tool; skipped unless a provider claims it (cases/web_search.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("web_search", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """A web_search tool gives a web_search_call item before the answer."""
    conformance.run(case)
