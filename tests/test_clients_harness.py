"""The harness side of the clients profile: the capturing proxy, running a scenario, judging it.

Test doubles stand in for the clients and the target here (a scripted upstream, a tiny scenario
script); the real clients run in suites/test_clients.py and tests/test_deviations_clients.py.
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from fixtures.capture import Exchange
from fixtures.clients.install import is_installed
from fixtures.clients.proxy import CapturingProxy
from fixtures.clients.registry import CLIENTS, RUNNERS, Client
from fixtures.clients.run import ClientRun, judge_run, run_scenario
from fixtures.findings import rule_ids
from fixtures.processes import ServerThread

pytestmark = pytest.mark.unit
SSE = (b'event: response.created\ndata: {"type":"response.created"}\n\n'
       b'event: response.completed\ndata: {"type":"response.completed"}\n\n')


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "query": str(request.url.query),
                         "auth": request.headers.get("authorization"), "body": await request.json()})


async def stream(request: Request) -> StreamingResponse:
    async def frames():
        for frame in SSE.split(b"\n\n")[:-1]:
            yield frame + b"\n\n"
    return StreamingResponse(frames(), media_type="text/event-stream")


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        kind = json.loads(text)["type"]
        await websocket.send_text(json.dumps({"type": "response.created", "for": kind}))
        await websocket.send_text(json.dumps({"type": "response.completed", "for": kind}))


@pytest.fixture(scope="module")
def upstream():
    app = Starlette(routes=[Route("/v1/echo", echo, methods=["POST"]), Route("/v1/stream", stream),
                            WebSocketRoute("/v1/responses", socket)])
    with ServerThread(app) as server:
        yield server.url + "/v1"


def test_the_proxy_forwards_unchanged_and_records_without_credentials(upstream: str) -> None:
    with CapturingProxy(upstream) as proxy:
        answer = httpx2.post(proxy.base_url + "/echo?x=1", json={"a": 1},
                             headers={"authorization": "Bearer sk-secret-value"})
    assert answer.json() == {"path": "/v1/echo", "query": "x=1", "auth": "Bearer sk-secret-value",
                             "body": {"a": 1}}
    [exchange] = proxy.exchanges
    assert (exchange.method, exchange.path, exchange.status, exchange.request_json) == (
        "POST", "/v1/echo", 200, {"a": 1})
    assert exchange.complete and json.loads(exchange.body)["body"] == {"a": 1}
    assert "sk-secret-value" not in json.dumps(exchange.request_headers)


def test_the_proxy_records_each_sse_frame_with_its_arrival(upstream: str) -> None:
    with CapturingProxy(upstream) as proxy:
        assert httpx2.get(proxy.base_url + "/stream").content == SSE
    [exchange] = proxy.exchanges
    assert [f.event for f in exchange.frames] == ["response.created", "response.completed"]
    assert all(f.received_at is not None for f in exchange.frames)


def _exchange(status: int, body: dict, *, url: str = "http://t/v1/responses", request: dict | None = None) -> Exchange:
    exchange = Exchange("POST", url, request or {"input": "hi"}, {}, status=status,
                        headers={"content-type": "application/json"}, body=json.dumps(body).encode())
    exchange.complete = True
    return exchange


ERROR = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}


def test_a_retried_failure_and_an_error_status_are_findings() -> None:
    run = ClientRun("agents", "plain", 0, "", "", 1.0, 60.0,
                    [_exchange(500, ERROR), _exchange(500, ERROR)])
    findings = judge_run(run, dialect="openai")
    assert rule_ids(findings) == ("client.retry", "client.error_status")
    assert "exchange #2 POST /v1/responses repeats #1" in findings[0].message


def test_a_client_that_fails_or_hangs_is_named_with_its_log() -> None:
    failed = judge_run(ClientRun("langchain", "invoke", 1, "", "Traceback\nValueError: no", 1.0, 60.0), dialect="openai")
    assert rule_ids(failed) == ("client.error",)
    assert "langchain invoke exited 1" in failed[0].message and "ValueError: no" in failed[0].message
    hung = judge_run(ClientRun("codex", "exec", None, "", "waiting", 60.0, 60.0), dialect="openai")
    assert rule_ids(hung) == ("client.timeout",) and "within 60 s" in hung[0].message


def test_a_wrong_answer_gets_the_suites_schema_findings() -> None:
    run = ClientRun("agents", "plain", 0, "", "", 1.0, 60.0, [_exchange(200, {"id": "resp_1"})])
    assert any(rule.startswith("schema.") for rule in rule_ids(judge_run(run, dialect="openai")))


def test_run_scenario_stops_a_hanging_client_and_keeps_its_log(tmp_path: Path, upstream: str) -> None:
    script = tmp_path / "hang.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time, urllib.request
        urllib.request.urlopen(urllib.request.Request(os.environ["RC_BASE_URL"] + "/echo",
                               data=b'{"input": "hi"}', headers={"content-type": "application/json"}))
        print("sent with key", os.environ["RC_API_KEY"], file=sys.stderr, flush=True)
        time.sleep(60)
    """))
    client = Client("hanger", None, None, "harness", str(script), ("hang",), "a test double")
    run = run_scenario(client, "hang", base_url=upstream, model="m", api_key="sk-test-key-123", timeout_s=3)
    assert run.status is None and len(run.exchanges) == 1
    assert "sent with key" in run.log and "sk-test-key-123" not in run.log


def test_the_proxy_relays_a_websocket_one_exchange_per_client_message(upstream: str) -> None:
    from websockets.sync.client import connect

    with CapturingProxy(upstream) as proxy:
        with connect(proxy.base_url.replace("http", "ws") + "/responses") as ws:
            for kind in ("response.create", "response.create"):
                ws.send(json.dumps({"type": kind}))
                assert [json.loads(ws.recv())["type"] for _ in range(2)] == ["response.created", "response.completed"]
    first, second = proxy.exchanges
    assert first.websocket and first.request_json == {"type": "response.create"} and first.complete
    assert [f.json()["type"] for f in second.frames] == ["response.created", "response.completed"]


def _module_file(root: Path, module: str) -> bool:
    """Whether ``module`` is a package, a source module or an extension module under ``root``."""
    *package, name = module.split(".")
    folder = root.joinpath(*package)
    return ((folder / name / "__init__.py").is_file() or (folder / f"{name}.py").is_file()
            or any(folder.glob(f"{name}.*.so")))


@pytest.mark.parametrize("name", [name for name, client in CLIENTS.items() if client.preload])
def test_every_module_a_client_preloads_is_in_its_environment(name: str) -> None:
    # A zygote that cannot import one of them does not start, and every run of that client falls
    # back to a fresh interpreter without a word: only slower. Looked up on disk, not imported.
    client = CLIENTS[name]
    if not is_installed(client):
        pytest.skip(f"{name} is not installed here: run `make clients`")
    roots = ([Path(p) for p in sys.path if p] if client.runs_with == "harness"
             else list((client.home / "venv" / "lib").glob("python3*/site-packages")))
    roots.append(RUNNERS)  # the zygote runs from there, as the scripts do
    missing = [module for module in client.preload
               if not any(_module_file(root, module) for root in roots)]
    assert len(roots) > 1 and not missing, f"{name} preloads {missing}, which its environment lacks"
