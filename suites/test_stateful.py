"""Stateful endpoints: store, delete, input_items and chains (cases in cases/stateful.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
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
    assert deleted["id"] == created["id"], f"delete.id: expected {created['id']!r}, got {deleted['id']!r}"
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
    assert _texts(ascending) == sent, f"input_items.order: asc gave {_texts(ascending)}, sent {sent}"
    default = conformance.ok(conformance.client.input_items(created["id"]), kind="input_items")
    assert _texts(default) == sent[::-1], f"input_items.order: default gave {_texts(default)}, expected desc"


@pytest.mark.parametrize("case", cases_for("stateful", "input_items_pages"))
def test_input_items_pages(conformance: Conformance, case: Case) -> None:
    """limit and after page through input_items; has_more, first_id and last_id agree."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    first = conformance.ok(conformance.client.input_items(created["id"], order="asc", limit=2), kind="input_items")
    assert len(first["data"]) == 2 and first["has_more"] is True, \
        f"input_items.limit: expected 2 items and has_more, got {len(first['data'])} / {first['has_more']}"
    assert first["last_id"] == first["data"][-1]["id"], "input_items.last_id: not the last item's id"
    rest = conformance.ok(conformance.client.input_items(created["id"], order="asc", after=first["last_id"]),
                          kind="input_items")
    assert len(rest["data"]) == 1 and rest["has_more"] is False, \
        f"input_items.after: expected the 1 remaining item, got {len(rest['data'])} / {rest['has_more']}"
    assert rest["data"][0]["id"] not in {i["id"] for i in first["data"]}, "input_items.after: page overlap"


@pytest.mark.parametrize("case", cases_for("stateful", "chain_input_items"))
def test_chain_input_items(conformance: Conformance, case: Case) -> None:
    """A follow-up's input_items are its own input, not the whole conversation."""
    (_, _, _), (request, response, _) = conformance.chain(case)
    page = conformance.ok(conformance.client.input_items(response["id"]), kind="input_items")
    assert _texts(page) == [request["input"]], f"input_items.chain: got {_texts(page)}"


@pytest.mark.parametrize("case", cases_for("stateful", "chain_instructions"))
def test_chain_instructions(conformance: Conformance, case: Case) -> None:
    """Instructions belong to their turn: a follow-up without them has null instructions."""
    (_, first, _), (_, second, _) = conformance.chain(case)
    assert first["instructions"] == case.request["instructions"], "instructions.echo: first turn"
    assert second["instructions"] is None, (
        f"instructions.carried_over: the follow-up has {second['instructions']!r}")


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
