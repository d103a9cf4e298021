"""Reasoning: items, events and encrypted_content through a stateless chain
(cases in cases/reasoning.yaml). A target whose model does not reason is reported as not
exercised, with that reason."""
from __future__ import annotations

import pytest

from fixtures import reasoning
from fixtures.cases import Case, cases_for
from fixtures.loops import history_after
from fixtures.session import Conformance

BAD_REQUEST = 400


@pytest.mark.parametrize("case", cases_for("reasoning", "reasoning"))
def test_reasoning(conformance: Conformance, case: Case) -> None:
    """A reasoning request yields reasoning items (and their events when streamed)."""
    request = conformance.request_of(case)
    exchange = conformance.create(request)
    response = conformance.ok(exchange)
    reasoning.require_reasoning(response)
    conformance.expect(case, response, request, exchange)


def _encrypted_history(conformance: Conformance, case: Case) -> tuple[list[dict], dict]:
    """The first turn's input and output (with encrypted reasoning), and the follow-up request."""
    first = conformance.request_of(case)
    answer = conformance.ok(conformance.create(first))
    reasoning.require_encrypted(answer)
    return history_after(first, answer, references=False), conformance.request_of(case, case.turns[0])


@pytest.mark.parametrize("case", cases_for("reasoning", "reasoning_round_trip"))
def test_reasoning_round_trip(conformance: Conformance, case: Case) -> None:
    """Reasoning with encrypted_content, sent back with store false, is accepted."""
    history, follow = _encrypted_history(conformance, case)
    request = {**follow, "input": history + follow["input"]}
    exchange = conformance.create(request)
    conformance.expect(case, conformance.ok(exchange), request, exchange)


@pytest.mark.parametrize("case", cases_for("reasoning", "reasoning_tampered"))
def test_reasoning_tampered(conformance: Conformance, case: Case) -> None:
    """A tampered encrypted_content is refused with a 400 error object."""
    history, follow = _encrypted_history(conformance, case)
    tampered = [reasoning.tampered(item) for item in history]
    conformance.error(conformance.create({**follow, "input": tampered + follow["input"]}), BAD_REQUEST)
