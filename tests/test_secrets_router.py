"""No credential given to the router comes out of it: MCP ``authorization`` and ``headers``, and
the client's own API key, never appear in the SQLite file (read as bytes, WAL included), the
router process's log, its backend recordings, any GET answer, or any SSE event; nor are they
forwarded to the chat backend.

The router runs as a real process (``python -m reference_impl``) over a scripted upstream, with
a bearer-gated MCP server, so the credentials are used for real: the calls succeed only because
the token reached the MCP server. Secrets are fresh random values per run, and every scan is
`fixtures.secrets.scan_text` with them as known secrets (plus its generic key/bearer patterns).

The router has no backend API key option (it sends no credential to its backends), so the key
checked on the backend side is the client's: it must not be passed through.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fixtures.mcp_server import serve_mcp
from fixtures.secrets import scan_text
from fixtures.processes import free_port
from fixtures.targets import Process, start_process
from upstream import DEFAULT_MODEL, Reply, ScriptedUpstream, ServerThread, stream_events

MCP_TOKEN = f"mcp-tok-{secrets.token_hex(12)}"
HEADER_SECRET = f"hdr-secret-{secrets.token_hex(12)}"
CLIENT_KEY = f"sk-client-{secrets.token_hex(16)}"
KNOWN = (MCP_TOKEN, HEADER_SECRET, CLIENT_KEY)
TIMEOUT_S = 30.0
pytestmark = pytest.mark.timeout(120)


class HeaderRecordingUpstream(ScriptedUpstream):
    """A ScriptedUpstream that also keeps the headers of every chat request."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict[str, str]] = []

    async def _chat(self, request: Any) -> Any:
        self.headers.append(dict(request.headers))
        return await super()._chat(request)


class Rig:
    """Upstream, gated MCP server and router process, plus every artefact the flows produced."""

    def __init__(self, upstream: HeaderRecordingUpstream, mcp: Any, router: Process, db: Path, rec: Path) -> None:
        self.upstream, self.mcp, self.router, self.db, self.rec = upstream, mcp, router, db, rec
        self.client = httpx2.Client(base_url=router.base_url, timeout=TIMEOUT_S,
                                    headers={"Authorization": f"Bearer {CLIENT_KEY}"})
        self.answers: dict[str, str] = {}  # what the router sent back, by label
        self.ids: list[str] = []

    def tool(self, *, approval: str = "never", style: str = "authorization", token: str = MCP_TOKEN) -> dict:
        """A ``type: mcp`` tool for the gated server, its credential given in ``style``."""
        tool = {"type": "mcp", "server_label": "calc", "server_url": self.mcp.url, "require_approval": approval}
        if style == "authorization":
            tool["authorization"] = token
        else:
            tool["headers"] = {"Authorization": f"Bearer {token}", "X-Extra-Secret": HEADER_SECRET}
        return tool

    def create(self, label: str, **body: Any) -> httpx2.Response:
        """POST /v1/responses; the answer is kept for scanning."""
        resp = self.client.post("/v1/responses", json={"model": DEFAULT_MODEL, **body})
        self.answers[label] = resp.text
        return resp


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Everything running; torn down in reverse."""
    root = tmp_path_factory.mktemp("secrets")
    upstream = HeaderRecordingUpstream()
    with ServerThread(upstream.app) as up, serve_mcp(token=MCP_TOKEN) as mcp:
        port = free_port()
        db, rec = root / "router.sqlite", root / "backend-recordings"
        router = start_process(["-m", "reference_impl", "--backend", up.url, "--port", str(port),
                                "--db", f"sqlite:///{db}", "--backend-record", str(rec)],
                               port=port, health_path="/health", base_path="")
        rig = Rig(upstream, mcp, router, db, rec)
        try:
            yield rig
        finally:
            rig.client.close()
            router.stop()


ADD_CALL = Reply(tool_calls=[("calc__add", '{"a": 2, "b": 3}')])


def _run_flows(rig: Rig) -> None:
    """Every way a credential travels: sync, streamed, background, approvals, a refused token."""
    rig.upstream.script(ADD_CALL, Reply(text="five"))
    sync = rig.create("sync", input="2+3?", tools=[rig.tool()]).json()
    assert next(i for i in sync["output"] if i["type"] == "mcp_call")["output"] == "5", sync

    rig.upstream.script(ADD_CALL, Reply(text="five"))
    streamed = stream_events(rig.create("stream", input="2+3?", tools=[rig.tool(style="headers")],
                                        stream=True).content)
    assert any(e["type"] == "response.mcp_call.completed" for e in streamed)

    rig.upstream.script(ADD_CALL, Reply(text="five"))
    queued = rig.create("background", input="2+3?", tools=[rig.tool()], background=True).json()
    deadline = time.monotonic() + TIMEOUT_S
    while rig.client.get(f"/v1/responses/{queued['id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the background response did not complete"
        time.sleep(0.05)

    rig.upstream.script(ADD_CALL, Reply(text="five"))
    asked = rig.create("approval-request", input="2+3?", tools=[rig.tool(approval="always")]).json()
    request = asked["output"][-1]
    assert request["type"] == "mcp_approval_request"
    approved = rig.create("approval-response", previous_response_id=asked["id"],
                          tools=[rig.tool(approval="always", style="headers")],
                          input=[{"type": "mcp_approval_response", "approval_request_id": request["id"],
                                  "approve": True}]).json()
    assert next(i for i in approved["output"] if i["type"] == "mcp_call")["output"] == "5", approved

    rig.upstream.script(Reply(text="no tools"))
    refused = rig.create("refused", input="x", tools=[rig.tool(token="wrong-" + MCP_TOKEN)]).json()
    assert "401" in refused["output"][0]["error"]
    rig.ids = [sync["id"], streamed[-1]["response"]["id"], queued["id"], asked["id"], approved["id"],
               refused["id"]]


def _get_answers(rig: Rig) -> dict[str, str]:
    out: dict[str, str] = {}
    for rid in rig.ids:
        out[f"GET {rid}"] = rig.client.get(f"/v1/responses/{rid}").text
        out[f"GET {rid}/input_items"] = rig.client.get(f"/v1/responses/{rid}/input_items").text
    background = rig.ids[2]
    out["GET background stream"] = rig.client.get(f"/v1/responses/{background}",
                                                  params={"stream": "true"}).text
    return out


def test_the_scan_sees_the_secrets_it_looks_for(rig: Rig) -> None:
    """The check is not blind: the request bodies we send do carry every secret."""
    sent = json.dumps([rig.tool(), rig.tool(style="headers"), {"Authorization": f"Bearer {CLIENT_KEY}"}])
    kinds = {f.kind for f in scan_text(sent, known=KNOWN)}
    assert {"known_secret", "api_key", "bearer_token"} <= kinds
    assert sent.count(MCP_TOKEN) and sent.count(HEADER_SECRET) and sent.count(CLIENT_KEY)


def test_no_credential_leaves_the_router(rig: Rig) -> None:
    _run_flows(rig)
    artefacts = {f"answer {k}": v for k, v in rig.answers.items()}
    artefacts.update(_get_answers(rig))
    artefacts["router log"] = rig.router.log_path.read_text(errors="replace")
    for path in sorted(rig.db.parent.glob(rig.db.name + "*")):  # the file, its -wal and -shm
        artefacts[f"store {path.name}"] = path.read_bytes().decode("utf-8", "replace")
    for path in sorted(rig.rec.glob("*.json")):
        artefacts[f"backend recording {path.name}"] = path.read_text()
    artefacts["headers sent to the backend"] = json.dumps(rig.upstream.headers)
    artefacts["bodies sent to the backend"] = json.dumps(rig.upstream.requests)
    assert any(name.startswith("store") for name in artefacts) and any("recording" in n for n in artefacts)
    assert any("mcp_call" in text for name, text in artefacts.items() if name.startswith("store"))

    leaks = [f"{name}: {finding.kind} (line {finding.line})"
             for name, text in artefacts.items() for finding in scan_text(text, known=KNOWN)]
    assert not leaks, "credentials leaked:\n" + "\n".join(leaks)
