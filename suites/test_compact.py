"""POST /responses/compact and compaction items sent back as input (cases in cases/compact.yaml).

Every call goes through the openai SDK's ``responses.compact`` and ``responses.create`` over the
capturing transport; the compacted response is schema-checked against the pinned SDK's
CompactedResponse (with the user messages it documents, see scripts/generate_schemas.py).

Whether a compaction item reached the model is judged on the wire, not on the model's skill: the
turn that carries it must count more input tokens than the same turn without it
(``compaction.round_trip``). The model answering from the compacted history is the case's
capability check.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

import pytest

from fixtures.capture import Exchange
from fixtures.cases import Case, cases_for
from fixtures.findings import require
from fixtures.session import Conformance

BAD_REQUEST = 400
MAX_OUTPUT_TOKENS = 16
ACKNOWLEDGE = "Remember the conversation so far. Reply OK."


def _compact(conformance: Conformance, case: Case) -> tuple[dict[str, Any], Exchange]:
    """The case's compact request, judged: (the compacted response, its exchange)."""
    exchange = conformance.client.compact(conformance.request_of(case, case.params["compact"]))
    compacted = conformance.ok(exchange, kind="compacted_response")
    output = compacted.get("output") or []
    last = output[-1] if output else {}
    require(last.get("type") == "compaction" and isinstance(last.get("encrypted_content"), str)
            and bool(last["encrypted_content"]), "compaction.output",
            f"the last output item is {last!r:.200}, expected a compaction item with encrypted_content")
    kinds = [(i.get("type"), i.get("role")) for i in output[:-1]]
    require(all(k == ("message", "user") for k in kinds), "compaction.output",
            f"before the compaction item: {kinds}, expected only the user's messages")
    return compacted, exchange


def _error_param(conformance: Conformance, exchange: Exchange, param: str, *, prefix: bool = False) -> None:
    error = conformance.error(exchange, BAD_REQUEST)["error"]
    got = error.get("param") or ""
    named = got.startswith(param) if prefix else got == param
    require(named, "compaction.error_param",
            f"{exchange.method} {exchange.path}: expected param {param!r}{' (or inside it)' if prefix else ''}, "
            f"got {error.get('param')!r}")


def _turn(conformance: Conformance, input_items: list[dict], **fields: Any) -> tuple[dict, dict, Exchange]:
    """One create turn, judged: (request, response, exchange)."""
    request = {"input": input_items, "max_output_tokens": MAX_OUTPUT_TOKENS, **fields}
    exchange = conformance.create(request)
    return request, conformance.ok(exchange), exchange


def _user(text: str) -> dict[str, str]:
    return {"type": "message", "role": "user", "content": text}


@pytest.mark.parametrize("case", cases_for("compact", "object"))
def test_object(conformance: Conformance, case: Case) -> None:
    """compact answers a response.compaction: the user's messages, then one sealed compaction item."""
    compacted, exchange = _compact(conformance, case)
    conformance.expect(case, compacted, case.params["compact"], exchange)
    usage = compacted.get("usage") or {}
    require(usage.get("total_tokens") == usage.get("input_tokens", 0) + usage.get("output_tokens", 0),
            "usage.total", f"usage {usage} does not add up")


@pytest.mark.parametrize("case", cases_for("compact", "round_trip"))
def test_round_trip(conformance: Conformance, case: Case) -> None:
    """A later turn carrying the compaction item counts more input than the same turn without it,
    and the model answers from the compacted history (capability)."""
    compacted, _ = _compact(conformance, case)
    output = compacted["output"]
    kept = [item for item in output if item.get("type") != "compaction"]
    question = _user(case.params["question"])
    if case.params["via"] == "input":
        carried = _turn(conformance, [*output, question], store=False)
        without = _turn(conformance, [*kept, question], store=False)[1]
    else:
        first = _turn(conformance, [*output, _user(ACKNOWLEDGE)])[1]
        carried = _turn(conformance, [question], previous_response_id=first["id"])
        baseline = _turn(conformance, [*kept, _user(ACKNOWLEDGE)])[1]
        without = _turn(conformance, [question], previous_response_id=baseline["id"])[1]
    request, response, exchange = carried
    got, base = (response.get("usage") or {}).get("input_tokens"), (without.get("usage") or {}).get("input_tokens")
    require(isinstance(got, int) and isinstance(base, int) and got > base, "compaction.round_trip",
            f"with the compaction item the turn counted {got} input tokens, without it {base}: "
            "the compacted history did not reach the model")
    conformance.capability(case, response, request, exchange)


@pytest.mark.parametrize("case", cases_for("compact", "rejected"))
def test_rejected(conformance: Conformance, case: Case) -> None:
    """A bad compact body is a 400 naming the parameter."""
    exchange = conformance.client.compact(conformance.request_of(case, case.params["compact"]))
    _error_param(conformance, exchange, case.params["param"])


def _tampered(blob: str) -> str:
    """``blob`` with one bit of its last byte flipped (kept in the same encoding when it is base64)."""
    try:
        raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    except (binascii.Error, ValueError):
        return blob[:-1] + ("A" if blob[-1] != "A" else "B")
    raw[-1] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).decode("ascii")


@pytest.mark.parametrize("case", cases_for("compact", "tampered"))
def test_tampered(conformance: Conformance, case: Case) -> None:
    """A compaction item whose encrypted_content was altered is a 400 naming that input item."""
    compacted, _ = _compact(conformance, case)
    items = [dict(item) for item in compacted["output"]]
    items[-1]["encrypted_content"] = _tampered(items[-1]["encrypted_content"])
    exchange = conformance.create({"input": [*items, _user(case.params["question"])], "store": False,
                                   "max_output_tokens": MAX_OUTPUT_TOKENS})
    _error_param(conformance, exchange, f"input[{len(items) - 1}]", prefix=True)


@pytest.mark.parametrize("case", cases_for("compact", "empty"))
def test_empty(conformance: Conformance, case: Case) -> None:
    """Nothing to compact: a 400 naming input, or a valid compacted response (see the case's comment)."""
    exchange = conformance.client.compact(conformance.request_of(case, case.params["compact"]))
    if exchange.status is not None and exchange.status < 400:
        compacted = conformance.ok(exchange, kind="compacted_response")
        require(isinstance(compacted.get("output"), list), "compaction.output", "no output list")
        return
    _error_param(conformance, exchange, "input")
