"""The router's Conversations API and the ``conversation`` create parameter, on SQLite and Postgres:
shapes (validated by the pinned SDK's own types), errors, turns that see and extend the
conversation, and concurrent turns and item creates that neither lose nor interleave items."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from openai.types.conversations import Conversation, ConversationDeletedResource, ConversationItemList
from openai.types.conversations.conversation_item import ConversationItem
from pydantic import TypeAdapter

import pg
from upstream import Reply, Router

ITEM = TypeAdapter(ConversationItem)
PARALLEL_TURNS = 12
ITEMS_PER_CREATE = 3


def _error(resp, status: int, param: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param, error
    return error


@pytest.fixture(params=["sqlite", "postgres"])
def router(request, upstream, tmp_path):
    """A router on a fresh SQLite file or a fresh Postgres database."""
    r = Router(tmp_path / "db.sqlite", [upstream.url])
    if request.param == "postgres":
        r.config.db = pg.fresh_database(request)  # read in the lifespan, at start
    with r:
        yield r


def _user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": text}


def test_conversation_lifecycle_and_shapes(router):
    c = router.client
    created = c.post("/v1/conversations", json={"metadata": {"topic": "fruit"},
                                                "items": [_user("apples"), _user("pears")]})
    assert created.status_code == 200, created.text
    conv = Conversation.model_validate(created.json()).model_dump(exclude_unset=True)
    assert conv["object"] == "conversation" and conv["metadata"] == {"topic": "fruit"}
    cid = conv["id"]
    assert c.get(f"/v1/conversations/{cid}").json() == created.json()
    updated = c.post(f"/v1/conversations/{cid}", json={"metadata": {"topic": "plums"}})
    assert Conversation.model_validate(updated.json()).metadata == {"topic": "plums"}
    assert c.get(f"/v1/conversations/{cid}").json()["metadata"] == {"topic": "plums"}

    page = ConversationItemList.model_validate(c.get(f"/v1/conversations/{cid}/items",
                                                     params={"order": "asc"}).json())
    assert [i.content[0].text for i in page.data] == ["apples", "pears"]
    added = ConversationItemList.model_validate(
        c.post(f"/v1/conversations/{cid}/items", json={"items": [_user("plums")]}).json())
    plum = added.data[0].id
    assert ITEM.validate_python(c.get(f"/v1/conversations/{cid}/items/{plum}").json()).id == plum
    first = c.get(f"/v1/conversations/{cid}/items", params={"limit": 2}).json()
    assert [i["content"][0]["text"] for i in first["data"]] == ["plums", "pears"] and first["has_more"]
    rest = c.get(f"/v1/conversations/{cid}/items", params={"limit": 2, "after": first["last_id"]}).json()
    assert [i["content"][0]["text"] for i in rest["data"]] == ["apples"] and not rest["has_more"]
    assert c.get(f"/v1/conversations/{cid}/items",
                 params={"include": "message.output_text.logprobs"}).status_code == 200

    assert Conversation.model_validate(c.delete(f"/v1/conversations/{cid}/items/{plum}").json()).id == cid
    _error(c.get(f"/v1/conversations/{cid}/items/{plum}"), 404, "item_id")
    _error(c.delete(f"/v1/conversations/{cid}/items/{plum}"), 404, "item_id")
    deleted = ConversationDeletedResource.model_validate(c.delete(f"/v1/conversations/{cid}").json())
    assert deleted.deleted and deleted.id == cid and deleted.object == "conversation.deleted"
    _error(c.delete(f"/v1/conversations/{cid}"), 404, "conversation_id")
    _error(c.get(f"/v1/conversations/{cid}"), 404, "conversation_id")
    _error(c.get(f"/v1/conversations/{cid}/items"), 404, "conversation_id")


@pytest.mark.parametrize("path, body, param", [
    ("/v1/conversations", {"metadata": {"k": 1}}, "metadata.k"),
    ("/v1/conversations", {"items": "hi"}, "items"),
    ("/v1/conversations", {"items": [_user("x")] * 21}, "items"),
    ("/v1/conversations", {"items": [{"content": "no type"}]}, "items[0]"),
    ("/v1/conversations", {"nope": 1}, "nope"),
])
def test_bad_create_parameters_are_400_with_param(router, path, body, param):
    _error(router.client.post(path, json=body), 400, param)


def test_bad_list_parameters_are_400_with_param(router):
    cid = router.client.post("/v1/conversations", json={}).json()["id"]
    for params, param in [({"limit": 0}, "limit"), ({"limit": "x"}, "limit"), ({"order": "up"}, "order"),
                          ({"after": "msg_nope"}, "after"), ({"include": "nope"}, "include")]:
        _error(router.client.get(f"/v1/conversations/{cid}/items", params=params), 400, param)
    _error(router.client.post(f"/v1/conversations/{cid}", json={}), 400, "metadata")
    _error(router.client.post(f"/v1/conversations/{cid}/items", json={"items": []}), 400, "items")


def test_turns_see_and_extend_the_conversation(router, upstream):
    c = router.client
    cid = c.post("/v1/conversations", json={"items": [_user("My cat is Tom.")]}).json()["id"]
    upstream.script(Reply(text="Noted."), Reply(text="Tom."))
    first = router.create(input="Remember it.", conversation=cid).json()
    assert first["conversation"] == {"id": cid}
    second = router.create(input="What is my cat called?", conversation={"id": cid}, stream=True)
    assert second.status_code == 200
    sent = [m["content"] for m in upstream.requests[-1]["messages"]]
    assert sent == ["My cat is Tom.", "Remember it.", "Noted.", "What is my cat called?"]
    texts = [i["content"][0]["text"] for i in c.get(f"/v1/conversations/{cid}/items",
                                                    params={"order": "asc"}).json()["data"]]
    assert texts == ["My cat is Tom.", "Remember it.", "Noted.", "What is my cat called?", "Tom."]


def test_conversation_parameter_errors(router):
    cid = router.client.post("/v1/conversations", json={}).json()["id"]
    rid = router.create(input="hi").json()["id"]
    _error(router.create(input="x", conversation=cid, previous_response_id=rid), 400, "conversation")
    _error(router.create(input="x", conversation="conv_nope"), 404, "conversation")
    _error(router.create(input="x", conversation={"id": 5}), 400, "conversation")
    _error(router.create(input="x", conversation=7), 400, "conversation")


def test_concurrent_turns_neither_lose_nor_interleave_items(router, upstream):
    c = router.client
    cid = c.post("/v1/conversations", json={}).json()["id"]
    upstream.script(*[Reply(text="ok", pieces=3, delay=0.01) for _ in range(PARALLEL_TURNS)])
    sent = [f"turn {n}" for n in range(PARALLEL_TURNS)]
    with ThreadPoolExecutor(PARALLEL_TURNS) as pool:
        answers = list(pool.map(lambda text: router.create(input=text, conversation=cid), sent))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    items = c.get(f"/v1/conversations/{cid}/items", params={"order": "asc", "limit": 100}).json()["data"]
    assert len(items) == 2 * PARALLEL_TURNS
    pairs = [(items[k], items[k + 1]) for k in range(0, len(items), 2)]
    assert all(u["role"] == "user" and a["role"] == "assistant" for u, a in pairs), \
        "a turn's input and output are not adjacent"
    assert sorted(u["content"][0]["text"] for u, _ in pairs) == sorted(sent)
    # each input sits right before its own turn's output, not another turn's
    output_of = {text: a.json()["output"][0]["id"] for text, a in zip(sent, answers)}
    assert all(output_of[u["content"][0]["text"]] == a["id"] for u, a in pairs)


def test_parallel_item_creates_neither_lose_nor_interleave_items(router):
    c = router.client
    cid = c.post("/v1/conversations", json={"items": [_user("first")]}).json()["id"]
    batches = [[_user(f"request {n} item {k}") for k in range(ITEMS_PER_CREATE)] for n in range(PARALLEL_TURNS)]
    with ThreadPoolExecutor(PARALLEL_TURNS) as pool:
        answers = list(pool.map(lambda items: c.post(f"/v1/conversations/{cid}/items", json={"items": items}),
                                batches))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    listed = [i["content"][0]["text"] for i in c.get(f"/v1/conversations/{cid}/items",
                                                     params={"order": "asc", "limit": 100}).json()["data"]]
    assert listed[0] == "first" and len(listed) == 1 + PARALLEL_TURNS * ITEMS_PER_CREATE
    # every create's items form one block, in the order sent; the blocks may come in any order
    blocks = [listed[k:k + ITEMS_PER_CREATE] for k in range(1, len(listed), ITEMS_PER_CREATE)]
    assert sorted(blocks) == sorted([i["content"] for i in b] for b in batches)
