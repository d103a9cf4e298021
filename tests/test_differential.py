"""Differential runs end to end (issue 15 item 4): the real suite with ``--compare-with``.

Every router here is the real reference router over the same recorded model traffic
(tests/deviants.py, on its own fresh store), so both sides of a comparison get the same model
answers and any difference is the gateway's:
- the router against a second router: the whole suite but the ``clients`` profile (whose
  tests drive real clients through a proxy, and are not compared) shows zero differences;
- the router with one injected deviation (``usage_chat_names``: usage keeps the Chat Completions
  names) against the plain router shows that deviation and nothing else: the six renamed or lost
  usage fields of JSON answers, and where the gateway's test failed on it (``schema.response``),
  the exchanges it then never made, as one ``stopped`` difference.

The suite runs in this process (tests/inprocess.py), as the deviation tests' runs do: as a pytester
subprocess each run paid a new interpreter, pytest's start and the SDK's import (the module 14.7 s
of CPU that way, 10.1 s this way).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.diff import Difference
from fixtures.report.model import Run, read_results
from fixtures.targets import Process
from inprocess import run_pytest
from test_deviations import MODEL, PLUGINS, PROFILES, PROVIDERS, REPO, start_deviant


RUN_GUARD_S = 120  # a stalled case is failed here (pytest-timeout): a hang guard, not a speed target
NOT_COMPARED = "not clients"  # tests without a conformance session (real clients) are not compared
DEVIATION = "usage_chat_names"
SELECTED = "core or stateful or background or streaming or websocket"  # the deviant run's profiles
# What usage_chat_names changes: input/output_tokens (and their details) gone, Chat names added.
RENAMED_USAGE = {("field_dropped", "$.usage.input_tokens"), ("field_dropped", "$.usage.output_tokens"),
                 ("field_dropped", "$.usage.input_tokens_details"),
                 ("field_dropped", "$.usage.output_tokens_details"),
                 ("field_added", "$.usage.prompt_tokens"), ("field_added", "$.usage.completion_tokens")}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Process]:
    """The plain router: the upstream of every comparison here."""
    process = start_deviant("none")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def gateway(request: pytest.FixtureRequest) -> Iterator[Process]:
    """The router under test: plain (``none``) or with one deviation, per the ``gateway`` parameter."""
    process = start_deviant(request.param)
    try:
        yield process
    finally:
        process.stop()


def run_differential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gateway: str,
                     upstream: str, *selection: str) -> tuple[pytest.RunResult, Path]:
    """The real suite against ``gateway`` compared with ``upstream``, in this process
    (tests/inprocess.py); its output and results file."""
    informational = ", ".join(f"{p}: capability is not under test here" for p in PROFILES)
    providers = tmp_path / "providers.yaml"
    providers.write_text(PROVIDERS.format(base_url=gateway, model=MODEL, informational=informational))
    results = tmp_path / "results.jsonl"
    result = run_pytest(
        [str(REPO / "suites"), f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"),
         *PLUGINS, "--providers-file", str(providers), "--provider", "deviant", "--compare-with", upstream,
         "--results", str(results), "-o", f"timeout={RUN_GUARD_S}", *selection],
        tmp_path / "run", monkeypatch)
    return result, results


def compared(run: Run) -> list[tuple[str, str, list[Difference]]]:
    """(test key, outcome, differences) of every compared test of a read results file."""
    return [(r.key, r.outcome, [Difference.from_dict(d) for d in r.differences])
            for r in run.results if r.differences is not None]


@pytest.mark.parametrize("gateway", ["none"], indirect=True)
def test_the_router_against_itself_shows_no_difference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       gateway: Process, upstream: Process) -> None:
    result, results = run_differential(tmp_path, monkeypatch, gateway.base_url, upstream.base_url,
                                       "-m", NOT_COMPARED)
    output = "\n".join(result.outlines)
    assert result.ret == pytest.ExitCode.OK, output[-4000:]
    run = read_results(results)  # once: reading validates every line against the file's schema
    tests = compared(run)
    ran = [r for r in run.results if r.outcome != "skipped" and r.family != "clients"]
    assert len(tests) == len(ran) > 100, output[-4000:]  # every test that ran was compared
    assert [(key, d) for key, _, d in tests if d] == []
    assert f"{len(tests)} test(s) compared, 0 with differences, 0 difference(s)" in output


@pytest.mark.parametrize("gateway", [DEVIATION], indirect=True)
def test_a_deviant_router_shows_exactly_its_deviation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      gateway: Process, upstream: Process) -> None:
    # Families with JSON answers (which the deviation edits) and streams (which it leaves alone).
    # The client scenarios these profiles also mark are left out, as above: they are never
    # compared, and starting their real clients took 15 of the run's 24 s.
    result, results = run_differential(tmp_path, monkeypatch, gateway.base_url, upstream.base_url,
                                       "-m", f"({SELECTED}) and {NOT_COMPARED}")
    output = "\n".join(result.outlines)
    tests = compared(read_results(results))
    assert tests, output[-4000:]
    found = [d for _, _, differences in tests for d in differences]
    usage = {(d.kind, d.path) for d in found if d.kind != "stopped"}
    assert usage == RENAMED_USAGE, output[-4000:]  # all six, and no other path or kind
    for key, outcome, differences in tests:
        stops = [d for d in differences if d.kind == "stopped"]
        # A test stops early only on the gateway, only after the deviation showed, only on its rule.
        assert all(d.gateway == "stopped: schema.response" for d in stops), (key, stops)
        assert not stops or differences.index(stops[0]) > 0, (key, differences)
        assert (outcome == "failed") == bool(differences), (key, outcome, differences)
    assert "differences from the upstream" in output and "$.usage.prompt_tokens: field_added" in output
