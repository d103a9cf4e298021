"""No false alarms on the real API (issue 11, item 6): every check passes over real OpenAI traffic.

The corpus (`tests/corpus/openai/*.jsonl.gz`, sources in `tests/corpus/SOURCES.md`) holds
exchanges that public projects recorded from `api.openai.com/v1/responses`: Response bodies,
error bodies and SSE streams, stored as recorded. Each one goes through `checks.judge` (transport,
content type, JSON, the `openai` dialect's schemas, and for streams the grammar plus every event's
schema) and must yield no error; warnings (fields the pinned SDK does not know) are allowed.

The corpus cannot pass vacuously: broken copies of real exchanges are caught, and the count is
asserted.
"""
from __future__ import annotations

import copy
import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from fixtures import checks
from fixtures.capture import Exchange
from fixtures.findings import Finding, errors
from fixtures.secrets import scan_paths, scan_text
from fixtures.sse import parse_frames

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parent / "corpus" / "openai"
MIN_EXCHANGES = 300
DIALECT = "openai"
EXPECT_KIND = {"response": "response", "error": "response", "input_items": "input_items", "sse": "response"}


@lru_cache(maxsize=1)
def corpus() -> dict[str, dict[str, Any]]:
    """Every recorded exchange, by id."""
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(CORPUS.glob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
            row = json.loads(line)
            assert row["id"] not in rows, f"duplicate exchange id {row['id']}"
            rows[row["id"]] = row
    return rows


def stream_mode(row: dict[str, Any]) -> str:
    """The grammar mode a recorded stream needs (DESIGN §3 modes)."""
    body = row["body"]
    if row["method"] == "GET" and "starting_after=" in (row.get("uri") or ""):
        return "resume"
    if (row.get("request") or {}).get("background"):
        return "background"
    if '"sequence_number"' not in body:
        return "legacy"  # streams recorded before May 2025 carry no sequence_number
    return "normal"


def exchange_of(row: dict[str, Any], body: str | None = None) -> Exchange:
    """An `Exchange` as the harness captures one, from a corpus row (or a body in its place)."""
    raw = (row["body"] if body is None else body).encode("utf-8")
    exchange = Exchange(row["method"], row.get("uri") or "https://api.openai.com/v1/responses", None, {})
    exchange.status = row["status"]
    exchange.headers = {"content-type": row["content_type"]}
    exchange.body = raw
    exchange.complete = True
    if exchange.is_sse:
        exchange.frames = parse_frames(raw)
    return exchange


def judge(row: dict[str, Any], body: str | None = None) -> list[Finding]:
    """The error findings of the exchange (warnings are reported, never fail)."""
    mode = stream_mode(row) if row["kind"] == "sse" else "normal"
    return errors(checks.judge(exchange_of(row, body), dialect=DIALECT, expect_kind=EXPECT_KIND[row["kind"]],
                               stream_mode=mode))


def rules(found: list[Finding]) -> set[str]:
    return {f.rule for f in found}


def by_kind(kind: str, holding: str = "") -> dict[str, Any]:
    """The first exchange of `kind` (by id) whose body holds `holding` (streams: normal mode)."""
    for _, row in sorted(corpus().items()):
        if row["kind"] == kind and holding in row["body"]:
            if kind != "sse" or stream_mode(row) == "normal":
                return row
    raise AssertionError(f"no {kind} exchange holding {holding!r} in the corpus")


# --- the corpus itself ----------------------------------------------------------------------

def test_corpus_has_at_least_300_real_exchanges_of_every_kind() -> None:
    rows = corpus().values()
    assert len(rows) >= MIN_EXCHANGES, f"only {len(rows)} exchanges"
    kinds = {row["kind"] for row in rows}
    assert {"response", "error", "sse"} <= kinds, kinds
    assert len({row["sha256"] for row in rows}) == len(rows), "the same body is stored twice"


def test_every_exchange_is_from_api_openai_com() -> None:
    for row in corpus().values():
        if row["uri"] is not None:
            assert row["uri"].startswith("https://api.openai.com/v1/responses"), row["id"]
        else:  # a source that redacts URIs; SOURCES.md says how these were told apart
            assert row["source"] == "langchain-openai", row["id"]


def test_corpus_holds_no_credential() -> None:
    found = [f"{row['id']}: {finding.kind}" for row in corpus().values()
             for finding in scan_text(json.dumps(row, ensure_ascii=False))]
    found += map(str, scan_paths([CORPUS.parent]))  # SOURCES.md (the .gz files are scanned above)
    assert not found, found


# --- every exchange, every check --------------------------------------------------------------

@pytest.mark.parametrize("exchange_id", sorted(corpus()))
def test_real_exchange_has_no_finding(exchange_id: str) -> None:
    found = judge(corpus()[exchange_id])
    assert found == [], "\n".join(map(str, found))


# --- and the checks still bite ----------------------------------------------------------------

def _sse(events: list[dict]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def _events(row: dict[str, Any]) -> list[dict]:
    return [frame.json() for frame in parse_frames(row["body"].encode("utf-8"))]


def test_a_response_without_a_required_field_is_caught() -> None:
    row = by_kind("response")
    body = json.loads(row["body"])
    del body["output"]
    found = judge(row, json.dumps(body))
    assert any("output" in f.message for f in found), found


def test_an_error_body_without_its_message_is_caught() -> None:
    row = by_kind("error")
    body = json.loads(row["body"])
    del body["error"]["message"]
    assert judge(row, json.dumps(body))


def test_a_gap_in_sequence_numbers_is_caught() -> None:
    row = by_kind("sse")
    events = _events(row)
    del events[len(events) // 2]
    found = judge(row, _sse(events))
    assert "sequence.contiguous" in rules(found), found


def test_a_stream_without_its_terminal_event_is_caught() -> None:
    row = by_kind("sse")
    events = _events(row)
    assert events[-1]["type"] == "response.completed"
    found = judge(row, _sse(events[:-1]))
    assert "lifecycle.terminal_missing" in rules(found), found


def test_a_delta_that_does_not_add_up_is_caught() -> None:
    row = by_kind("sse", "response.output_text.delta")
    events = copy.deepcopy(_events(row))
    delta = next(e for e in events if e["type"] == "response.output_text.delta")
    delta["delta"] += "!"
    found = judge(row, _sse(events))
    assert "text.delta_concat" in rules(found), found


def test_the_unbroken_copy_passes() -> None:
    """The control for the tests above: re-serialising the events alone changes nothing."""
    row = by_kind("sse")
    assert judge(row, _sse(_events(row))) == []


def test_a_live_only_event_is_still_checked() -> None:
    """apply_patch diff events (live API, not in the pinned SDK) are known, and their deltas add up."""
    row = by_kind("sse", "response.apply_patch_call_operation_diff.delta")
    events = copy.deepcopy(_events(row))
    next(e for e in events if e["type"] == "response.apply_patch_call_operation_diff.delta")["delta"] += "x"
    found = judge(row, _sse(events))
    assert "apply_patch.delta_concat" in rules(found), found
    misspelled = [dict(e, type="response.apply_patch_call.operation_diff.delta")
                  if e["type"] == "response.apply_patch_call_operation_diff.delta" else e for e in _events(row)]
    found = judge(row, _sse(misspelled))
    assert "event.name_drift" in rules(found), found
