"""Real clients as conformance evidence (cases in cases/clients.yaml).

Each case runs one scenario of a real, unmodified client (the Agents SDK in Python and in
JavaScript, LangChain, the openai SDK's helpers, Codex CLI), installed by ``make clients`` into its
own environment, against the target through the harness's capturing proxy. It passes only when
the client finished without an error or a retry, and every exchange it made passed the same
schema and grammar checks as the suite's own requests.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fixtures.capture import Transcript
from fixtures.cases import Case, cases_for
from fixtures.clients.install import is_installed, missing_tool
from fixtures.clients.registry import CLIENTS, Client
from fixtures.clients.run import judge_run, run_scenario
from fixtures.findings import fail_on
from fixtures.session import Endpoint
from fixtures.targets import start_router

DEFAULT_SCENARIO_TIMEOUT_S = 300.0
# pytest-timeout's own limit sits above the longest scenario timeout, so that a slow client is
# reported by the harness with its log rather than cut off by pytest.
pytestmark = pytest.mark.timeout(1500)


def _not_runnable(client: Client, target: Endpoint, case: Case, relaunch: bool) -> str | None:
    if target.replayed:
        return "real clients need a live target (or the router over recorded backend traffic); " \
               "this run replays the harness's own cassettes"
    if importlib.util.find_spec("starlette") is None:
        return "not exercised: the clients' capturing proxy needs the `clients` extra " \
               "(pip install 'responses-conformance[clients]')"
    reason = missing_tool(client)
    if reason:
        return f"{client.name} is not exercised: {reason}"
    if not is_installed(client):
        return f"{client.name} is not installed here: run `make clients`"
    if case.params.get("live_only") and target.target.mode == "backend-replay":
        return f"{client.name} runs live only: {case.params['live_only']}"
    if _context_short_by(target, case) and not (relaunch and _can_relaunch(target)):
        how = " (without --no-relaunch-for-context it runs on the router relaunched with that context)" \
            if _can_relaunch(target) else ""
        return (f"{client.name}'s own prompt needs a {case.params['min_context_tokens']}-token context; "
                f"{target.target.id} declares {target.target.context_window} (providers.yaml "
                f"context_window){how}")
    return None


def _context_short_by(target: Endpoint, case: Case) -> int:
    """How many tokens of context the scenario needs beyond the target's declared window."""
    needed, window = case.params.get("min_context_tokens"), target.target.context_window
    return max(0, needed - window) if needed and window else 0


def _can_relaunch(target: Endpoint) -> bool:
    """Whether the harness owns this target and can start it again with a larger context: the
    reference router in front of the live embedded model (its context is a launch option)."""
    return target.target.provider.launch == "router" and target.target.mode == "live"


@contextmanager
def _endpoint_for(target: Endpoint, case: Case) -> Iterator[tuple[str, str]]:
    """(base URL, note) of where the scenario runs: the target itself, or, when its prompt does
    not fit the declared context, the same router relaunched with the context it needs (the
    next power of two, so the model has room to answer) for this scenario only."""
    if not _context_short_by(target, case):
        yield target.base_url, ""
        return
    tokens = 1 << (int(case.params["min_context_tokens"]) - 1).bit_length()
    process = start_router(model=target.target.model, backend="live",
                           provider=target.target.provider.name, context_tokens=tokens)
    try:
        yield process.base_url, f"run on the same router relaunched with a {tokens}-token context"
    finally:
        process.stop()


@pytest.mark.parametrize("case", cases_for("clients", "scenario"))
def test_scenario(request: pytest.FixtureRequest, target: Endpoint, case: Case) -> None:
    """The client finishes its scenario cleanly, and every exchange it made conforms."""
    client = CLIENTS[case.params["client"]]
    reason = _not_runnable(client, target, case, request.config.getoption("relaunch_for_context"))
    if reason:
        pytest.skip(reason)
    with _endpoint_for(target, case) as (base_url, note):
        run = run_scenario(client, case.params["scenario"], base_url=base_url,
                           model=target.target.model, api_key=target.api_key,
                           timeout_s=float(case.params.get("timeout_s", DEFAULT_SCENARIO_TIMEOUT_S)))
    if note:
        request.node.add_report_section("call", "target", note)
    request.node.add_report_section("call", f"{client.name} log", run.log or "(empty)")
    request.node.add_report_section("call", "client exchanges", Transcript(run.exchanges).render())
    fail_on(judge_run(run, dialect=request.config.getoption("schema_dialect")),
            f"in {client.name} scenario {run.scenario} ({len(run.exchanges)} exchanges, {run.seconds:.0f} s)")
