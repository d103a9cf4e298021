"""What a chat backend says beyond plain text, through the router: reasoning (items, events,
summaries, encrypted_content and its round trip), logprobs, refusals, and the failure paths
(upstream failure mid-stream, MCP listing and call failures). Every stream is checked by the
grammar and every event and final response by the schemas (upstream.checked_stream)."""
from __future__ import annotations

import base64

import pytest

from fixtures.grammar import check_stream
from fixtures.mcp_server import serve_mcp
from fixtures.schemas import errors_only, validate_response
from fixtures.sse import parse_frames
from reference_impl.sealing import Sealer
from upstream import Reply, Router, checked_stream

THOUGHT = "Seventeen times three: 17*3 = 51."
KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def router(upstream, tmp_path):
    with Router(tmp_path / "db.sqlite", [upstream.url], sealing_key=KEY) as r:
        yield r


def _types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def _runs(events: list[dict]) -> list[str]:
    """Event types with repeats (several deltas) folded into one."""
    types = _types(events)
    return [t for n, t in enumerate(types) if n == 0 or types[n - 1] != t]


def _response_ok(response: dict) -> None:
    issues = errors_only(validate_response(response))
    assert not issues, [str(i) for i in issues]


# ---------------------------------------------------------------- reasoning

def test_reasoning_content_becomes_a_reasoning_item_before_the_message(router, upstream):
    upstream.script(Reply(reasoning=THOUGHT, text="51", usage={
        "prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29,
        "completion_tokens_details": {"reasoning_tokens": 14}}))
    events = checked_stream(router.create(input="17*3?", stream=True).content)
    assert _runs(events) == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    final = events[-1]["response"]
    thought, message = final["output"]
    assert thought["type"] == "reasoning" and thought["id"].startswith("rs_")
    assert thought["content"] == [{"type": "reasoning_text", "text": THOUGHT}] and thought["summary"] == []
    assert "encrypted_content" not in thought
    assert message["content"][0]["text"] == "51"
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 14


def test_a_reasoning_summary_is_the_reasoning_text(router, upstream):
    upstream.script(Reply(reasoning=THOUGHT, text="51"))
    events = checked_stream(router.create(input="17*3?", stream=True,
                                          reasoning={"effort": "low", "summary": "auto"}).content)
    for kind in ("reasoning_summary_part.added", "reasoning_summary_text.delta",
                 "reasoning_summary_text.done", "reasoning_summary_part.done"):
        assert f"response.{kind}" in _types(events)
    item = events[-1]["response"]["output"][0]
    assert item["summary"] == [{"type": "summary_text", "text": THOUGHT}]
    assert events[-1]["response"]["reasoning"] == {"effort": "low", "summary": "auto"}


def test_encrypted_reasoning_round_trip_keeps_the_chain_reasoning(router, upstream):
    upstream.script(Reply(reasoning=THOUGHT, text="51"), Reply(text="yes"))
    first = router.create(input="17*3?", store=False, include=["reasoning.encrypted_content"]).json()
    _response_ok(first)
    thought = first["output"][0]
    blob = thought["encrypted_content"]
    assert THOUGHT not in blob and Sealer(base64.b64decode(KEY)).open("reasoning", blob) == {"text": THOUGHT}
    # The client sends the history back without store (as Codex does), content stripped.
    sent_back = {k: v for k, v in thought.items() if k != "content"}
    history = [{"role": "user", "content": "17*3?"}, sent_back, first["output"][1]]
    second = router.create(input=history + [{"role": "user", "content": "sure?"}], store=False,
                           include=["reasoning.encrypted_content"])
    assert second.status_code == 200 and second.json()["status"] == "completed"
    assistant = [m for m in upstream.requests[-1]["messages"] if m["role"] == "assistant"]
    assert assistant == [{"role": "assistant", "content": "51", "reasoning_content": THOUGHT}]


@pytest.mark.parametrize("damage", ["tamper", "foreign", "garbage"])
def test_a_bad_encrypted_content_is_a_400_naming_it(router, upstream, damage):
    good = Sealer(base64.b64decode(KEY)).seal("reasoning", {"text": THOUGHT})
    blob = {"tamper": good[:20] + ("A" if good[20] != "A" else "B") + good[21:],
            "foreign": Sealer().seal("reasoning", {"text": THOUGHT}),
            "garbage": "not a blob"}[damage]
    resp = router.create(store=False, input=[
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": blob},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"}])
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == "input[1].encrypted_content" and error["type"] == "invalid_request_error"
    assert not upstream.requests


def test_reasoning_without_encrypted_content_is_accepted(router, upstream):
    resp = router.create(store=False, input=[
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "greet back"}]},
        {"role": "assistant", "content": "hello"},
        {"type": "reasoning", "id": "rs_2", "summary": []},
        {"role": "user", "content": "again"}])
    assert resp.status_code == 200 and resp.json()["status"] == "completed"
    messages = upstream.requests[-1]["messages"]
    assert messages[1] == {"role": "assistant", "content": "hello", "reasoning_content": "greet back"}
    assert messages[2] == {"role": "user", "content": "again"}


def test_stored_chain_hands_reasoning_back(router, upstream):
    upstream.script(Reply(reasoning=THOUGHT, text="51"), Reply(text="yes"))
    first = router.create(input="17*3?").json()
    router.create(input="sure?", previous_response_id=first["id"])
    assert {"role": "assistant", "content": "51", "reasoning_content": THOUGHT} in upstream.requests[-1]["messages"]


# ---------------------------------------------------------------- logprobs

def test_logprobs_on_every_delta_and_on_the_part(router, upstream):
    upstream.script(Reply(text="Yes sir", pieces=3, logprobs=2))
    resp = router.create(input="Say yes.", stream=True, top_logprobs=2,
                         include=["message.output_text.logprobs"])
    events = checked_stream(resp.content)
    sent = upstream.requests[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert deltas and all(len(d["logprobs"]) == 1 and len(d["logprobs"][0]["top_logprobs"]) == 2
                          for d in deltas)
    assert [d["logprobs"][0]["token"] for d in deltas] == [d["delta"] for d in deltas]
    part = events[-1]["response"]["output"][0]["content"][0]
    assert [p["token"] for p in part["logprobs"]] == [d["delta"] for d in deltas]
    assert part["logprobs"][0]["bytes"] == list(deltas[0]["delta"].encode())
    assert part["logprobs"][0]["top_logprobs"][1] == {"token": "alt1", "logprob": -1.0, "bytes": list(b"alt1")}
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert len(done["logprobs"]) == len(deltas)


def test_without_the_include_the_chat_request_is_unchanged(router, upstream):
    router.create(input="Say yes.", top_logprobs=2)
    assert "logprobs" not in upstream.requests[-1] and "top_logprobs" not in upstream.requests[-1]


# ---------------------------------------------------------------- refusal and failures

def test_a_refusal_is_a_refusal_part_with_its_events(router, upstream):
    upstream.script(Reply(refusal="I can't help with that."))
    events = checked_stream(router.create(input="something bad", stream=True).content)
    assert "response.refusal.delta" in _types(events) and "response.refusal.done" in _types(events)
    content = events[-1]["response"]["output"][0]["content"]
    assert content == [{"type": "refusal", "refusal": "I can't help with that."}]


@pytest.mark.parametrize("reply", [
    Reply(reasoning="thinking hard", text="abcdef", pieces=3, disconnect_after=5),
    Reply(text="abcdef", pieces=3, malformed_after=2),
], ids=["disconnect-mid-reasoning-answer", "malformed"])
def test_upstream_failure_mid_stream_is_error_then_failed(router, upstream, reply):
    upstream.script(reply)
    events = checked_stream(router.create(input="x", stream=True).content)
    assert _types(events)[-2:] == ["error", "response.failed"]
    assert events[-2]["code"] == "server_error" and events[-1]["response"]["error"]["code"] == "server_error"


def test_mcp_list_tools_failed_in_a_stream(router, upstream):
    tools = [{"type": "mcp", "server_label": "dead", "server_url": "http://127.0.0.1:9/mcp",
              "require_approval": "never"}]
    upstream.script(Reply(text="no tools"))
    events = checked_stream(router.create(input="x", stream=True, tools=tools).content)
    assert "response.mcp_list_tools.failed" in _types(events)
    assert events[-1]["type"] == "response.completed"


def test_mcp_call_failed_in_a_stream(router, upstream):
    with serve_mcp() as mcp:
        tools = [{"type": "mcp", "server_label": "calc", "server_url": mcp.url, "require_approval": "never"}]
        upstream.script(Reply(tool_calls=[("calc__add", '{"a": "not a number"}')]), Reply(text="it failed"))
        body = router.create(input="x", stream=True, tools=tools).content
    events = checked_stream(body)
    assert "response.mcp_call.failed" in _types(events), _types(events)
    call = next(i for i in events[-1]["response"]["output"] if i["type"] == "mcp_call")
    assert call["status"] == "failed" and call["error"]


def test_the_grammar_is_not_blind_to_a_broken_reasoning_stream(router, upstream):
    upstream.script(Reply(reasoning=THOUGHT, text="51"))
    body = router.create(input="x", stream=True).content
    broken = body.replace(b'"text":"' + THOUGHT.encode() + b'"', b'"text":"something else"', 1)
    assert broken != body and check_stream(parse_frames(broken))
