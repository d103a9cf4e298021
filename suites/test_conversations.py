"""The Conversations API and the ``conversation`` create parameter (cases in cases/conversations.yaml).

Every call goes through the openai SDK's ``conformance.client.conversations.*`` over the capturing transport;
each answer is schema-checked against the pinned SDK's Conversation types.
"""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import require
from fixtures.session import Conformance

NOT_FOUND = 404
BAD_REQUEST = 400
PAGE_LIMIT = 100  # the largest page the API allows; a longer conversation is followed with ``after``
MAX_PAGES = 50  # a target whose has_more never ends is a finding, not an endless loop


def _texts(page: dict) -> list[str]:
    return ["".join(p.get("text") or "" for p in item.get("content") or []) for item in page["data"]]


def _sent_texts(items: list[dict]) -> list[str]:
    return [item["content"] for item in items]


def _param(conformance: Conformance, exchange, status: int, param: str) -> None:
    error = conformance.error(exchange, status)["error"]
    require(error.get("param") == param, "error.param",
            f"{exchange.method} {exchange.path}: expected param {param!r}, got {error.get('param')!r}")


@pytest.mark.parametrize("case", cases_for("conversations", "lifecycle"))
def test_lifecycle(conformance: Conformance, case: Case) -> None:
    """create (items, metadata) → retrieve → update → retrieve → delete → 404."""
    created = conformance.ok(conformance.client.conversation_create(items=case.params["items"],
                                                                 metadata=case.params["metadata"]),
                             kind="conversation")
    require(created.get("metadata") == case.params["metadata"], "conversation.metadata",
            f"expected {case.params['metadata']}, got {created.get('metadata')}")
    got = conformance.ok(conformance.client.conversation_retrieve(created["id"]), kind="conversation")
    require(got == created, "conversation.retrieve", f"GET gave {got}, create gave {created}")
    updated = conformance.ok(conformance.client.conversation_update(created["id"], metadata=case.params["updated"]),
                             kind="conversation")
    require(updated.get("metadata") == case.params["updated"], "conversation.update",
            f"expected metadata {case.params['updated']}, got {updated.get('metadata')}")
    again = conformance.ok(conformance.client.conversation_retrieve(created["id"]), kind="conversation")
    require(again.get("metadata") == case.params["updated"], "conversation.update",
            f"GET after update gave metadata {again.get('metadata')}")
    page = conformance.ok(conformance.client.conversation_items_list(created["id"], order="asc"),
                          kind="conversation_items")
    require(_texts(page) == _sent_texts(case.params["items"]), "conversation.items",
            f"the items created with the conversation list as {_texts(page)}")
    deleted = conformance.ok(conformance.client.conversation_delete(created["id"]), kind="conversation_deleted")
    require(deleted.get("id") == created["id"] and deleted.get("deleted") is True, "conversation.delete",
            f"got {deleted}")
    conformance.error(conformance.client.conversation_retrieve(created["id"]), NOT_FOUND)


@pytest.mark.parametrize("case", cases_for("conversations", "items"))
def test_items(conformance: Conformance, case: Case) -> None:
    """items.create appends; items.list pages (after, limit, order, include); retrieve and delete."""
    cid = conformance.ok(conformance.client.conversation_create(items=case.params["items"]), kind="conversation")["id"]
    added = conformance.ok(conformance.client.conversation_items_create(cid, items=case.params["added"]),
                           kind="conversation_items")
    require(_texts(added) == _sent_texts(case.params["added"]), "conversation.items.create",
            f"the answer lists {_texts(added)}")
    every = _sent_texts(case.params["items"] + case.params["added"])
    asc = conformance.ok(conformance.client.conversation_items_list(cid, order="asc", include=case.params["include"]),
                         kind="conversation_items")
    require(_texts(asc) == every, "conversation.items.order", f"asc gave {_texts(asc)}, expected {every}")
    first = conformance.ok(conformance.client.conversation_items_list(cid, limit=2), kind="conversation_items")
    require(_texts(first) == every[::-1][:2] and first["has_more"] is True, "conversation.items.limit",
            f"the default order (desc) with limit 2 gave {_texts(first)}, has_more {first['has_more']}")
    require(first.get("last_id") == first["data"][-1]["id"], "conversation.items.last_id", "not the last item's id")
    rest = conformance.ok(conformance.client.conversation_items_list(cid, limit=2, after=first["last_id"]),
                          kind="conversation_items")
    require(_texts(rest) == every[::-1][2:] and rest["has_more"] is False, "conversation.items.after",
            f"after {first['last_id']} gave {_texts(rest)}, has_more {rest['has_more']}")
    item_id = added["data"][0]["id"]
    item = conformance.ok(conformance.client.conversation_item_retrieve(cid, item_id), kind="conversation_item")
    require(item.get("id") == item_id, "conversation.items.retrieve", f"got id {item.get('id')}")
    conv = conformance.ok(conformance.client.conversation_item_delete(cid, item_id), kind="conversation")
    require(conv.get("id") == cid, "conversation.items.delete", f"expected the conversation, got {conv}")
    conformance.error(conformance.client.conversation_item_retrieve(cid, item_id), NOT_FOUND)
    conformance.error(conformance.client.conversation_item_delete(cid, item_id), NOT_FOUND)


@pytest.mark.parametrize("case", cases_for("conversations", "turns"))
def test_turns(conformance: Conformance, case: Case) -> None:
    """Each turn's input and output are appended in order; the last turn sees the earlier ones."""
    cid = conformance.ok(conformance.client.conversation_create(items=case.params["items"]), kind="conversation")["id"]
    conformance.bindings["conversation"] = cid
    expected = _sent_texts(case.params["items"])
    last = None
    for body in [case.request, *case.turns]:
        request = conformance.request_of(case, body)
        exchange = conformance.create(request)
        response = conformance.ok(exchange)
        require((response.get("conversation") or {}).get("id") == cid, "conversation.echo",
                f"the response names conversation {response.get('conversation')!r}")
        outputs = [i for i in response.get("output") or [] if i.get("type") == "message"]
        expected += [request["input"]] + _texts({"data": outputs})
        last = (request, response, exchange)
    page = conformance.ok(conformance.client.conversation_items_list(cid, order="asc", limit=100),
                          kind="conversation_items")
    require(_texts(page) == expected, "conversation.append",
            f"the conversation lists {_texts(page)}, expected {expected}")
    request, response, exchange = last
    conformance.capability(case, response, request, exchange)


@pytest.mark.parametrize("case", cases_for("conversations", "with_previous_response"))
def test_with_previous_response(conformance: Conformance, case: Case) -> None:
    """conversation and previous_response_id together are a 400."""
    previous = conformance.ok(conformance.create(conformance.request_of(case)))
    cid = conformance.ok(conformance.client.conversation_create(), kind="conversation")["id"]
    request = conformance.request_of(case, conversation=cid, previous_response_id=previous["id"])
    conformance.error(conformance.create(request), BAD_REQUEST)


@pytest.mark.parametrize("case", cases_for("conversations", "unknown_ids"))
def test_unknown_ids(conformance: Conformance, case: Case) -> None:
    """Unknown conversation and item ids: 404 with the error shape everywhere."""
    missing = case.request["conversation"]
    conformance.error(conformance.create(conformance.request_of(case)), NOT_FOUND)
    conformance.error(conformance.client.conversation_retrieve(missing), NOT_FOUND)
    conformance.error(conformance.client.conversation_update(missing, metadata={"k": "v"}), NOT_FOUND)
    conformance.error(conformance.client.conversation_items_list(missing), NOT_FOUND)
    conformance.error(conformance.client.conversation_items_create(missing, items=[{"role": "user", "content": "x"}]),
                      NOT_FOUND)
    cid = conformance.ok(conformance.client.conversation_create(), kind="conversation")["id"]
    conformance.error(conformance.client.conversation_item_retrieve(cid, "msg_does_not_exist"), NOT_FOUND)
    conformance.error(conformance.client.conversation_item_delete(cid, "msg_does_not_exist"), NOT_FOUND)


@pytest.mark.parametrize("case", cases_for("conversations", "delete_twice"))
def test_delete_twice(conformance: Conformance, case: Case) -> None:
    """The second DELETE of a conversation is a 404."""
    cid = conformance.ok(conformance.client.conversation_create(), kind="conversation")["id"]
    conformance.ok(conformance.client.conversation_delete(cid), kind="conversation_deleted")
    conformance.error(conformance.client.conversation_delete(cid), NOT_FOUND)


@pytest.mark.parametrize("case", cases_for("conversations", "bad_parameters"))
def test_bad_parameters(conformance: Conformance, case: Case) -> None:
    """Bad list parameters and items: 400 naming the parameter."""
    cid = conformance.ok(conformance.client.conversation_create(items=[{"role": "user", "content": "x"}]),
                         kind="conversation")["id"]
    _param(conformance, conformance.client.conversation_items_list(cid, limit=0), BAD_REQUEST, "limit")
    _param(conformance, conformance.client.conversation_items_list(cid, order="sideways"), BAD_REQUEST, "order")
    _param(conformance, conformance.client.conversation_items_list(cid, after="msg_not_in_it"), BAD_REQUEST, "after")
    _param(conformance, conformance.client.conversation_create(items="not a list"), BAD_REQUEST, "items")


def _parallel_batches(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The items of each parallel create; every text names its request and place, so the listing
    shows whose item is where."""
    return [[{"type": "message", "role": "user", "content": params["text"].format(request=r, item=k)}
             for k in range(params["items_per_request"])] for r in range(params["requests"])]


def _every_item(conformance: Conformance, cid: str) -> list[dict]:
    """All the conversation's items, oldest first, page after page (has_more, last_id, after)."""
    items: list[dict] = []
    query: dict[str, Any] = {"order": "asc", "limit": PAGE_LIMIT}
    for _ in range(MAX_PAGES):
        page = conformance.ok(conformance.client.conversation_items_list(cid, **query), kind="conversation_items")
        items += page["data"]
        if not page["has_more"]:
            return items
        require(bool(page["data"]) and page.get("last_id") == page["data"][-1]["id"], "conversation.items.last_id",
                f"a page with has_more true ends with {page.get('last_id')!r}, not its last item's id")
        query["after"] = page["last_id"]
    require(False, "conversation.items.after", f"has_more is still true after {MAX_PAGES} pages")
    return items


@pytest.mark.parametrize("case", cases_for("conversations", "concurrent_items"))
def test_concurrent_items(conformance: Conformance, case: Case) -> None:
    """items.create sent in parallel on one conversation: every item is listed once, and each
    request's items together, in the order sent. No model is involved, so only the target's
    store decides the outcome."""
    cid = conformance.ok(conformance.client.conversation_create(), kind="conversation")["id"]
    batches = _parallel_batches(case.params)
    start = threading.Barrier(len(batches))  # every request leaves together, so their writes overlap

    def send(batch: list[dict[str, Any]]) -> Any:
        start.wait()
        return conformance.client.conversation_items_create(cid, items=batch)

    with ThreadPoolExecutor(len(batches)) as pool:
        exchanges = list(pool.map(send, batches))
    for batch, exchange in zip(batches, exchanges):
        added = conformance.ok(exchange, kind="conversation_items")
        require(_texts(added) == _sent_texts(batch), "conversation.items.create",
                f"a parallel create answered {_texts(added)} for {_sent_texts(batch)}")
    listed = _texts({"data": _every_item(conformance, cid)})
    sent = Counter(text for batch in batches for text in _sent_texts(batch))
    got = Counter(listed)
    lost = sorted(sent - got)
    extra = sorted(got - sent)
    require(not lost and not extra, "conversation.concurrency.lost",
            f"of {sum(sent.values())} items added by {len(batches)} parallel creates, the conversation lists "
            f"{len(listed)}: missing {lost}, listed more than sent {extra}")
    for n, batch in enumerate(batches):
        at = [listed.index(text) for text in _sent_texts(batch)]
        require(at == list(range(at[0], at[0] + len(at))), "conversation.concurrency.order",
                f"request {n}'s items are listed at positions {at}, not together in the order sent")
