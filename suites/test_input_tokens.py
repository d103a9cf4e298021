"""POST /responses/input_tokens, judged against the request it counts (cases in cases/input_tokens.yaml).

Each case counts a request with ``responses.input_tokens.count``, then sends the same request to
``responses.create`` and compares the count with that response's ``usage.input_tokens``.

The tolerance is `TOLERANCE_TOKENS` or `TOLERANCE_SHARE` of the usage, whichever is larger. A
target that counts with the model's own tokenizer and template (the reference router does, over
llama.cpp) is exact; the margin allows for what a provider may add after counting (a few
formatting tokens), while a count made by a different tokenizer or by a character estimate, or one
that leaves out the instructions, the tools or the chain, misses by far more.
"""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import require
from fixtures.session import Conformance

TOLERANCE_TOKENS = 4
TOLERANCE_SHARE = 0.02
MAX_OUTPUT_TOKENS = 16  # added to the create only: it shapes the answer, not the input


def tolerance(usage_tokens: int) -> float:
    """How far a count may be from ``usage.input_tokens`` and still match it."""
    return max(TOLERANCE_TOKENS, TOLERANCE_SHARE * usage_tokens)


@pytest.mark.parametrize("case", cases_for("input_tokens", "matches_usage"))
def test_matches_usage(conformance: Conformance, case: Case) -> None:
    """The count equals usage.input_tokens of the same request actually sent, within the tolerance."""
    body = conformance.request_of(case)
    for turn in case.turns:  # a chain: send the earlier turn, then count and send the next
        conformance.bindings["previous"] = conformance.ok(conformance.create(body))["id"]
        body = conformance.request_of(case, turn)
    counted = conformance.ok(conformance.client.input_tokens(body), kind="input_token_count")
    sent = conformance.ok(conformance.create({"max_output_tokens": MAX_OUTPUT_TOKENS, **body}))
    count, usage = counted.get("input_tokens"), (sent.get("usage") or {}).get("input_tokens")
    require(isinstance(count, int) and isinstance(usage, int) and abs(count - usage) <= tolerance(usage),
            "input_tokens.matches_usage",
            f"input_tokens.count said {count}, the same request sent used {usage} input tokens "
            f"(tolerance {tolerance(usage) if isinstance(usage, int) else '?'})")
