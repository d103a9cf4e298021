"""Report building from hand-made results files: merge, scores, history, the CLI (no model needed)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixtures.report import build_report
from fixtures.report.__main__ import main
from fixtures.report.history import kind_of
from fixtures.report.merge import MergeError, merge_runs
from fixtures.report.model import RunWriter, TestResult, read_results

CLAIMED = ["core", "streaming", "tools"]
# (test, case, profiles) -> outcome; the same suite for every provider unless a test changes it
BASELINE = {
    ("test_exchange", "a-string-input", ("core",)): "passed",
    ("test_exchange", "instructions-are-followed", ("core",)): "passed",
    ("test_stream", "text-deltas-add-up", ("streaming",)): "passed",
    ("test_stream", "usage-in-terminal-event", ("streaming",)): "failed",
    ("test_tool_call", "required-tool-call", ("tools",)): "passed",
    ("test_mcp", "lists-tools", ("mcp",)): "skipped",
    ("test_exchange", "excluded-case", ("core",)): "xfailed",
}
FAILURE_RULES = ("sequence.contiguous", "schema.response")


def make_result(provider: str, test: str, case: str, profiles: tuple[str, ...], outcome: str,
                *, model: str = "m1") -> TestResult:
    """One test line as the plugin would write it."""
    family = test.removeprefix("test_")
    failing = outcome in ("failed", "errored")
    return TestResult(
        nodeid=f"suites/test_{family}.py::{test}[{provider}/{model}@cassette-{case}]", test=test, case=case,
        family=family, profiles=profiles, provider=provider, model=model, target=f"{provider}/{model}@cassette",
        outcome=outcome, when="call" if failing else None,
        reason={"skipped": f"{provider} does not claim profile mcp", "xfailed": "excluded: no such endpoint"}.get(outcome),
        rules=FAILURE_RULES if failing else (),
        message="fixtures.checks.ProtocolFailure: 2 protocol finding(s)\n  - grammar [sequence.contiguous] event 3 …"
        if failing else None,
        transcript=">>> POST http://cassette.invalid/v1/responses\n<<< 200" if failing else None,
        capability=("capability.text_matches: 'Paris' not found (informational: tiny model)",)
        if outcome == "passed" and case == "instructions-are-followed" else (),
        traffic="cassette", duration=0.5)


def write_run(directory: Path, provider: str, outcomes: dict | None = None, *, model: str = "m1") -> Path:
    """A complete results file for ``provider`` with ``outcomes`` (default: the baseline)."""
    header = {
        "started_at": "2026-05-01T02:00:00+00:00", "provider": provider, "models": [model],
        "targets": [{"id": f"{provider}/{model}@cassette", "provider": provider, "model": model,
                     "display_name": f"{provider.title()} {model}", "mode": "cassette",
                     "description": f"the {provider} target", "profiles": CLAIMED,
                     "informational": {"core": "tiny model"}}],
        "schema_profile": "openai", "argv": ["suites"], "versions": {"openai": "3.54.0"},
    }
    writer = RunWriter(header, [make_result(provider, t, c, p, o, model=model)
                                for (t, c, p), o in (outcomes or BASELINE).items()])
    path = directory / f"results-{provider}-{model}.jsonl"
    writer.write(path, exitstatus=1, interrupted=False, finished_at="2026-05-01T02:10:00+00:00")
    return path


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = write_run(tmp_path, "alpha")
    run = read_results(path)
    assert run.header["provider"] == "alpha" and run.footer["counts"]["passed"] == 4
    written = {r.key: r for r in run.results}
    expected = {(r := make_result("alpha", t, c, p, o)).key: r for (t, c, p), o in BASELINE.items()}
    assert written == expected


def test_merge_of_two_provider_files_scores_claimed_tests_only(tmp_path: Path) -> None:
    second = dict(BASELINE) | {("test_tool_call", "required-tool-call", ("tools",)): "errored"}
    matrix = merge_runs([read_results(write_run(tmp_path, "alpha")),
                         read_results(write_run(tmp_path, "beta", second))])
    assert [c.key for c in matrix.columns] == ["alpha/m1", "beta/m1"]
    assert len(matrix.rows) == len(BASELINE)
    row = "suites/test_tool_call.py::test_tool_call[required-tool-call]"
    assert matrix.cell(row, "alpha/m1").outcome == "passed"
    assert matrix.cell(row, "beta/m1").outcome == "errored"
    alpha, beta = (c.scores for c in matrix.columns)
    # 4 passed, 1 failed; the mcp skip (unclaimed) and the xfail are not scored
    assert (alpha["overall"].rate, alpha["overall"].scored) == (0.8, 5)
    assert beta["overall"].rate == 0.6 and beta["tools"].rate == 0.0
    assert alpha["streaming"].text() == "50% (1/2)" and "mcp" not in alpha


def test_the_same_target_in_two_files_is_refused(tmp_path: Path) -> None:
    first = read_results(write_run(tmp_path / "a", "alpha"))
    second = read_results(write_run(tmp_path / "b", "alpha"))
    with pytest.raises(MergeError, match="alpha/m1@cassette is in both"):
        merge_runs([first, second])


@pytest.mark.parametrize(("before", "after", "kind"), [
    ("passed", "failed", "regression"), ("passed", "errored", "regression"),
    ("failed", "passed", "fix"), ("errored", "passed", "fix"), ("passed", "skipped", "changed"),
    ("failed", "errored", "changed"), (None, "failed", "new"), ("passed", None, "removed"),
    ("passed", "passed", None),
])
def test_kinds_of_change(before: str | None, after: str | None, kind: str | None) -> None:
    assert kind_of(before, after) == kind


def test_one_planted_change_is_exactly_one_regression(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for provider in ("alpha", "beta"):
        write_run(first, provider)
    assert main(["build", str(first)]) == 0
    planted = dict(BASELINE) | {("test_exchange", "a-string-input", ("core",)): "failed"}
    write_run(second, "alpha")
    write_run(second, "beta", planted)
    assert main(["build", str(second), "--previous", str(first)]) == 0
    changes = json.loads((second / "report.json").read_text())["changes"]
    assert changes == [{"row": "suites/test_exchange.py::test_exchange[a-string-input]", "column": "beta/m1",
                        "kind": "regression", "before": "passed", "after": "failed"}]
    report = (second / "REPORT.md").read_text()
    assert "**Regressions** (1):" in report and "**Fixes** (0)" in report
    assert "| `suites/test_exchange.py::test_exchange[a-string-input]` | pass | **FAIL** ↓ |" in report
    assert report.count("↓") == 2  # the legend and the one cell
    assert "-20.0 pts" in report  # beta overall 80% -> 60%
    assert "1 regression(s), 0 fix(es)" in capsys.readouterr().out


def test_rebuilding_the_same_results_shows_no_change(tmp_path: Path) -> None:
    write_run(tmp_path / "one", "alpha")
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    built = build_report(tmp_path / "two", previous=tmp_path / "one")
    assert built.history is not None and built.history.changes == []
    assert all(d == 0 for d in built.history.deltas["alpha/m1"].values())


def test_merge_command_copies_checked_files_and_builds(tmp_path: Path) -> None:
    a = write_run(tmp_path / "machine-a", "alpha")
    b = write_run(tmp_path / "machine-b", "beta")
    out = tmp_path / "merged"
    assert main(["merge", str(a), str(b), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("results-*.jsonl")) == ["results-alpha-m1.jsonl", "results-beta-m1.jsonl"]
    report = (out / "REPORT.md").read_text()
    assert "| test | alpha/m1 | beta/m1 |" in report
    assert "| `suites/test_stream.py::test_stream[usage-in-terminal-event]` | alpha/m1 | failed | " \
           "`sequence.contiguous`, `schema.response` |" in report
    html = (out / "report.html").read_text()
    assert "<script src" not in html and "<link" not in html and "http://" not in html.split("<script")[0]


def test_merge_refuses_a_truncated_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_run(tmp_path, "alpha")
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    assert main(["merge", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "cut short" in capsys.readouterr().err
    assert not (tmp_path / "out" / path.name).exists()
