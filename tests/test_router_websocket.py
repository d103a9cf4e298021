"""WebSocket mode on /v1/responses, driven by the pinned openai SDK's ``client.responses.connect``.

The router runs over a scripted Chat Completions upstream (tests/upstream.py); the SDK is the
client, and every server message it receives is also judged by the harness's stream grammar.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from fixtures import grammar
from upstream import DEFAULT_MODEL, Reply, Router, ScriptedUpstream, async_sdk_client, sdk_client

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


@pytest.fixture
def sdk(router: Router) -> Iterator[openai.OpenAI]:
    """The pinned SDK pointed at the router (its WebSocket URL is derived from base_url)."""
    client = sdk_client(router.url + "/v1", api_key="sk-test")
    yield client
    client.close()


def _until_answered(connection: Any) -> list[dict]:
    """Raw messages (as dicts) up to a terminal event or a standalone error event."""
    events: list[dict] = []
    while True:
        event = json.loads(connection.recv_bytes())
        events.append(event)
        standalone_error = event["type"] == "error" and len(events) == 1
        if event["type"] in TERMINAL or standalone_error or event["type"].startswith("response.steer."):
            return events


def _create(connection: Any, **body: Any) -> list[dict]:
    connection.send({"type": "response.create", "model": DEFAULT_MODEL, **body})
    return _until_answered(connection)


def test_two_responses_in_order_follow_the_grammar(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(text="first answer"), Reply(text="second answer"))
    with sdk.responses.connect() as connection:
        first = _create(connection, input="one")
        second = _create(connection, input="two")
    for events in (first, second):
        assert grammar.check_stream(events) == []
    assert first[-1]["response"]["output"][0]["content"][0]["text"] == "first answer"
    assert second[-1]["response"]["output"][0]["content"][0]["text"] == "second answer"
    assert first[0]["response"]["id"] != second[0]["response"]["id"]


def test_sdk_parses_every_event_it_receives(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(text="typed"))
    with sdk.responses.connect() as connection:
        connection.send({"type": "response.create", "model": DEFAULT_MODEL, "input": "x"})
        kinds = []
        for event in connection:
            kinds.append(type(event).__name__)
            if event.type in TERMINAL:
                break
    assert kinds[0] == "ResponseWsCreated" and kinds[-1] == "ResponseWsCompleted"


def test_store_false_continues_from_the_connection_cache(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(text="remembered"), Reply(text="continued"))
    with sdk.responses.connect() as connection:
        first = _create(connection, input="remember this", store=False)[-1]["response"]
        second = _create(connection, input="and now?", store=False, previous_response_id=first["id"])
    assert second[-1]["type"] == "response.completed", second
    assert second[-1]["response"]["previous_response_id"] == first["id"]
    sent = upstream.requests[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"][:2] == ["remember this", "remembered"]


def test_store_false_is_not_continued_on_another_connection(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    with sdk.responses.connect() as connection:
        first = _create(connection, input="x", store=False)[-1]["response"]
    with sdk.responses.connect() as other:
        answer = _create(other, input="y", previous_response_id=first["id"])
    assert [e["type"] for e in answer] == ["error"]
    assert answer[0]["error"]["code"] == "previous_response_not_found"
    assert answer[0]["status"] == 400 and answer[0]["error"]["param"] == "previous_response_id"


def test_a_stored_response_continues_on_any_connection(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    with sdk.responses.connect() as connection:
        first = _create(connection, input="x")[-1]["response"]
    with sdk.responses.connect() as other:
        answer = _create(other, input="y", previous_response_id=first["id"])
    assert answer[-1]["type"] == "response.completed"


def test_a_failed_continuation_evicts_the_cached_response(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    with sdk.responses.connect() as connection:
        first = _create(connection, input="x", store=False)[-1]["response"]
        refused = _create(connection, input="y", previous_response_id=first["id"], temperature="hot")
        again = _create(connection, input="y", previous_response_id=first["id"])
    assert refused[0]["type"] == "error" and refused[0]["error"]["param"] == "temperature"
    assert again[0]["error"]["code"] == "previous_response_not_found"


@pytest.mark.parametrize("raw, code", [
    ("{not json", "invalid_json"),
    ('{"type": "response.cancel"}', "unknown_event_type"),
    ("[1, 2]", "unknown_event_type"),
])
def test_bad_messages_are_typed_errors_and_the_socket_stays_open(
        sdk: openai.OpenAI, upstream: ScriptedUpstream, raw: str, code: str) -> None:
    with sdk.responses.connect() as connection:
        connection.send_raw(raw)
        error = _until_answered(connection)
        after = _create(connection, input="still there?")
    assert [e["type"] for e in error] == ["error"] and error[0]["error"]["code"] == code
    assert after[-1]["type"] == "response.completed"


def test_steering_is_refused_with_the_sdk_typed_event(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    with sdk.responses.connect() as connection:
        connection.send({"type": "response.steer", "previous_response_id": "resp_x", "input": "faster"})
        kinds = []
        for event in connection:
            kinds.append((type(event).__name__, getattr(event.error, "code", None)))
            break
    assert kinds == [("ResponseSteerFailedEvent", "steering_not_supported")]


def test_an_oversized_message_is_a_typed_error(tmp_path: Any, upstream: ScriptedUpstream) -> None:
    with Router(tmp_path / "small.sqlite", [upstream.url], ws_max_message_bytes=1024) as router:
        client = sdk_client(router.url + "/v1", api_key="sk-test")
        with client.responses.connect() as connection:
            connection.send({"type": "response.create", "model": DEFAULT_MODEL, "input": "x" * 2048})
            error = _until_answered(connection)
            after = _create(connection, input="small")
    assert error[0]["status"] == 413 and error[0]["error"]["code"] == "message_too_large"
    assert after[-1]["type"] == "response.completed"


def test_background_is_refused_on_the_socket(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    with sdk.responses.connect() as connection:
        answer = _create(connection, input="x", background=True)
    assert answer[0]["error"]["param"] == "background"


def test_the_async_sdk_client_speaks_it_too(router: Router, upstream: ScriptedUpstream) -> None:
    import asyncio

    upstream.script(Reply(text="async answer"))

    async def run() -> list[str]:
        client = async_sdk_client(router.url + "/v1", api_key="sk-test")
        kinds = []
        async with client.responses.connect() as connection:
            await connection.send({"type": "response.create", "model": DEFAULT_MODEL, "input": "x"})
            async for event in connection:
                kinds.append(event.type)
                if event.type in TERMINAL:
                    break
        await client.close()
        return kinds

    kinds = asyncio.run(run())
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_a_client_leaving_mid_stream_stores_nothing_and_the_router_serves_on(
        sdk: openai.OpenAI, upstream: ScriptedUpstream, router: Router) -> None:
    upstream.script(Reply(text="y" * 20, pieces=20, delay=0.05))
    with sdk.responses.connect() as connection:
        connection.send({"type": "response.create", "model": DEFAULT_MODEL, "input": "long"})
        created = json.loads(connection.recv_bytes())
    response_id = created["response"]["id"]
    with sdk.responses.connect() as connection:
        assert _create(connection, input="next")[-1]["type"] == "response.completed"
    # Like an SSE client that goes away: the response is not stored half done.
    assert router.client.get(f"/v1/responses/{response_id}").status_code == 404


def test_two_replicas_on_postgres_continue_each_others_stored_responses(
        upstream: ScriptedUpstream, tmp_path: Any) -> None:
    import pg
    from router_process import RouterProcess

    try:
        cluster = pg.shared_cluster()
    except pg.PostgresUnavailable as exc:
        pytest.skip(f"Postgres tests: {exc}")
    db_url = cluster.new_database()
    upstream.script(Reply(text="answer from a"), Reply(text="answer from b"))
    try:
        with RouterProcess(db_url, [upstream.url], tmp_path) as a, RouterProcess(db_url, [upstream.url], tmp_path) as b:
            on_a = sdk_client(a.url + "/v1", api_key="sk-test")
            on_b = sdk_client(b.url + "/v1", api_key="sk-test")
            with on_a.responses.connect() as socket_a, on_b.responses.connect() as socket_b:
                first = _create(socket_a, input="asked on a")[-1]["response"]
                second = _create(socket_b, input="asked on b", previous_response_id=first["id"])
                unstored = _create(socket_a, input="not kept", store=False)[-1]["response"]
                elsewhere = _create(socket_b, input="?", previous_response_id=unstored["id"])
    finally:
        cluster.drop_database(db_url)
    assert second[-1]["type"] == "response.completed", second
    history = [(m["role"], m["content"]) for m in upstream.requests[1]["messages"]]
    assert history == [("user", "asked on a"), ("assistant", "answer from a"), ("user", "asked on b")]
    # A store:false response lives in the cache of the connection that made it, nowhere else.
    assert elsewhere[0]["error"]["code"] == "previous_response_not_found"


def test_pipelined_creates_are_queued_and_answered_in_order(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(text="first", delay=0.05), Reply(text="second"))
    with sdk.responses.connect() as connection:
        for text, tokens in (("one", 16), ("two", 17)):
            connection.send({"type": "response.create", "model": DEFAULT_MODEL, "input": text,
                             "max_output_tokens": tokens})
        answers = [_until_answered(connection), _until_answered(connection)]
    for events in answers:
        assert grammar.check_stream(events) == []
    assert [a[-1]["response"]["max_output_tokens"] for a in answers] == [16, 17]
    assert [a[-1]["response"]["output"][0]["content"][0]["text"] for a in answers] == ["first", "second"]


def test_a_new_chain_replaces_the_cached_response(sdk: openai.OpenAI, upstream: ScriptedUpstream) -> None:
    # The connection holds its most recent response only: a create without previous_response_id
    # (a compacted history sent as input starts one) makes the older store:false chain unreachable.
    with sdk.responses.connect() as connection:
        old = _create(connection, input="old chain", store=False)[-1]["response"]
        new = _create(connection, input="new chain", store=False)[-1]["response"]
        on_new = _create(connection, input="go on", store=False, previous_response_id=new["id"])
        on_old = _create(connection, input="back?", store=False, previous_response_id=old["id"])
    assert on_new[-1]["type"] == "response.completed"
    assert on_old[0]["error"]["code"] == "previous_response_not_found"
