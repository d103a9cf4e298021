"""``POST /v1/responses/compact`` and compaction items as input, through the real pinned SDK
(``client.responses.compact``) on SQLite and Postgres: the SDK's own types parse every answer, the
summary the model wrote reaches the model again in a later turn (``store: false`` and through
``previous_response_id``), and every client mistake is a 400 naming its parameter, never a 500."""
from __future__ import annotations

import base64

import openai
import pytest
from openai.types.responses import CompactedResponse

import pg
from reference_impl.translate_items import COMPACTION_PREFIX
from upstream import DEFAULT_MODEL, Reply, Router, sdk_client

SUMMARY = "The user's cat is called Tom."
HISTORY = [
    {"role": "user", "content": "Guess my cat's name."},
    {"role": "assistant", "content": "Your cat is called Tom."},
]


@pytest.fixture(params=["sqlite", "postgres"])
def router(request, upstream, tmp_path):
    """A router on a fresh SQLite file or a fresh Postgres database."""
    r = Router(tmp_path / "db.sqlite", [upstream.url])
    if request.param == "postgres":
        r.config.db = pg.fresh_database(request)  # read in the lifespan, at start
    with r:
        yield r


@pytest.fixture
def sdk(router):
    """The pinned openai SDK pointed at the router (no retries: every answer is the first one)."""
    client = sdk_client(router.url + "/v1", api_key="sk-unused")
    yield client
    client.close()


def _error(exc: pytest.ExceptionInfo, status: int, param: str) -> dict:
    assert exc.value.status_code == status
    error = exc.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param, error
    return error


def _dump(item) -> dict:
    """An output item as the next request's input. The SDK types a compacted output's messages as
    assistant messages, while the API documents them as the user's own (input_text parts), so the
    SDK's serializer warns about a shape it was not written for; the dump itself is faithful."""
    return item.model_dump(exclude_none=True, warnings=False)


def _compact(sdk, upstream, **params) -> CompactedResponse:
    upstream.script(Reply(text=SUMMARY))
    return sdk.responses.compact(model=DEFAULT_MODEL, **params)


def test_compact_answers_the_sdk_type_with_the_user_messages_then_one_sealed_item(sdk, upstream):
    compacted = _compact(sdk, upstream, input=HISTORY, instructions="Be brief.")
    assert isinstance(compacted, CompactedResponse) and compacted.object == "response.compaction"
    kinds = [(i.type, getattr(i, "role", None)) for i in compacted.output]
    assert kinds == [("message", "user"), ("compaction", None)]
    item = compacted.output[-1]
    assert SUMMARY not in item.encrypted_content and "Tom" not in base64.urlsafe_b64decode(item.encrypted_content)\
        .decode("latin-1")
    assert compacted.usage.total_tokens == compacted.usage.input_tokens + compacted.usage.output_tokens > 0
    asked = upstream.requests[-1]
    assert asked["temperature"] == 0 and "Your cat is called Tom." in asked["messages"][-1]["content"]
    assert "Be brief." in asked["messages"][0]["content"]


def test_the_summary_reaches_the_model_in_a_later_stateless_turn(sdk, upstream):
    compacted = _compact(sdk, upstream, input=HISTORY)
    upstream.script(Reply(text="Tom"))
    later = [*[_dump(i) for i in compacted.output],
             {"role": "user", "content": "What is my cat called?"}]
    answer = sdk.responses.create(model=DEFAULT_MODEL, input=later, store=False)
    assert answer.status == "completed"
    messages = upstream.requests[-1]["messages"]
    assert {"role": "assistant", "content": COMPACTION_PREFIX + SUMMARY} in messages
    assert messages[-1] == {"role": "user", "content": "What is my cat called?"}


def test_a_stored_compaction_item_is_opened_again_through_previous_response_id(sdk, upstream):
    compacted = _compact(sdk, upstream, input=HISTORY)
    upstream.script(Reply(text="OK"), Reply(text="Tom"))
    first = sdk.responses.create(model=DEFAULT_MODEL, input=[_dump(i) for i in compacted.output])
    sdk.responses.create(model=DEFAULT_MODEL, previous_response_id=first.id, input="What is my cat called?")
    assert {"role": "assistant", "content": COMPACTION_PREFIX + SUMMARY} in upstream.requests[-1]["messages"]
    stored = sdk.responses.input_items.list(first.id, order="asc")
    assert [i.type for i in stored.data][-1] == "compaction"  # stored sealed, as it was sent


def test_compact_continues_a_stored_chain(sdk, upstream):
    upstream.script(Reply(text="Your cat is called Tom."))
    first = sdk.responses.create(model=DEFAULT_MODEL, input="Guess my cat's name.")
    compacted = _compact(sdk, upstream, previous_response_id=first.id)
    assert [i.type for i in compacted.output] == ["message", "compaction"]
    assert "Your cat is called Tom." in upstream.requests[-1]["messages"][-1]["content"]


def test_recompacting_includes_the_earlier_summary(sdk, upstream):
    compacted = _compact(sdk, upstream, input=HISTORY)
    again = _compact(sdk, upstream, input=[_dump(i) for i in compacted.output])
    assert again.output[-1].type == "compaction"
    assert SUMMARY in upstream.requests[-1]["messages"][-1]["content"]


def test_a_tampered_compaction_item_is_a_400_naming_it(sdk, upstream):
    compacted = _compact(sdk, upstream, input=HISTORY)
    item = compacted.output[-1].model_dump(exclude_none=True)
    blob = bytearray(base64.urlsafe_b64decode(item["encrypted_content"]))
    blob[-1] ^= 1
    item["encrypted_content"] = base64.urlsafe_b64encode(bytes(blob)).decode()
    sent = len(upstream.requests)
    for call in (lambda: sdk.responses.create(model=DEFAULT_MODEL, input=[item, {"role": "user", "content": "x"}]),
                 lambda: sdk.responses.compact(model=DEFAULT_MODEL, input=[{"role": "user", "content": "x"}, item])):
        with pytest.raises(openai.BadRequestError) as exc:
            call()
        position = 0 if exc.value.request.url.path.endswith("/responses") else 1
        assert _error(exc, 400, f"input[{position}].encrypted_content")["code"] == "invalid_encrypted_content"
    assert len(upstream.requests) == sent  # refused before the model was asked


@pytest.mark.parametrize("body, param", [
    ({"input": "hi"}, "model"),
    ({"model": DEFAULT_MODEL}, "input"),
    ({"model": DEFAULT_MODEL, "input": []}, "input"),
    ({"model": DEFAULT_MODEL, "input": ""}, "input"),
    ({"model": DEFAULT_MODEL, "input": 5}, "input"),
    ({"model": DEFAULT_MODEL, "input": "hi", "stream": True}, "stream"),
    ({"model": DEFAULT_MODEL, "previous_response_id": "resp_missing"}, "previous_response_id"),
])
def test_client_mistakes_are_400s_naming_the_parameter(router, body, param):
    resp = router.client.post("/v1/responses/compact", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_an_unknown_model_is_a_404_naming_model(router):
    resp = router.client.post("/v1/responses/compact", json={"model": "nope", "input": "hi"})
    assert resp.status_code == 404 and resp.json()["error"]["param"] == "model"


def test_a_compaction_item_in_a_conversation_is_opened_for_each_turn(sdk, upstream):
    compacted = _compact(sdk, upstream, input=HISTORY)
    conversation = sdk.conversations.create(items=[_dump(i) for i in compacted.output])
    upstream.script(Reply(text="Tom"))
    sdk.responses.create(model=DEFAULT_MODEL, conversation=conversation.id, input="What is my cat called?")
    assert {"role": "assistant", "content": COMPACTION_PREFIX + SUMMARY} in upstream.requests[-1]["messages"]

