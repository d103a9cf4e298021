"""The fuzz's replay can fail: stored cases sent to scripted targets that answer wrongly are reported.

tests/test_fuzz.py replays the committed corpus against the real router and expects no problem;
these tests prove each rule of the replay (tests/fuzz_replay.py) fires on the answer it forbids,
over the wire, and that a replayed request is the stored one, stored ids put in its path.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from fixtures.processes import ServerThread
from fuzz_replay import CORPUS_PATH, PLACEHOLDERS, Answer, problems_with, read, replay, request_of

SHAPED = {"error": {"message": "bad request", "type": "invalid_request_error", "param": None, "code": None}}
IDS = {"plain": "resp_" + "a" * 48, "background": "resp_" + "b" * 48, "conversation": "conv_" + "c" * 48}
# Each scripted target's answer to every request: (status, content type, body).
TARGETS = {
    "honest": (400, "application/json", json.dumps(SHAPED).encode()),
    "server-error": (500, "application/json", json.dumps(SHAPED).encode()),
    "wrong-shape": (400, "application/json", b'{"detail": "bad request"}'),
    "plain-text-error": (422, "text/plain", b"bad request"),
    "accepts-everything": (200, "application/json", b'{"object": "response"}'),
}


@pytest.fixture(scope="module")
def corpus() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The committed corpus: header and cases."""
    return read(CORPUS_PATH)


def _sample(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A few cases of every operation, those the rejection rule applies to and those it does not, and
    of every stored id."""
    picked: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for case in cases:
        bucket = picked.setdefault((case["operation"], case["must_reject"]), [])
        if len(bucket) < 3:
            bucket.append(case)
    with_ids = [next(case for case in cases if placeholder in case["url"]) for placeholder in PLACEHOLDERS.values()]
    return [case for bucket in picked.values() for case in bucket] + with_ids


class Scripted:
    """A target that gives one fixed answer to everything, and keeps what it received."""

    def __init__(self, answer: tuple[int, str, bytes]) -> None:
        self.answer = answer
        self.received: list[tuple[str, str, bytes]] = []
        self.app = Starlette()
        self.app.add_route("/{path:path}", self.handle, methods=["GET", "POST", "DELETE"])

    async def handle(self, request: Request) -> Response:
        """Record the raw request and give the scripted answer."""
        raw_path = request.scope["raw_path"].decode("latin-1")
        query = request.scope["query_string"].decode("latin-1")
        self.received.append((request.method, raw_path + ("?" + query if query else ""), await request.body()))
        status, content_type, body = self.answer
        return Response(body, status_code=status, headers={"content-type": content_type})


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve a `Scripted` target from a thread; yields a function from the answer to (target, url)."""
    servers: list[ServerThread] = []

    def start(answer: tuple[int, str, bytes]) -> tuple[Scripted, str]:
        target = Scripted(answer)
        server = ServerThread(target.app, name="scripted-fuzz-target")
        servers.append(server.start())
        return target, server.url

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("name,rule", [
    ("server-error", "not_a_server_error"),
    ("wrong-shape", "error shape"),
    ("plain-text-error", "error shape"),
    ("accepts-everything", "negative_data_rejection"),
])
def test_replay_reports_each_wrong_answer(corpus: Any, serve: Any, name: str, rule: str) -> None:
    header, cases = corpus
    sample = _sample(cases)
    _, url = serve(TARGETS[name])
    outcome = replay(url, header, sample, IDS)
    assert outcome.total == len(sample)
    flagged = [p for p in outcome.problems if rule in p]
    if rule == "negative_data_rejection":
        # Accepting is wrong only for the bodies the check would have the router reject.
        assert len(flagged) == sum(case["must_reject"] for case in sample) > 0, outcome.problems
        assert len(outcome.problems) == len(flagged)
    else:
        assert len(flagged) == len(sample), outcome.problems
    assert "curl -X" in flagged[0]  # each problem says how to send the request again


def test_replay_accepts_right_answers_and_sends_the_stored_bytes(corpus: Any, serve: Any) -> None:
    header, cases = corpus
    sample = _sample(cases)
    target, url = serve(TARGETS["honest"])
    outcome = replay(url, header, sample, IDS)
    assert outcome.problems == [] and outcome.total == len(sample)
    sent = [request_of(case, IDS) for case in sample]
    assert target.received == [(method, path, body) for method, path, _, body in sent]
    wire = " ".join(path for _, path, _ in target.received)
    assert not any(placeholder in wire for placeholder in PLACEHOLDERS.values())
    assert all(stored_id in wire for stored_id in IDS.values()), "every stored id reached a path"


def test_problems_with_judges_status_and_shape(corpus: Any) -> None:
    header, cases = corpus
    negative = next(case for case in cases if case["must_reject"])
    lenient = next(case for case in cases if not case["must_reject"])
    shaped = json.dumps(SHAPED).encode()
    assert problems_with(negative, Answer(422, "application/json", shaped), header) == []
    assert problems_with(lenient, Answer(200, "application/json", b"{}"), header) == []
    assert [p.split(":")[0] for p in problems_with(negative, Answer(200, "application/json", b"{}"), header)] \
        == ["negative_data_rejection"]
    assert [p.split(":")[0] for p in problems_with(lenient, Answer(502, "text/html", b"<h1>"), header)] \
        == ["not_a_server_error", "error shape"]


def test_the_corpus_holds_the_fuzz(corpus: Any) -> None:
    """The committed corpus is the full fuzz: its count, its nine operations, the check's verdicts."""
    header, cases = corpus
    assert header["cases"] == len(cases) >= 2000
    assert len({case["operation"] for case in cases}) == 9
    rejecting = {case["operation"] for case in cases if case["must_reject"]}
    assert rejecting == {"POST /v1/responses", "POST /v1/conversations", "POST /v1/responses/compact",
                         "POST /v1/responses/input_tokens"}
    assert 200 not in header["rejection_statuses"] and 500 not in header["not_a_server_error_statuses"]


def test_a_stale_corpus_is_generated_live_with_a_warning(monkeypatch: pytest.MonkeyPatch, corpus: Any) -> None:
    import fuzz_replay

    header, cases = corpus
    generated = []

    def generate_into(path: Any) -> None:  # a double of the 20 s generation: a few stored cases
        generated.append(path)
        fuzz_replay.write(path, header, cases[:5])

    monkeypatch.setattr(fuzz_replay, "generate_into", generate_into)
    monkeypatch.setattr(fuzz_replay, "generation_key", lambda: {**header, "python": "0.0"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fuzz_replay.cases_to_replay() == (header, cases[:5])
    assert len(generated) == 1 and not generated[0].exists()  # a temporary file, gone
    message = str(caught[0].message)
    assert f"stale (python: stored '{header['python']}', now '0.0')" in message
    assert fuzz_replay.REFRESH_COMMAND in message
