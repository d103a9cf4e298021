"""fixtures.results end to end: outcomes, rules, reasons, scrubbing, xdist, the footer.

One toy run in this process (tests/inprocess.py) serves every test that reads a one-process run:
its results file, its transcripts, its terminal summary, and the side xdist is compared with. Each
of those tests ran its own identical pytester subprocess before (about 1 s of CPU each). The runs
with xdist workers stay pytester subprocesses: their workers are processes anyway, and one of them
kills its worker.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.report.model import MissingFooter, ResultsError, read_results
from fixtures.findings import CapabilityFailure, Finding, ProtocolFailure, findings_of, rule_ids
from fixtures.secrets import scrub
from inprocess import run_pytest

pytest_plugins = ["pytester"]

PROVIDERS = """
providers:
  toy:
    base_url: http://127.0.0.1:9/v1
    api_key_var: TOY_KEY
    models: [m1]
    model_display_names: {m1: Toy One}
    profiles: [core, streaming]
    exclusions:
      m1: [{test: test_excluded, reason: toy has no such endpoint}]
"""
CONFTEST = """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        report.sections.append(("wire transcript",
            ">>> POST http://127.0.0.1:9/v1/responses\\nauthorization: Bearer sk-live-abcdefgh123456\\n"
            + "x" * 7000))
    return report

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")
"""
TESTS = """
import pytest
from fixtures.findings import Finding, ProtocolFailure

@pytest.mark.core
@pytest.mark.parametrize("case", ["plain-text"])
def test_passes(target, case):
    pass

@pytest.mark.streaming
@pytest.mark.parametrize("case", ["broken-stream"])
def test_protocol(target, case):
    raise ProtocolFailure([
        Finding("sequence.contiguous", 3, "sequence_number", "gap", 3, 5),
        Finding("schema.response", message="None is not of type 'object'", path="$.usage")],
        "on POST /v1/responses")

@pytest.mark.core
def test_unreachable(target):
    raise ProtocolFailure([Finding("transport", message="ConnectError: [Errno 111] Connection refused")],
                          "on POST /v1/responses")

@pytest.mark.core
def test_expectation(target):
    raise ProtocolFailure([Finding("expect.status", message="unexpected status", expected="completed",
                                   got="failed")])

@pytest.mark.core
def test_crash(target):
    {}["missing"]

@pytest.mark.core
def test_setup_error(target, broken):
    pass

@pytest.mark.mcp
def test_unclaimed(target):
    pass

@pytest.mark.core
def test_excluded(target):
    pass
"""
EXPECTED = {
    "test_passes": "passed", "test_protocol": "failed", "test_expectation": "failed",
    "test_crash": "errored", "test_setup_error": "errored", "test_unclaimed": "skipped",
    "test_excluded": "xfailed", "test_unreachable": "errored",
}


TOY_KEY = ("TOY_KEY", "toykey-0123456789")  # the API key the toy provider reads (api_key_var)
TOY_OPTIONS = ("-p", "fixtures.plugin", "-p", "fixtures.results", "--providers-file", "providers.yaml",
               "--provider", "toy", "--results", "results.jsonl")


def write_toy(folder: Path) -> None:
    """The toy run's providers file, conftest and tests, in ``folder``."""
    (folder / "providers.yaml").write_text(PROVIDERS)
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "test_toy.py").write_text(TESTS)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pytest.RunResult, Path]:
    """The toy tests run once in this process; its terminal output and results file."""
    folder = tmp_path_factory.mktemp("toy")
    write_toy(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(*TOY_KEY)
        result = run_pytest(list(TOY_OPTIONS), folder, patch)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "\n".join(result.outlines)[-2000:]
    return result, folder / "results.jsonl"


def by_test(path: Path) -> dict:
    return {r.test: r for r in read_results(path).results}


def test_every_outcome_with_its_rules_and_reasons(toy_run: tuple[pytest.RunResult, Path]) -> None:
    _, path = toy_run
    run = read_results(path)
    results = by_test(path)
    assert {name: r.outcome for name, r in results.items()} == EXPECTED
    assert results["test_protocol"].rules == ("sequence.contiguous", "schema.response")
    assert results["test_protocol"].findings[0] == {
        "rule": "sequence.contiguous", "index": 3, "field": "sequence_number", "path": None, "message": "gap",
        "severity": "error", "expected": "3", "got": "5"}
    assert results["test_protocol"].findings[1]["path"] == "$.usage"
    assert results["test_crash"].findings == ()
    assert results["test_protocol"].case == "broken-stream"
    assert results["test_protocol"].profiles == ("streaming",)
    assert results["test_expectation"].rules == ("expect.status",)
    assert results["test_unreachable"].rules == ("transport",)
    assert results["test_unclaimed"].reason == "toy does not claim profile mcp"
    assert results["test_excluded"].reason == "excluded: toy has no such endpoint"
    assert results["test_setup_error"].when == "setup"
    assert "fixture exploded" in results["test_setup_error"].message
    target = run.header["targets"][0]
    assert (target["provider"], target["model"], target["display_name"]) == ("toy", "m1", "Toy One")
    assert target["profiles"] == ["core", "streaming"] and run.header["provider"] == "toy"
    assert run.footer["counts"] == {"passed": 1, "failed": 2, "errored": 3, "skipped": 1, "xfailed": 1}
    assert run.footer["exitstatus"] == 1


def test_the_terminal_summary_ends_with_the_root_causes(toy_run: tuple[pytest.RunResult, Path]) -> None:
    out = "\n".join(toy_run[0].outlines)
    assert "root causes (rules by failing tests; alone: tests only it fails)" in out
    # 5 failing tests: the crash and the setup error carry no findings, each other test one rule set
    assert "toy/m1: (no rule id) fails 2 of 5 failing tests (40%), 2 alone" in out
    assert "toy/m1: sequence.contiguous fails 1 of 5 failing tests (20%), 0 alone" in out


def test_transcripts_are_bounded_and_scrubbed(toy_run: tuple[pytest.RunResult, Path]) -> None:
    transcript = by_test(toy_run[1])["test_protocol"].transcript
    assert transcript.startswith(">>> POST") and "more characters" in transcript
    assert "sk-live-abcdefgh123456" not in transcript and "Bearer REDACTED" in transcript
    assert len(transcript) < 6100


def test_xdist_gives_the_same_file_as_one_process(toy_run: tuple[pytest.RunResult, Path], pytester: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(*TOY_KEY)  # as in the one-process run
    write_toy(pytester.path)
    result = pytester.runpytest_subprocess(*TOY_OPTIONS, "-p", "no:cacheprovider", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2000:]
    single = {k: (r.outcome, r.rules, r.reason) for k, r in by_test(toy_run[1]).items()}
    parallel = {k: (r.outcome, r.rules, r.reason) for k, r in by_test(pytester.path / "results.jsonl").items()}
    assert parallel == single


def test_a_file_without_footer_is_a_truncated_run(tmp_path: Path) -> None:
    lines = [json.dumps({"kind": "header", "format": 1, "started_at": "2026-01-01T00:00:00+00:00",
                         "targets": [], "schema_profile": "openai", "versions": {}})]
    path = tmp_path / "results-x.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MissingFooter, match="cut short"):
        read_results(path)


@pytest.mark.parametrize(("line", "message"), [
    ('{"kind": "test", "nodeid": "x"}', "line 2: .*required"),
    ('{"kind": "footer", "finished_at": "t", "counts": {}, "exitstatus": 0, "interrupted": "no"}',
     r"line 2: \.interrupted"),
    ("not json", "line 2: not JSON"),
])
def test_a_line_breaking_the_schema_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    header = json.dumps({"kind": "header", "format": 1, "started_at": "2026-01-01T00:00:00+00:00",
                         "targets": [], "schema_profile": "openai", "versions": {}})
    path = tmp_path / "results-x.jsonl"
    path.write_text(header + "\n" + line + "\n")
    with pytest.raises(ResultsError, match=message):
        read_results(path)


@pytest.mark.parametrize(("error", "rules"), [
    (ProtocolFailure([Finding("http.status", message="GET /v1/responses/x: {}", expected="200", got=404)]),
     ("http.status",)),
    (ProtocolFailure([Finding("schema.event", 4, "response.created", "bad", path="$.x"),
                      Finding("transport", message="ReadTimeout after 3 events"),
                      Finding("schema.event", 5, "response.in_progress", "bad", path="$.y")]),
     ("schema.event", "transport")),
    (CapabilityFailure([Finding("capability.text_matches", message="'Paris' not found in 'London'")]),
     ("capability.text_matches",)),
    (AssertionError("expect.status: a message that only looks like a rule id"), ()),
    (KeyError("missing"), ()),
], ids=["http-status", "schema-and-transport", "capability", "plain-assert", "crash"])
def test_rule_ids_come_from_the_findings_an_exception_carries(error: BaseException, rules: tuple) -> None:
    assert rule_ids(findings_of(error)) == rules


def test_the_message_is_rendered_from_the_findings() -> None:
    failure = ProtocolFailure([Finding("sequence.contiguous", 3, "sequence_number", "gap", 3, 5),
                               Finding("schema.response", message="bad", path="$.usage")], "on POST /v1/responses")
    assert str(failure).splitlines() == [
        "2 protocol finding(s) on POST /v1/responses:",
        "  - grammar [sequence.contiguous] event 3 sequence_number: gap (expected 3, got 5)",
        "  - schema response: $.usage: bad",
    ]


def test_scrub_hides_credentials_in_every_shape() -> None:
    text = ('Authorization: Bearer abc.def-123\n"api_key": "sk-proj-0123456789abcdef"\n'
            '{"authorization": "Bearer mcp-fixture-token"} token=hunter22 plain words stay')
    cleaned = scrub(text, ("hunter22",))
    for secret in ("abc.def-123", "sk-proj-0123456789abcdef", "mcp-fixture-token", "hunter22"):
        assert secret not in cleaned
    assert cleaned.endswith("plain words stay")


def test_a_crashed_worker_leaves_an_errored_test(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", providers=PROVIDERS)
    pytester.makepyfile(test_crash="""
import os
import pytest

@pytest.mark.core
def test_dies(target):
    os._exit(3)

@pytest.mark.core
def test_lives(target):
    pass
""")
    out = pytester.path / "results.jsonl"
    pytester.runpytest_subprocess("-p", "fixtures.plugin", "-p", "fixtures.results", "-p", "no:cacheprovider",
                                  "--providers-file", "providers.yaml", "--provider", "toy",
                                  "--results", str(out), "-n", "2")
    results = by_test(out)
    assert (results["test_dies"].outcome, results["test_lives"].outcome) == ("errored", "passed")
    assert "crashed" in (results["test_dies"].message or "").lower()
