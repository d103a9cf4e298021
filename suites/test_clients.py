"""Real clients as conformance evidence (cases in cases/clients.yaml).

Each case runs one scenario of a real, unmodified client (the Agents SDK in Python and in
JavaScript, LangChain, the openai SDK's helpers, Codex CLI), installed by ``make clients`` into its
own environment, against the target through the harness's capturing proxy. It passes only when
the client finished without an error or a retry, and every exchange it made passed the same
schema and grammar checks as the suite's own requests.
"""
from __future__ import annotations

import importlib.util

import pytest

from fixtures.capture import Transcript
from fixtures.cases import Case, cases_for
from fixtures.clients.install import is_installed, missing_tool
from fixtures.clients.registry import CLIENTS, Client
from fixtures.clients.run import judge_run, run_scenario
from fixtures.findings import fail_on
from fixtures.session import Endpoint

DEFAULT_SCENARIO_TIMEOUT_S = 300.0
# pytest-timeout's own limit sits above the longest scenario timeout, so that a slow client is
# reported by the harness with its log rather than cut off by pytest.
pytestmark = pytest.mark.timeout(1500)


def _not_runnable(client: Client, target: Endpoint, case: Case) -> str | None:
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
    needed = case.params.get("min_context_tokens")
    window = target.target.context_window
    if needed and window and window < needed:
        return (f"{client.name}'s own prompt needs a {needed}-token context; "
                f"{target.target.id} declares {window} (providers.yaml context_window)")
    return None


@pytest.mark.parametrize("case", cases_for("clients", "scenario"))
def test_scenario(request: pytest.FixtureRequest, target: Endpoint, case: Case) -> None:
    """The client finishes its scenario cleanly, and every exchange it made conforms."""
    client = CLIENTS[case.params["client"]]
    reason = _not_runnable(client, target, case)
    if reason:
        pytest.skip(reason)
    run = run_scenario(client, case.params["scenario"], base_url=target.base_url,
                       model=target.target.model, api_key=target.api_key,
                       timeout_s=float(case.params.get("timeout_s", DEFAULT_SCENARIO_TIMEOUT_S)))
    request.node.add_report_section("call", f"{client.name} log", run.log or "(empty)")
    request.node.add_report_section("call", "client exchanges", Transcript(run.exchanges).render())
    fail_on(judge_run(run, dialect=request.config.getoption("schema_dialect")),
            f"in {client.name} scenario {run.scenario} ({len(run.exchanges)} exchanges, {run.seconds:.0f} s)")
