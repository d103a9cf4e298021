"""Stateful endpoints: store, delete, input_items and chains (cases in cases/stateful.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import require
from fixtures.session import Conformance

NOT_FOUND = 404
REJECTED = (400, 404)


@pytest.mark.parametrize("case", cases_for("stateful", "not_stored"))
def test_not_stored(conformance: Conformance, case: Case) -> None:
    """store=false: nothing is kept, so GET is a 404."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    conformance.error(conformance.client.retrieve(created["id"]), NOT_FOUND)


@pytest.mark.parametrize("case", cases_for("stateful", "not_chainable"))
def test_not_chainable(conformance: Conformance, case: Case) -> None:
    """store=false: a follow-up on that id is rejected with an error object."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    follow = conformance.create({"previous_response_id": created["id"], "input": "Again."})
    conformance.error(follow, REJECTED)


@pytest.mark.parametrize("case", cases_for("stateful", "delete_then_get"))
def test_delete_then_get(conformance: Conformance, case: Case) -> None:
    """DELETE answers {id, object, deleted: true}; the response is then gone."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    deleted = conformance.ok(conformance.client.delete(created["id"]), kind="deleted")
    require(deleted["id"] == created["id"], "delete.id", "DELETE names another response",
            expected=created["id"], got=deleted["id"])
    conformance.error(conformance.client.retrieve(created["id"]), NOT_FOUND)


@pytest.mark.parametrize("case", cases_for("stateful", "delete_twice"))
def test_delete_twice(conformance: Conformance, case: Case) -> None:
    """The second DELETE of one response is a 404."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    conformance.ok(conformance.client.delete(created["id"]), kind="deleted")
    conformance.error(conformance.client.delete(created["id"]), NOT_FOUND)


def _texts(page: dict) -> list[str]:
    texts = []
    for item in page["data"]:
        content = item.get("content")
        parts = content if isinstance(content, list) else [{"text": content}]
        texts.append("".join(p.get("text") or "" for p in parts))
    return texts


@pytest.mark.parametrize("case", cases_for("stateful", "input_items_order"))
def test_input_items_order(conformance: Conformance, case: Case) -> None:
    """input_items lists every input item: order=asc as sent, the default newest first."""
    request = conformance.request_of(case)
    created = conformance.ok(conformance.create(request))
    sent = [m["content"] for m in request["input"]]
    ascending = conformance.ok(conformance.client.input_items(created["id"], order="asc"), kind="input_items")
    require(_texts(ascending) == sent, "input_items.order", "order=asc differs from the input",
            expected=sent, got=_texts(ascending))
    default = conformance.ok(conformance.client.input_items(created["id"]), kind="input_items")
    require(_texts(default) == sent[::-1], "input_items.order", "the default order is not newest first",
            expected=sent[::-1], got=_texts(default))


@pytest.mark.parametrize("case", cases_for("stateful", "input_items_pages"))
def test_input_items_pages(conformance: Conformance, case: Case) -> None:
    """limit and after page through input_items; has_more, first_id and last_id agree."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    first = conformance.ok(conformance.client.input_items(created["id"], order="asc", limit=2), kind="input_items")
    require(len(first["data"]) == 2 and first["has_more"] is True, "input_items.limit",
            "limit=2 of 3 items", expected="2 items, has_more", got=f"{len(first['data'])}, {first['has_more']}")
    require(first["last_id"] == first["data"][-1]["id"], "input_items.last_id", "not the last item's id",
            expected=first["data"][-1]["id"], got=first["last_id"])
    rest = conformance.ok(conformance.client.input_items(created["id"], order="asc", after=first["last_id"]),
                          kind="input_items")
    require(len(rest["data"]) == 1 and rest["has_more"] is False, "input_items.after",
            "the rest after last_id", expected="1 item, no more", got=f"{len(rest['data'])}, {rest['has_more']}")
    require(rest["data"][0]["id"] not in {i["id"] for i in first["data"]}, "input_items.after", "page overlap")


@pytest.mark.parametrize("case", cases_for("stateful", "chain_input_items"))
def test_chain_input_items(conformance: Conformance, case: Case) -> None:
    """A follow-up's input_items are its own input, not the whole conversation."""
    (_, _, _), (request, response, _) = conformance.chain(case)
    page = conformance.ok(conformance.client.input_items(response["id"]), kind="input_items")
    require(_texts(page) == [request["input"]], "input_items.chain", "not the follow-up's own input",
            expected=[request["input"]], got=_texts(page))


@pytest.mark.parametrize("case", cases_for("stateful", "chain_instructions"))
def test_chain_instructions(conformance: Conformance, case: Case) -> None:
    """Instructions belong to their turn: a follow-up without them has null instructions."""
    (_, first, _), (_, second, _) = conformance.chain(case)
    require(first["instructions"] == case.request["instructions"], "instructions.echo", "first turn",
            expected=case.request["instructions"], got=first["instructions"])
    require(second["instructions"] is None, "instructions.carried_over", "the follow-up has instructions",
            expected=None, got=second["instructions"])


@pytest.mark.parametrize("case", cases_for("stateful", "chain"))
def test_chain(conformance: Conformance, case: Case) -> None:
    """Every turn of a long chain is linked to the one before and sees the earlier turns."""
    request, response, exchange = conformance.chain(case)[-1]
    conformance.capability(case, response, request, exchange)


@pytest.mark.parametrize("case", cases_for("stateful", "function_round_trip"))
def test_function_round_trip(conformance: Conformance, case: Case) -> None:
    """A function call in one turn, its output in the next, on the chain."""
    request, response, exchange = conformance.round_trip(case)
    conformance.capability(case, response, request, exchange)
