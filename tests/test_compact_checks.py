"""The compact and input_tokens suites' own checks bite: given a target that gets exactly one thing
wrong, each check fails with a finding of its rule, and the same target without the fault passes.

The target is a small in-memory model of compact, create and input_tokens behind a stand-in for
``Conformance`` (the deviant-router runs in test_deviations.py prove the same over the real router).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, NamedTuple

import pytest

from fixtures.cases import Case, bind, load_all
from fixtures.findings import ProtocolFailure
from suites import test_compact as compact_suite
from suites import test_input_tokens as tokens_suite

pytestmark = pytest.mark.unit


class Call(NamedTuple):
    """One client call, standing in for its captured exchange (an error status until answered)."""

    method: str
    body: dict[str, Any]

    @property
    def path(self) -> str:
        return f"({self.method})"

    status = 400


def _tokens(body: dict[str, Any]) -> int:
    """A model's input size: one token per item, ten per compaction item (it carries a summary)."""
    items = body.get("input")
    items = items if isinstance(items, list) else [items]
    return sum(10 if isinstance(i, dict) and i.get("type") == "compaction" else 1 for i in items)


class Target:
    """A correct compact/create/input_tokens API, in memory, with at most one fault."""

    def __init__(self, fault: str = "") -> None:
        self.fault = fault
        self.context: dict[str, int] = {}  # response id -> the tokens a continuation inherits

    def answer(self, call: Call) -> Any:
        body = call.body
        if call.method == "compact":
            users = [i for i in body.get("input") or [] if i.get("role") == "user"]
            last = {"type": "message", "role": "assistant"} if self.fault == "output" else \
                {"id": "cmp_1", "type": "compaction", "encrypted_content": "c2VhbGVk"}
            return {"object": "response.compaction", "output": [*users, last],
                    "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}
        if call.method == "create":
            if self.fault == "dropped":
                body = {**body, "input": [i for i in body["input"] if i.get("type") != "compaction"]}
            tokens = _tokens(body) + self.context.get(body.get("previous_response_id"), 0)
            rid = f"resp_{len(self.context) + 1}"
            self.context[rid] = tokens + 1  # the answer joins the context too
            return {"id": rid, "output": [], "usage": {"input_tokens": tokens}}
        if call.method == "input_tokens":
            tokens = _tokens(body) + self.context.get(body.get("previous_response_id"), 0)
            return {"object": "response.input_tokens", "input_tokens": tokens + (50 if self.fault == "count" else 0)}
        raise AssertionError(f"unexpected call {call.method}")


class Client:
    model = "m"

    def compact(self, body: dict[str, Any]) -> Call:
        return Call("compact", body)

    def input_tokens(self, body: dict[str, Any]) -> Call:
        return Call("input_tokens", body)


class Stand_in:  # noqa: N801 - reads as what it is
    """What the suite's test functions use of ``Conformance``, over ``Target``."""

    def __init__(self, fault: str = "") -> None:
        self.target = Target(fault)
        self.client = Client()
        self.bindings: dict[str, Any] = {}
        self.fault = fault

    def ok(self, call: Call, **_: Any) -> Any:
        return copy.deepcopy(self.target.answer(call))

    def error(self, call: Call, status: int) -> dict[str, Any]:
        """An error naming what a correct target names (nothing, with the ``param`` fault)."""
        if self.fault == "param":
            return {"error": {"param": None}}
        if call.method == "compact":
            return {"error": {"param": "model" if call.body.get("model", "m") is None else "input"}}
        bad = next(i for i, item in enumerate(call.body["input"]) if item.get("type") == "compaction")
        return {"error": {"param": f"input[{bad}].encrypted_content"}}

    def create(self, request: dict[str, Any]) -> Call:
        return Call("create", request)

    def request_of(self, case: Case, body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return bind({**(case.request if body is None else body), **extra}, self.bindings)

    def expect(self, *args: Any) -> None:
        pass

    def capability(self, *args: Any) -> None:
        pass


def _cases(family: str, check: str) -> list[Case]:
    return [c for c in load_all() if c.family == family and c.check == check]


SUITES = {"compact": compact_suite, "input_tokens": tokens_suite}
FAULTS = [  # rule, family, check, fault
    ("compaction.output", "compact", "object", "output"),
    ("compaction.round_trip", "compact", "round_trip", "dropped"),
    ("compaction.error_param", "compact", "rejected", "param"),
    ("compaction.error_param", "compact", "tampered", "param"),
    ("compaction.error_param", "compact", "empty", "param"),
    ("input_tokens.matches_usage", "input_tokens", "matches_usage", "count"),
]


@pytest.mark.parametrize(("rule", "family", "check", "fault"), FAULTS, ids=[f"{f[0]}-{f[2]}" for f in FAULTS])
def test_each_check_catches_its_fault(rule: str, family: str, check: str, fault: str) -> None:
    test = getattr(SUITES[family], f"test_{check}")
    for case in _cases(family, check):
        with pytest.raises(ProtocolFailure) as caught:
            test(Stand_in(fault), case)
        assert [f.rule for f in caught.value.findings] == [rule]


@pytest.mark.parametrize(("family", "check"), sorted({(f[1], f[2]) for f in FAULTS}))
def test_the_correct_target_passes_every_check(family: str, check: str) -> None:
    cases = _cases(family, check)
    assert cases
    for case in cases:
        getattr(SUITES[family], f"test_{check}")(Stand_in(), case)


def test_the_count_tolerance_is_the_larger_of_tokens_and_share() -> None:
    assert tokens_suite.tolerance(10) == tokens_suite.TOLERANCE_TOKENS
    assert tokens_suite.tolerance(10_000) == pytest.approx(10_000 * tokens_suite.TOLERANCE_SHARE)
