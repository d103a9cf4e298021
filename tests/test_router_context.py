"""The context window through the router: an overflow is a 400 before any event (JSON, SSE),
a typed failure in background mode, and ``truncation: "auto"`` drops the oldest messages until
the request fits, counted with the backend's tokenizer (or estimated without one)."""
from __future__ import annotations

import pytest

from reference_impl import context
from upstream import ContextLimitedUpstream, Reply, Router, ServerThread, checked_stream

WINDOW = 100


def _serve(**kwargs):
    scripted = ContextLimitedUpstream(window=WINDOW, **kwargs)
    with ServerThread(scripted.app) as server:
        scripted.url = server.url
        yield scripted


@pytest.fixture(scope="module")
def shared_upstream():
    yield from _serve()


@pytest.fixture(scope="module")
def plain_upstream():
    """No /props, /apply-template or /tokenize: truncation estimates from the rejection."""
    yield from _serve(tokenizer=False)


def _history(notes: int = 12, words: int = 15) -> list[dict]:
    items = [{"role": "user", "content": f"note{n} " + "word " * words} for n in range(notes)]
    return items + [{"role": "user", "content": "the question"}]


def _assert_context_error(resp) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "input"
    assert error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_overflow_is_a_400_before_any_event(router, upstream, stream):
    resp = router.create(input=_history(), stream=stream, max_output_tokens=16)
    _assert_context_error(resp)
    assert upstream.tokenize_calls == 0  # truncation disabled: nothing counted


def test_background_overflow_fails_with_the_typed_code(router, upstream):
    queued = router.create(input=_history(), background=True)
    assert queued.status_code == 200
    final = router.wait_status(queued.json()["id"], ("failed",))
    assert final["status"] == "failed" and final["error"]["code"] == "context_length_exceeded"
    replay = router.client.get(f"/v1/responses/{final['id']}", params={"stream": "true"})
    events = checked_stream(replay.content, mode="background")
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["code"] == "context_length_exceeded"


def test_truncation_auto_drops_the_oldest_items(router, upstream):
    upstream.script(Reply(text="answer"))
    resp = router.create(input=_history(), instructions="be brief", truncation="auto",
                         max_output_tokens=20, stream=True)
    assert resp.status_code == 200
    events = checked_stream(resp.content)
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["truncation"] == "auto"
    sent = upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "be brief"}
    assert sent[-1] == {"role": "user", "content": "the question"}
    assert ContextLimitedUpstream.tokens(sent) + 20 <= WINDOW
    kept = [m["content"].split()[0] for m in sent[1:-1]]
    assert kept and kept == [f"note{n}" for n in range(12 - len(kept), 12)]  # the newest survive
    # And not more was dropped than needed: one more note would not have fitted.
    one_more = [sent[0], {"role": "user", "content": f"note{11 - len(kept)} " + "word " * 15}, *sent[1:]]
    assert ContextLimitedUpstream.tokens(one_more) + 20 > WINDOW
    assert upstream.tokenize_calls > 0


def test_truncation_auto_without_a_tokenizer_estimates(plain_upstream, tmp_path):
    plain_upstream.reset()
    plain_upstream.script(Reply(text="answer"))
    with Router(tmp_path / "db.sqlite", [plain_upstream.url]) as router:
        body = router.create(input=_history(), truncation="auto", max_output_tokens=16).json()
    assert body["status"] == "completed", body
    sent = plain_upstream.requests[-1]["messages"]
    assert sent[-1]["content"] == "the question" and ContextLimitedUpstream.tokens(sent) <= WINDOW


def test_truncation_auto_cannot_drop_the_last_turn(router, upstream):
    resp = router.create(input=[{"role": "user", "content": "word " * (WINDOW + 5)}],
                         truncation="auto", max_output_tokens=16)
    _assert_context_error(resp)


def test_a_request_that_fits_is_unchanged_and_not_counted(router, upstream):
    upstream.script(Reply(text="fine"))
    body = router.create(input="hello", truncation="auto").json()
    assert body["status"] == "completed"
    assert upstream.tokenize_calls == 0 and len(upstream.requests) == 1
    assert set(upstream.requests[0]) == {"model", "messages", "stream", "stream_options"}


def test_tool_results_are_dropped_with_their_call():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                               "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "r1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
    ]
    assert context.droppable(messages) == 3
    assert context.without_oldest(messages, 2) == [messages[0], messages[4], messages[5]]
    assert context.without_oldest(messages, 3) == [messages[0], messages[5]]


def test_rejections_are_told_apart():
    llama = context.BackendError("backend HTTP 400: request (6020 tokens) exceeds the available context "
                                 "size (4096 tokens), try increasing it", status=400)
    vllm = context.BackendError("backend HTTP 400: This model's maximum context length is 4096 tokens. "
                                "However, your request has 6020 input tokens.", status=400)
    other = context.BackendError("backend HTTP 400: invalid tool schema", status=400)
    assert context.is_overflow(llama) and context.is_overflow(vllm) and not context.is_overflow(other)
    assert context.counts_from(llama) == (6020, 4096) and context.counts_from(vllm) == (6020, 4096)
    assert not context.is_overflow(context.BackendError("maximum context length", status=500))


def test_a_slow_backend_still_gets_its_first_event_early(router, upstream):
    import time

    from reference_impl.engine import OPEN_WAIT_SECONDS

    # Only the first chunk is late: that is what the early event must not wait for (a delay before
    # every chunk made the test wait five times as long for nothing more).
    upstream.script(Reply(text="slow", pieces=2, first_delay=OPEN_WAIT_SECONDS + 1.0))
    started = time.monotonic()
    with router.client.stream("POST", "/v1/responses", json={"model": "test-model", "input": "x",
                                                             "stream": True}) as resp:
        raw = resp.iter_bytes()
        body = next(raw)
        waited = time.monotonic() - started
        body += b"".join(raw)
    first = body.split(b"\n", 1)[0].decode()
    assert first == "event: response.created" and waited < OPEN_WAIT_SECONDS + 0.8, waited
    assert checked_stream(body)[-1]["type"] == "response.completed"
