"""The clients profile catches deviations that break real clients, naming the client and scenario.

Each deviant router (tests/deviants.py, and tests/client_deviants.py for those only clients show) is
the real router over recorded model traffic with one injected deviation; the real suite's client
cases run against it (the suite in this process, each client in its own) and must fail, their
output naming the client, its scenario and the finding or the client's own error. The control runs
the same cases against the router without a deviation and requires them all to pass. The clients
must be installed (``make clients``, which ``make test`` runs first).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client_deviants import CLIENT_DEVIATIONS
from fixtures.clients.install import is_installed
from fixtures.clients.registry import CLIENTS
from test_deviations import Catch, Deviant, assert_all_pass, assert_caught, run_suite, start_deviant

CAUGHT_BY: dict[str, Catch] = {
    # The Agents SDK and LangChain force a call with tool_choice required; a gateway that ignores
    # it leaves them with a message where their tool loop expected a call.
    "tool_choice_ignored": Catch("test_clients.py", ("openai-agents-makes-a-function-tool-round-trip",
                                                     "langchain-calls-a-bound-tool"),
                                 ("in openai-agents scenario tool-round-trip", "client.error: openai-agents",
                                  "in langchain scenario bound-tools", "client.error: langchain")),
    # Chat Completions usage names: the clients cope, the wire check names the exchange.
    "usage_chat_names": Catch("test_clients.py", ("langchain-invokes-a-turn",),
                              ("in langchain scenario invoke", "exchange #1 POST /v1/responses",
                               "schema response: $.usage")),
    # The Agents SDK sends include on every turn, an empty list too: refused, its first turn fails.
    "include_rejected": Catch("test_clients.py", ("openai-agents-runs-a-plain-turn",),
                              ("in openai-agents scenario plain", "client.error: openai-agents plain exited 1",
                               "Unknown parameter: 'include'")),
    # Both tool loops send the call and its output back in one input, without previous_response_id.
    "function_output_needs_previous_response": Catch(
        "test_clients.py", ("openai-agents-makes-a-function-tool-round-trip", "langchain-calls-a-bound-tool"),
        ("in openai-agents scenario tool-round-trip", "client.error: openai-agents tool-round-trip exited 1",
         "in langchain scenario bound-tools", "client.error: langchain bound-tools exited 1",
         "exchange #2 POST /v1/responses answered 400",
         "No tool call found for function call output with call_id call_")),
    # Without response.completed the Agents SDK and the SDK's stream helper have no final response
    # and raise; LangChain keeps the streamed text and ends quietly, so only the wire check names it.
    "stream_without_terminal_event": Catch(
        "test_clients.py", ("openai-agents-streams-a-turn", "langchain-streams-a-turn",
                            "openai-sdk-streams-to-a-final-response"),
        ("in openai-agents scenario streamed", "ModelBehaviorError: Model did not produce a final response!",
         "in langchain scenario stream", "[lifecycle.terminal_missing]",
         "exchange #1 POST /v1/responses: the stream ended without a terminal event",
         "in openai-sdk scenario stream-final-response",
         "RuntimeError: Didn't receive a `response.completed` event.")),
}
NEEDED = ("openai-agents", "langchain")


@pytest.fixture(scope="module")
def router(request: pytest.FixtureRequest) -> Iterator[Deviant]:
    """One deviant router per ``router`` parameter, stopped after its tests."""
    missing = [name for name in NEEDED if not is_installed(CLIENTS[name])]
    if missing:
        pytest.skip(f"the clients {', '.join(missing)} are not installed: run `make clients`")
    deviant = start_deviant(request.param)
    try:
        yield deviant
    finally:
        deviant.stop()


def test_every_client_deviation_has_a_catch_and_a_one_line_docstring() -> None:
    assert set(CLIENT_DEVIATIONS) <= set(CAUGHT_BY), set(CLIENT_DEVIATIONS) - set(CAUGHT_BY)
    for name, (doc, _) in CLIENT_DEVIATIONS.items():
        assert doc and "\n" not in doc, f"{name}: the docstring must be one line"


@pytest.mark.parametrize("router", ["none"], indirect=True)
def test_the_clients_pass_against_the_router_without_deviation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, router: Deviant) -> None:
    catches = list(CAUGHT_BY.values())
    assert_all_pass(run_suite(tmp_path, monkeypatch, router.base_url, catches), catches)


@pytest.mark.parametrize("router", sorted(CAUGHT_BY), indirect=True)
def test_the_clients_profile_catches_the_deviation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   router: Deviant, request: pytest.FixtureRequest) -> None:
    deviation = request.node.callspec.params["router"]
    assert_caught(run_suite(tmp_path, monkeypatch, router.base_url, [CAUGHT_BY[deviation]]),
                  CAUGHT_BY[deviation], deviation)
