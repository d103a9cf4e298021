"""The suite catches every non-stream DESIGN.md §5 deviation (tests/deviants.py), test by test.

Each deviant router is the real reference router over recorded model traffic with one injected
deviation, served from a thread. The real suite runs the cases named in ``CAUGHT_BY`` against it,
in this process (tests/inprocess.py); every one must fail (not error), and the output must name
the problem. The control runs all those cases against the router with no deviation and requires
them all to pass, so each failure comes from the deviation alone (the parallel conversation case also on Postgres, the other store).
Capability checks are informational for the ``deviant`` provider: only protocol findings can
fail a case here.

Images silently ignored and a chain's context dropped show only in the model's answer, and a
changed model request has no recording to replay: test_deviations_context.py catches those two
against a content-aware stand-in model. Streaming deviations are proven in test_grammar.py.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import pg
from deviants import DEVIATIONS, NO_DEVIATION, build_app
from fixtures.processes import ServerThread
from fixtures.targets import BACKEND_CASSETTES
from inprocess import run_pytest
from reference_impl.app import RouterConfig

REPO = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"
REPLAY = BACKEND_CASSETTES / "local" / MODEL
RUN_GUARD_S = 120  # each case of a run fails past this (pytest-timeout): a hang guard, not a speed target
# A suite run loads only the plugins it needs: autoloading every installed plugin (hypothesis,
# schemathesis…) costs seconds per run, and there is one run per deviation.
PLUGINS = ("-p", "fixtures.plugin", "-p", "pytest_timeout")
# The recordings were made with the local provider's request_defaults; a matching provider
# sends the same requests, so every backend call is found in the recordings.
PROVIDERS = """
providers:
  deviant:
    description: the reference router with at most one injected deviation
    base_url: {base_url}
    models: [{model}]
    profiles: [core, streaming, stateful, tools, mcp, structured, background, errors, parameters, stateless,
               websocket, compact, input_tokens, clients, conversations]
    context_window: 4096
    informational: {{{informational}}}
    request_defaults: {{temperature: 0}}
"""
PROFILES = ("core", "streaming", "stateful", "tools", "mcp", "structured", "background", "errors",
            "parameters", "stateless", "websocket", "compact", "input_tokens", "clients", "conversations")


@dataclass(frozen=True)
class Catch:
    """Where the suite catches a deviation: a suite file, its cases, and what the failure says."""

    suite: str
    cases: tuple[str, ...]
    says: tuple[str, ...]


CAUGHT_BY: dict[str, Catch] = {
    "previous_response_id_null": Catch("test_core.py", ("previous-response-id-continues-the-conversation",),
                                       ("chain.previous_response_id: expected 'resp_", "got None")),
    "store_ignored": Catch("test_stateful.py", ("a-response-with-store-false-is-not-retrievable",),
                           ("http.status: GET /v1/responses/", "expected 404, got 200")),
    "instructions_carried_over": Catch("test_stateful.py", ("instructions-are-not-carried-over-a-chain",),
                                       ("instructions.carried_over",)),
    "delete_not_deleting": Catch("test_stateful.py", ("a-deleted-response-is-gone",),
                                 ("http.status: GET /v1/responses/", "expected 404, got 200")),
    "unknown_id_500": Catch("test_errors.py", ("an-unknown-response-id-is-not-found",),
                            ("http.status: GET /v1/responses/", "expected 404, got 500")),
    "error_raw_shape": Catch("test_errors.py", ("a-missing-model-is-rejected-naming-model",),
                             ("schema error: $: 'error' is a required property",)),
    "error_param_dropped": Catch("test_errors.py", ("a-wrong-type-temperature-is-rejected-naming-it",),
                                 ("expect.error.param: expected 'temperature', got None",)),
    "null_sampling_fields": Catch("test_core.py", ("sampling-parameters-are-echoed",),
                                  ("expect.echo: response.temperature is None",
                                   "expect.echo: response.top_p is None")),
    "null_tool_fields": Catch("test_core.py", ("a-string-input-gives-a-completed-message",),
                              ("schema response: $.tools: None is not of type 'array'",
                               "schema response: $.tool_choice: None is not one of")),
    "usage_chat_names": Catch("test_core.py", ("usage-counts-add-up",),
                              ("schema response: $.usage: 'input_tokens' is a required property",)),
    "incomplete_reason_length": Catch("test_streaming.py", ("max-output-tokens-makes-a-response-incomplete",),
                                      ("schema response: $.incomplete_details.reason: 'length' is not one of",)),
    "text_format_ignored": Catch("test_structured.py", ("json-schema-output-parses-and-validates",),
                                 ("expect.json_output: the output text is not JSON",)),
    "tool_choice_ignored": Catch("test_tools.py", ("tool-choice-required-forces-a-call",),
                                 ("expect.function_calls: expected at least 1 function_call item(s), got 0",)),
    "mcp_approval_ignored": Catch("test_mcp.py", ("require-approval-always-asks-before-calling",),
                                  ("expect.mcp_approval_request: no approval request for 'add'",
                                   "the tool ran before it was approved")),
    "credentials_echoed": Catch("test_mcp.py", ("mcp-authorization-authenticates-and-is-not-echoed",
                                                "mcp-credentials-are-not-stored"),
                                ("expect.no_secrets", "mcp.credentials_echoed")),
    "cancel_anything_accepted": Catch("test_background.py", ("cancelling-a-finished-response-is-an-error",
                                                             "cancelling-a-foreground-response-is-an-error"),
                                      ("http.status: POST /v1/responses/", "/cancel expected 400", "got 200")),
    "cancel_not_idempotent": Catch("test_background.py", ("cancelling-twice-is-idempotent",),
                                   ("http.status: POST /v1/responses/", "/cancel expected 200, got 400")),
    "background_without_store_accepted": Catch("test_background.py", ("background-without-store-is-rejected",),
                                               ("http.status: POST /v1/responses expected 400, got 200",)),
    # What broke Codex against the router before issue 11: each is caught by a case of its own.
    "client_metadata_rejected": Catch("test_parameters.py", ("a-client-extension-field-is-accepted",),
                                      ("http.status: POST /v1/responses expected 200, got 400",
                                       "client_metadata")),
    "namespace_tool_rejected": Catch("test_tool_forms.py", ("a-namespace-tool-is-called-with-its-namespace",),
                                     ("http.status: POST /v1/responses expected 200, got 400", "namespace")),
    "hosted_tool_unnamed": Catch("test_tool_forms.py", ("a-hosted-web-search-tool-is-run-or-refused-by-name",),
                                 ("hosted_tool.refusal: error.param names no tool",)),
    "function_output_by_name_refused": Catch("test_stateless.py", ("a-function-output-by-name-needs-no-call-id",),
                                             ("http.status: POST /v1/responses expected 200, got 400",
                                              "call_id")),
    "context_overflow_as_failed": Catch("test_parameters.py", ("an-oversized-input-is-a-context-error",),
                                        ("http.status: POST /v1/responses expected 400, got 200",)),
    "logprobs_empty": Catch("test_parameters.py", ("logprobs-come-with-the-text",),
                            ("expect.logprobs: output_text part 0 has logprobs [], expected a non-empty list",)),
    # WebSocket mode (tests/ws_deviants.py): events out of grammar, the not-found code lost, steer untyped.
    "ws_sequence_numbers_dropped": Catch("test_websocket.py", ("websocket-events-follow-the-stream-grammar",),
                                         ("sequence.present",)),
    "ws_not_found_untyped": Catch("test_websocket.py",
                                  ("an-unknown-previous-response-id-is-previous-response-not-found",
                                   "a-failed-continuation-evicts-the-cached-response"),
                                  ("websocket.previous_response_not_found: the error event has code None",
                                   "websocket.cache_evicted")),
    "ws_steer_untyped": Catch("test_websocket.py", ("a-steer-is-accepted-or-refused-with-a-typed-event",),
                              ("websocket.steer: response.steer was not answered with a response.steer.* event",)),
    # Issue 12: compaction content that does not round-trip, and a count that is not the model's.
    "compaction_dropped": Catch("test_compact.py", ("a-compaction-item-carries-the-history-into-a-stateless-turn",),
                                ("compaction.round_trip", "the compacted history did not reach the model")),
    "input_tokens_estimated": Catch("test_input_tokens.py", ("input-tokens-of-a-plain-input-match-its-usage",
                                                             "input-tokens-count-instructions-and-tools"),
                                    ("input_tokens.matches_usage",)),
    # Issue 12: parallel creates on one conversation (tests/conversation_deviants.py).
    "conversation_items_lost_update": Catch("test_conversations.py",
                                            ("parallel-item-creates-on-one-conversation-lose-and-reorder-nothing",),
                                            ("conversation.concurrency.lost", "missing ['Request ")),
    "conversation_items_interleaved": Catch("test_conversations.py",
                                            ("parallel-item-creates-on-one-conversation-lose-and-reorder-nothing",),
                                            ("conversation.concurrency.order", "not together in the order sent")),
}


@dataclass
class Deviant:
    """A deviant router served from a thread of this process: its base URL, and how to stop it."""

    server: ServerThread
    store: tempfile.TemporaryDirectory[str]

    @property
    def base_url(self) -> str:
        """The router's ``/v1`` URL."""
        return f"{self.server.url}/v1"

    def stop(self) -> None:
        """Stop serving and delete the store's folder."""
        self.server.stop()
        self.store.cleanup()


def start_deviant(deviation: str, db: str = "sqlite:///{workdir}/router.sqlite", *,
                  backends: tuple[str, ...] = ()) -> Deviant:
    """tests/deviants.py serving ``deviation`` on a fresh store (a SQLite file in its own folder
    unless ``db`` names another), over ``backends`` if given, else over the recorded model traffic.

    In a thread rather than a process: the router is the same app either way, and a process would
    import it again for every deviation.
    """
    store = tempfile.TemporaryDirectory(prefix="deviant-")
    config = RouterConfig(backends=list(backends), db=db.replace("{workdir}", store.name),
                          replay_dir=None if backends else str(REPLAY))
    server = ServerThread(build_app(deviation, config), name=f"deviant-{deviation}", lifespan="on")
    try:
        server.start()
    except BaseException:
        store.cleanup()
        raise
    return Deviant(server, store)


@pytest.fixture(scope="module")
def router(request: pytest.FixtureRequest) -> Iterator[Deviant]:
    """One router per deviation named by the test's ``router`` parameter, stopped after its tests."""
    deviant = start_deviant(request.param)
    try:
        yield deviant
    finally:
        deviant.stop()


def run_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str,
              catches: list[Catch]) -> pytest.RunResult:
    """The named cases of the real suite against ``base_url``, in this process (tests/inprocess.py)."""
    informational = ", ".join(f"{p}: capability is not under test here" for p in PROFILES)
    providers = tmp_path / "providers.yaml"
    providers.write_text(PROVIDERS.format(base_url=base_url, model=MODEL, informational=informational))
    suites = sorted({str(REPO / "suites" / c.suite) for c in catches})
    selection = " or ".join(sorted({case for c in catches for case in c.cases}))
    return run_pytest(
        [*suites, f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"), *PLUGINS,
         "--providers-file", str(providers), "--provider", "deviant", "-k", selection,
         "-o", f"timeout={RUN_GUARD_S}"],
        tmp_path / "run", monkeypatch)


def assert_all_pass(result: pytest.RunResult, catches: list[Catch]) -> None:
    """The control: every selected case passes against the router without a deviation."""
    output = "\n".join(result.outlines)
    # distinct cases: one case may catch several deviations
    assert result.parseoutcomes().get("passed") == len({case for c in catches for case in c.cases}), output[-4000:]
    assert result.ret == pytest.ExitCode.OK, output[-4000:]


def assert_caught(result: pytest.RunResult, catch: Catch, deviation: str) -> None:
    """Every case of ``catch`` failed (not errored), and the output says what ``catch`` says."""
    output = "\n".join(result.outlines)
    outcomes = result.parseoutcomes()
    # Failed, not errored: the suite judged the answer and blamed it, case by case.
    assert outcomes.get("failed") == len(catch.cases), output[-4000:]
    assert not outcomes.get("passed") and not outcomes.get("errors"), output[-4000:]
    missing = [text for text in catch.says if text not in output]
    assert not missing, f"{deviation}: the failure does not say {missing}:\n{output[-4000:]}"


def test_every_deviation_has_a_catch_and_a_one_line_docstring() -> None:
    assert set(CAUGHT_BY) == set(DEVIATIONS)
    for name, (doc, _) in DEVIATIONS.items():
        assert doc and "\n" not in doc, f"{name}: the docstring must be one line"


@pytest.mark.parametrize("router", [NO_DEVIATION], indirect=True)
def test_the_router_without_deviation_passes_every_selected_case(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, router: Deviant) -> None:
    assert_all_pass(run_suite(tmp_path, monkeypatch, router.base_url, list(CAUGHT_BY.values())),
                    list(CAUGHT_BY.values()))


@pytest.mark.parametrize("router", sorted(CAUGHT_BY), indirect=True)
def test_the_suite_catches_the_deviation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         router: Deviant, request: pytest.FixtureRequest) -> None:
    deviation = request.node.callspec.params["router"]
    catch = CAUGHT_BY[deviation]
    assert_caught(run_suite(tmp_path, monkeypatch, router.base_url, [catch]), catch, deviation)


def test_the_router_on_postgres_passes_the_parallel_conversation_case(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    # The control above runs on SQLite; Postgres locks the conversation row instead of the database,
    # so the parallel creates are judged on it too.
    catches = [CAUGHT_BY["conversation_items_lost_update"]]
    process = start_deviant(NO_DEVIATION, db=pg.fresh_database(request, "the suite on Postgres"))
    try:
        assert_all_pass(run_suite(tmp_path, monkeypatch, process.base_url, catches), catches)
    finally:
        process.stop()
