"""MCP approvals in a stateless loop: the approval request sent back in the same input counts,
and a call that already ran is not run again (mcp_loop.py)."""
from __future__ import annotations

import asyncio

import pytest

from reference_impl import mcp_loop
from reference_impl.errors import ApiError

REQUEST = {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "calc", "name": "add",
           "arguments": '{"a": 2, "b": 3}'}
APPROVAL = {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True}


class FakeToolset:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def call_tool(self, label: str, name: str, arguments: str) -> dict:
        self.calls.append((label, name, arguments))
        return {"id": "mcp_1", "type": "mcp_call", "server_label": label, "name": name,
                "arguments": arguments, "output": "5"}


def test_an_approval_may_answer_a_request_in_the_same_input():
    mcp_loop.check_approvals([REQUEST, APPROVAL], [])


def test_an_approval_of_nothing_is_still_a_400():
    with pytest.raises(ApiError) as caught:
        mcp_loop.check_approvals([APPROVAL], [])
    assert caught.value.param == "input[0].approval_request_id"


def test_the_approved_call_runs_from_the_sent_history():
    toolset = FakeToolset()
    calls = asyncio.run(mcp_loop._approved_calls(toolset, [REQUEST, APPROVAL], []))
    assert toolset.calls == [("calc", "add", '{"a": 2, "b": 3}')]
    assert calls[0]["approval_request_id"] == "mcpr_1"


def test_an_approval_whose_call_already_ran_is_not_run_again():
    toolset = FakeToolset()
    ran = {"type": "mcp_call", "id": "mcp_0", "approval_request_id": "mcpr_1", "name": "add",
           "server_label": "calc", "arguments": "{}", "output": "5"}
    assert asyncio.run(mcp_loop._approved_calls(toolset, [REQUEST, APPROVAL, ran], [])) == []
    assert toolset.calls == []
