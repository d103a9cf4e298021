"""The Conversations suite's own checks bite: each one, given a target that gets exactly that one
thing wrong, fails with a finding of its rule (and the same target without the fault passes).

The target is an in-memory model of the Conversations API behind a stand-in for ``Conformance``,
so every declared ``conversation.*`` rule is made to happen without a server.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, NamedTuple

import pytest

from fixtures.cases import Case, bind, load_all
from fixtures.findings import ProtocolFailure
from suites import test_conversations as suite

pytestmark = pytest.mark.unit


class Call(NamedTuple):
    """One client call, standing in for its captured exchange."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    @property
    def path(self) -> str:
        return f"({self.method})"


def _text(item: dict[str, Any]) -> str:
    content = item.get("content")
    return content if isinstance(content, str) else "".join(p.get("text") or "" for p in content or [])


class Conversations:
    """A correct Conversations API, in memory: what each call answers."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.count = 0

    def _item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        return {"id": f"msg_{self.count}", "type": "message", "role": item.get("role", "user"),
                "content": [{"type": "input_text", "text": _text(item)}]}

    def conversation(self) -> dict[str, Any]:
        return {"id": "conv_1", "object": "conversation", "metadata": dict(self.meta), "created_at": 1}

    def page(self, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
        return {"object": "list", "data": data, "has_more": has_more,
                "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    def answer(self, call: Call) -> Any:
        method, args, kwargs = call
        if method == "conversation_create":
            self.meta = kwargs.get("metadata") or {}
            self.items = [self._item(i) for i in kwargs.get("items") or []]
            return self.conversation()
        if method in ("conversation_retrieve", "conversation_item_delete"):
            self.items = [i for i in self.items if method != "conversation_item_delete" or i["id"] != args[1]]
            return self.conversation()
        if method == "conversation_update":
            self.meta = kwargs["metadata"]
            return self.conversation()
        if method == "conversation_delete":
            return {"id": "conv_1", "object": "conversation.deleted", "deleted": True}
        if method == "conversation_items_create":
            added = [self._item(i) for i in kwargs["items"]]
            self.items += added
            return self.page(added)
        if method == "conversation_items_list":
            ordered = self.items if kwargs.get("order") == "asc" else self.items[::-1]
            if "after" in kwargs:
                ordered = ordered[[i["id"] for i in ordered].index(kwargs["after"]) + 1:]
            limit = kwargs.get("limit", 100)
            return self.page(ordered[:limit], len(ordered) > limit)
        if method == "conversation_item_retrieve":
            return next(i for i in self.items if i["id"] == args[1])
        if method == "create":
            request = args[0]
            self.items += [self._item({"content": request["input"]}), self._item({"role": "assistant",
                                                                                   "content": "Tom"})]
            return {"id": f"resp_{self.count}", "conversation": {"id": "conv_1"}, "output": [
                {"type": "message", "content": [{"type": "output_text", "text": "Tom"}]}]}
        raise AssertionError(f"unexpected call {method}")


class Client:
    model = "m"

    def __getattr__(self, method: str) -> Callable[..., Call]:
        return lambda *args, **kwargs: Call(method, args, kwargs)


class Stand_in:  # noqa: N801 - reads as what it is
    """What the suite's test functions use of ``Conformance``, over ``Conversations``, with one fault:
    the ``nth`` answer to ``method`` is passed through ``fault`` first."""

    def __init__(self, method: str = "", nth: int = 1, fault: Callable[[Any], Any] = lambda a: a) -> None:
        self.api = Conversations()
        self.client = Client()
        self.bindings: dict[str, Any] = {}
        self.fault = (method, nth, fault)
        self.seen: dict[str, int] = {}

    def _answer(self, call: Call) -> Any:
        answer = copy.deepcopy(self.api.answer(call))
        self.seen[call[0]] = self.seen.get(call[0], 0) + 1
        method, nth, fault = self.fault
        return fault(answer) if (call[0], self.seen[call[0]]) == (method, nth) else answer

    def ok(self, call: Call, **_: Any) -> Any:
        return self._answer(call)

    def error(self, call: Call, status: int) -> dict[str, Any]:
        """An error naming the call's first keyword argument (the bad parameter, in these tests)."""
        return {"error": {"param": next(iter(call.kwargs), None)}}

    def create(self, request: dict[str, Any]) -> Call:
        return Call("create", (request,), {})

    def request_of(self, case: Case, body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return bind({**(case.request if body is None else body), **extra}, self.bindings)

    def capability(self, *args: Any) -> None:
        pass


def _case(check: str) -> Case:
    return next(c for c in load_all() if c.family == "conversations" and c.check == check)


def _with(key: str, value: Any) -> Callable[[Any], Any]:
    return lambda answer: {**answer, key: value}


FAULTS = [  # rule, test function, the call answered wrongly, which one of them, the fault
    ("conversation.metadata", "lifecycle", "conversation_create", 1, _with("metadata", {})),
    ("conversation.retrieve", "lifecycle", "conversation_retrieve", 1, _with("created_at", 2)),
    ("conversation.update", "lifecycle", "conversation_update", 1, _with("metadata", {})),
    ("conversation.items", "lifecycle", "conversation_items_list", 1, _with("data", [])),
    ("conversation.delete", "lifecycle", "conversation_delete", 1, _with("deleted", False)),
    ("conversation.items.create", "items", "conversation_items_create", 1, _with("data", [])),
    ("conversation.items.order", "items", "conversation_items_list", 1, lambda a: {**a, "data": a["data"][::-1]}),
    ("conversation.items.limit", "items", "conversation_items_list", 2, _with("has_more", False)),
    ("conversation.items.last_id", "items", "conversation_items_list", 2, _with("last_id", "msg_other")),
    ("conversation.items.after", "items", "conversation_items_list", 3, _with("has_more", True)),
    ("conversation.items.retrieve", "items", "conversation_item_retrieve", 1, _with("id", "msg_other")),
    ("conversation.items.delete", "items", "conversation_item_delete", 1, _with("id", "conv_other")),
    ("conversation.echo", "turns", "create", 1, _with("conversation", None)),
    ("conversation.append", "turns", "conversation_items_list", 1, _with("data", [])),
    # parallel creates: one item lost (a lost update), then two requests' items interleaved
    ("conversation.concurrency.lost", "concurrent_items", "conversation_items_list", 1,
     lambda a: {**a, "data": a["data"][:4] + a["data"][5:]}),
    ("conversation.concurrency.order", "concurrent_items", "conversation_items_list", 1,
     lambda a: {**a, "data": a["data"][:2] + [a["data"][3], a["data"][2]] + a["data"][4:]}),
]


@pytest.mark.parametrize(("rule", "check", "method", "nth", "fault"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_check_catches_its_fault(rule: str, check: str, method: str, nth: int, fault: Any) -> None:
    test = getattr(suite, f"test_{check}")
    with pytest.raises(ProtocolFailure) as caught:
        test(Stand_in(method, nth, fault), _case(check))
    assert [f.rule for f in caught.value.findings] == [rule]


@pytest.mark.parametrize("check", sorted({f[1] for f in FAULTS} | {"bad_parameters"}))
def test_the_correct_api_passes_every_check(check: str) -> None:
    getattr(suite, f"test_{check}")(Stand_in(), _case(check))


def test_an_error_naming_another_parameter_is_caught() -> None:
    stand_in = Stand_in()
    stand_in.error = lambda call, status: {"error": {"param": "model"}}  # type: ignore[method-assign]
    with pytest.raises(ProtocolFailure) as caught:
        suite.test_bad_parameters(stand_in, _case("bad_parameters"))
    assert [f.rule for f in caught.value.findings] == ["error.param"]
