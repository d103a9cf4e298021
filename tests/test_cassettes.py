"""The client-layer replay: frame-by-frame delivery, faithfulness to the recorded bytes, and
clear errors when a recording is missing."""
from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
import yaml

from fixtures import cassettes, checks, verdicts
from fixtures.capture import Exchange, _CapturedStream
from fixtures.client import ResponsesClient
from fixtures.findings import errors
from fixtures.capture import Transcript
from fixtures.sse import parse_frames

RECORDED = (cassettes.CASSETTES / "local" / "smollm2-135m-instruct"
            / "test_streaming--test_exchange--a-streamed-answer-follows-the-event-grammar.yaml")


def _replay(cassette: Path) -> Exchange:
    """Send the recorded request through the suite's client with the cassette replaying."""
    recorded = yaml.safe_load(cassette.read_text())["interactions"][0]
    body = json.loads(recorded["request"]["body"])
    client = ResponsesClient(base_url="http://replay.invalid/v1", api_key="sk-replayed",
                             model=body["model"], transcript=Transcript(), timeout_s=10, replayed=True)
    with cassettes.use_cassette(cassette, mode="none", test_name="t", provider="p", model="m"):
        exchange = client.create(body)
    client.close()
    return exchange


def test_replay_hands_sse_to_the_client_one_frame_per_chunk() -> None:
    body = b"event: a\ndata: {\"type\":\"a\"}\n\nevent: b\ndata: {\"type\":\"b\"}\n\n"
    exchange = Exchange("POST", "http://x/v1/responses", None, {})
    exchange.headers = {"content-type": "text/event-stream"}
    stream = _CapturedStream(httpx2.ByteStream(body), exchange, deadline=float("inf"), resplit=True)
    assert list(stream) == [f.raw for f in parse_frames(body)]
    assert [f.event for f in exchange.frames] == ["a", "b"]


@pytest.mark.skipif(not RECORDED.exists(), reason="the local recordings are not present")
def test_an_unchanged_recording_replays_conformant() -> None:
    exchange = _replay(RECORDED)
    assert exchange.replayed and len(exchange.frames) > 5
    assert errors(checks.judge(exchange, dialect="openai")) == []


@pytest.mark.skipif(not RECORDED.exists(), reason="the local recordings are not present")
@pytest.mark.parametrize(("old", "new", "rule"), [
    ('"sequence_number":4,', '"sequence_number":5,', "sequence.contiguous"),
    ("event: response.output_text.delta", "event: response.output_text.delt4", "frame.event_matches_type"),
    ('"type":"response.output_text.done"', '"type":"response.output_text.dona"', "event.unknown_type"),
    ('"output_index":0', '"output_index":1', "output_index"),
], ids=["sequence-number-digit", "event-line-letter", "done-type-letter", "output-index-digit"])
def test_one_changed_byte_in_a_recorded_event_is_caught(tmp_path: Path, old: str, new: str, rule: str) -> None:
    assert len(old) == len(new) and sum(a != b for a, b in zip(old, new)) == 1
    text = RECORDED.read_text()
    assert old in text, f"the recording has no {old!r} to change"
    mutated = tmp_path / RECORDED.name
    mutated.write_text(text.replace(old, new, 1))
    findings = [f.line() for f in errors(checks.judge(_replay(mutated), dialect="openai"))]
    assert any(rule in f for f in findings), f"no {rule} finding in {findings}"


def test_a_missing_cassette_names_the_test_and_the_recording_command(tmp_path: Path) -> None:
    with pytest.raises(cassettes.MissingCassette) as info:
        with cassettes.use_cassette(cassettes.CASSETTES / "nope" / "m" / "x.yaml", mode="none",
                                    test_name="test_core--test_exchange--a-case", provider="nope", model="m"):
            pass
    message = str(info.value)
    assert "test_core--test_exchange--a-case" in message
    assert "--provider nope --model m --record-mode=rewrite" in message


def test_only_a_recorded_transport_failure_stands_in_for_a_missing_cassette(tmp_path: Path) -> None:
    verdicts.save(tmp_path, {
        "timed-out": {"outcome": "failed", "rules": ["http.status", "transport"]},
        "schema": {"outcome": "failed", "rules": ["schema.response"]},
        "passed": {"outcome": "passed", "rules": []},
    })
    reason = verdicts.unanswered(tmp_path, "timed-out")
    assert reason and "recorded live: http.status, transport" in reason and "no bytes to replay" in reason
    assert verdicts.unanswered(tmp_path, "schema") is None  # answered: its bytes must be replayed
    assert verdicts.unanswered(tmp_path, "passed") is None
    assert verdicts.unanswered(tmp_path, "never-recorded") is None


def test_matching_ignores_loopback_ports_and_scrubbed_secrets() -> None:
    live = {"tools": [{"type": "mcp", "server_url": "http://127.0.0.1:4242/mcp", "authorization": "tok"}]}
    recorded = {"tools": [{"type": "mcp", "server_url": "http://127.0.0.1:5151/mcp", "authorization": "REDACTED"}]}
    assert cassettes.normalised_body(json.dumps(live)) == cassettes.normalised_body(json.dumps(recorded))
    assert cassettes.normalised_body('{"input": "a"}') != cassettes.normalised_body('{"input": "b"}')
