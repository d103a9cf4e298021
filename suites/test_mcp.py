"""Server-side MCP tools against the harness's real MCP server (cases in cases/mcp.yaml)."""
from __future__ import annotations

import json

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import require
from fixtures.secrets import holds_credential
from fixtures.session import Conformance


@pytest.mark.parametrize("case", cases_for("mcp", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """Listing, calls, approvals and auth, judged on the mcp_* items and events."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("mcp", "approval_round_trip"))
def test_approval_round_trip(conformance: Conformance, case: Case) -> None:
    """An approval request, approved on the chain, runs the call."""
    request = conformance.request_of(case)
    first = conformance.ok(conformance.create(request))
    approvals = [i for i in first["output"] if i.get("type") == "mcp_approval_request"]
    require(approvals, "mcp.approval", "no mcp_approval_request in the output",
            got=[i["type"] for i in first["output"]])
    follow = {"previous_response_id": first["id"], "tools": request["tools"],
              "input": [{"type": "mcp_approval_response", "approval_request_id": approvals[0]["id"],
                         "approve": True}]}
    exchange = conformance.create(follow)
    response = conformance.ok(exchange)
    calls = [i for i in response["output"] if i.get("type") == "mcp_call"]
    require(calls and not calls[0].get("error"), "mcp.approval", "the approved call did not run",
            got=response["output"])
    conformance.capability(case, response, follow, exchange)


@pytest.mark.parametrize("case", cases_for("mcp", "credentials_not_stored"))
def test_credentials_not_stored(conformance: Conformance, case: Case) -> None:
    """Neither the create answer nor the stored copy holds the MCP credential."""
    request = conformance.request_of(case)
    token = conformance.bindings["mcp_token"]
    answer = conformance.create(request)
    # an error answer that quotes the credential leaks it too, so this comes before the status
    require(not holds_credential(answer.body.decode("utf-8", "replace"), token), "mcp.credentials_echoed",
            f"{answer.method} {answer.path} returns the MCP credential (status {answer.status})")
    created = conformance.ok(answer)
    stored = conformance.client.retrieve(created["id"])
    conformance.ok(stored)
    for exchange in conformance.transcript.exchanges:
        require(not holds_credential(exchange.body.decode("utf-8", "replace"), token), "mcp.credentials_echoed",
                f"{exchange.method} {exchange.path} returns the MCP credential")
    require(token not in json.dumps(created), "mcp.credentials_echoed", "the create answer holds it")
