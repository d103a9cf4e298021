"""``POST /v1/responses/input_tokens`` through the real pinned SDK (``client.responses.input_tokens.count``)
on SQLite and Postgres: the count is the backend tokenizer's count of the chat request the router
would send, so it equals the ``usage.input_tokens`` of the same request actually sent (plain input,
instructions with tools, a ``previous_response_id`` chain, a conversation); a backend without a
tokenizer is a typed 501, and mistakes are 400s naming the parameter."""
from __future__ import annotations

import json

import openai
import pytest
from openai.types.responses import InputTokenCountResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import pg
from upstream import DEFAULT_MODEL, ContextLimitedUpstream, Reply, Router, ServerThread, sdk_client

TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


class CountingUpstream(ContextLimitedUpstream):
    """llama.cpp's token accounting in miniature: the template renders messages and tools, a token
    is a word, and every chat answer reports that count as its ``prompt_tokens``."""

    @classmethod
    def rendered(cls, body: dict) -> str:
        tools = body.get("tools")
        return cls.prompt(body.get("messages") or []) + (f"\ntools: {json.dumps(tools)}" if tools else "")

    async def _template(self, request: Request) -> Response:
        return JSONResponse({"prompt": self.rendered(await request.json())})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        size = len(self.rendered(body).split())
        self.replies.appendleft(Reply(text="ok", usage={"prompt_tokens": size, "completion_tokens": 1,
                                                        "total_tokens": size + 1}))
        return await super()._chat(request)


@pytest.fixture(scope="module")
def counting():
    upstream = CountingUpstream(window=10_000)
    with ServerThread(upstream.app) as server:
        upstream.url = server.url
        yield upstream


@pytest.fixture(params=["sqlite", "postgres"])
def router(request, counting, tmp_path):
    counting.reset()
    r = Router(tmp_path / "db.sqlite", [counting.url])
    if request.param == "postgres":
        r.config.db = pg.fresh_database(request)  # read in the lifespan, at start
    with r:
        yield r


@pytest.fixture
def sdk(router):
    client = sdk_client(router.url + "/v1", api_key="sk-unused")
    yield client
    client.close()


def _same_as_sent(sdk, **params) -> int:
    counted = sdk.responses.input_tokens.count(model=DEFAULT_MODEL, **params)
    assert isinstance(counted, InputTokenCountResponse) and counted.object == "response.input_tokens"
    sent = sdk.responses.create(model=DEFAULT_MODEL, **params)
    assert counted.input_tokens == sent.usage.input_tokens > 0, (counted, sent.usage)
    return counted.input_tokens


def test_plain_input_counts_what_create_uses(sdk):
    _same_as_sent(sdk, input="How many words are in this sentence?")


def test_instructions_and_tools_are_counted(sdk, counting):
    bare = _same_as_sent(sdk, input="Weather in Paris?")
    full = _same_as_sent(sdk, input="Weather in Paris?", instructions="Use the tools.", tools=TOOLS)
    assert full > bare
    assert counting.requests[-1].get("tools")  # the tools really were in the request counted


def test_a_previous_response_chain_is_counted(sdk):
    first = sdk.responses.create(model=DEFAULT_MODEL, input="My cat is called Tom.")
    alone = sdk.responses.input_tokens.count(model=DEFAULT_MODEL, input="What is its name?").input_tokens
    chained = _same_as_sent(sdk, previous_response_id=first.id, input="What is its name?")
    assert chained > alone


def test_a_conversation_is_counted(sdk):
    conversation = sdk.conversations.create(items=[{"type": "message", "role": "user", "content": "Tom is my cat."}])
    counted = sdk.responses.input_tokens.count(model=DEFAULT_MODEL, conversation=conversation.id, input="Name?")
    sent = sdk.responses.create(model=DEFAULT_MODEL, conversation=conversation.id, input="Name?")
    assert counted.input_tokens == sent.usage.input_tokens


def test_a_compaction_item_is_counted_as_the_summary_the_model_sees(sdk):
    compacted = sdk.responses.compact(model=DEFAULT_MODEL, input="My cat is called Tom.")
    items = [i.model_dump(exclude_none=True, warnings=False) for i in compacted.output]
    with_item = _same_as_sent(sdk, input=[*items, {"role": "user", "content": "Name?"}])
    without = _same_as_sent(sdk, input=[*items[:-1], {"role": "user", "content": "Name?"}])
    assert with_item > without


def test_model_may_be_left_out_when_one_model_is_served(sdk):
    assert sdk.responses.input_tokens.count(input="hi").input_tokens > 0


@pytest.mark.parametrize("body, status, param", [
    ({"model": DEFAULT_MODEL, "input": 5}, 400, "input"),
    ({"model": DEFAULT_MODEL, "input": "hi", "stream": True}, 400, "stream"),
    ({"model": DEFAULT_MODEL, "input": "hi", "personality": 7}, 400, "personality"),
    ({"model": DEFAULT_MODEL, "previous_response_id": "resp_missing"}, 400, "previous_response_id"),
    ({"model": DEFAULT_MODEL, "conversation": "conv_missing"}, 404, "conversation"),
    ({"model": "nope", "input": "hi"}, 404, "model"),
])
def test_mistakes_name_the_parameter(router, body, status, param):
    resp = router.client.post("/v1/responses/input_tokens", json=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["param"] == param


def test_a_backend_without_a_tokenizer_is_a_typed_501(upstream, tmp_path):
    """The conftest upstream has no /props: not llama.cpp, no tokenizer to trust."""
    with Router(tmp_path / "db.sqlite", [upstream.url]) as router:
        client = sdk_client(router.url + "/v1", api_key="sk-unused")
        with pytest.raises(openai.APIStatusError) as exc:
            client.responses.input_tokens.count(model=DEFAULT_MODEL, input="hi")
        client.close()
    assert exc.value.status_code == 501
    assert exc.value.response.json()["error"]["code"] == "input_tokens_unsupported"
