"""Every event type a gateway can emit, made to happen (cases in cases/event_types.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("event_types", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """The stream carries the case's event types, each judged by the whole grammar."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("event_types", "background_stream"))
def test_background_stream(conformance: Conformance, case: Case) -> None:
    """A background stream follows the background grammar (queued first) to its terminal event."""
    conformance.run(case, mode="background")
