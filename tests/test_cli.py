"""The responses-conformance command: help, usage errors, delegation, and real offline runs.

The runs go, from a folder outside the checkout, against targets that need no network: the router
over recorded model traffic (passes) and a closed loopback port (every exchange errors). The
conforming run goes through the installed console script and its child pytest, both real
processes, end to end. The others call ``main`` in this process and run the child's pytest command
here too (tests/inprocess.py): what they check (exit status, output, files) is the same, and each
spared two interpreters and the suite's imports (about 1.5 s of CPU per run).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fixtures.cli
from fixtures.cli import main
from fixtures.report.model import read_results
from inprocess import SUITE_PLUGINS, run_pytest

SCRIPT = Path(sys.executable).with_name("responses-conformance")
ONE_CORE_CASE = "test_exchange and a-string-input"
CLOSED_PORT = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, so the exchange errors
# A bound against a stuck run, not a timing: a loaded 2-core machine needs minutes per run.
RUN_GUARD_S = 300


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script in ``cwd``, bounded in time, output captured."""
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=RUN_GUARD_S)


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``main`` run from ``tmp_path`` with its child pytest run in this process; the folder."""
    def run_child(command: list[str]) -> int:
        # The command must still be a pytest of this interpreter: only where it runs changes.
        assert command[:3] == [sys.executable, "-m", "pytest"], command
        result = run_pytest([*command[3:], *SUITE_PLUGINS], Path.cwd(), monkeypatch)
        # Where a child's output would have gone: the terminal the test's capsys reads.
        print("\n".join(result.outlines))
        print("\n".join(result.errlines), file=sys.stderr)
        return int(result.ret)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fixtures.cli, "_run_child", run_child)
    return tmp_path


def test_help_lists_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "report", "serve", "coverage"):
        assert f"\n    {command} " in out
    for code in ("0    conforms", "1    findings", "2    usage error", "3    internal error", "130  interrupted"):
        assert code in out


def test_run_help_documents_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for option in ("--base-url", "--model", "--api-key", "--provider", "--gate", "--profiles", "--workers",
                   "--results", "--report", "--compare-with", "--compare-api-key", "--compare-model",
                   "Exit status of run:"):
        assert option in out


@pytest.mark.parametrize(("args", "message"), [
    ([], "no target"),
    (["--base-url", CLOSED_PORT], "--base-url needs --model"),
    (["--provider", "local", "--profiles", "core,nope"], "unknown profile(s) nope"),
    (["--provider", "local", "--bogus"], "unrecognized arguments: --bogus"),
    (["--base-url", CLOSED_PORT, "--model", "m", "--compare-with", CLOSED_PORT],
     "--compare-with http://127.0.0.1:9/v1: cannot connect to 127.0.0.1:9"),
    (["--base-url", CLOSED_PORT, "--model", "m", "--compare-with", "ftp://x"], "--compare-with 'ftp://x': give an http(s) URL"),
])
def test_usage_errors_exit_2_naming_the_problem(args: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unknown_provider_is_a_usage_error_from_the_plugin(in_process: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--provider", "nope"])
    out, err = capsys.readouterr()
    assert status == 2, out[-2000:] + err[-2000:]
    assert "unknown provider 'nope'" in out + err
    assert "scores" not in out


def test_coverage_delegates_to_the_coverage_map(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--json"]) == 0
    assert capsys.readouterr().out.lstrip().startswith("{")


def test_report_delegates_to_the_report_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "build", str(tmp_path / "empty")]) == 2  # no results files: its usage error
    assert "results" in capsys.readouterr().err


def test_a_conforming_offline_run_exits_0_with_scores_and_the_report(tmp_path: Path) -> None:
    done = cli(tmp_path, "run", "--provider", "local", "--profiles", "core", "--report", "out",
               "--", "-k", ONE_CORE_CASE, "--backend-mode", "replay", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    (results,) = (tmp_path / "out").glob("results-*.jsonl")
    assert [r.outcome for r in read_results(results).results] == ["passed"]
    assert "  core               100% (1/1)       1       0        0        0" in done.stdout
    assert (tmp_path / "out" / "REPORT.md").is_file() and (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize(("gate", "status"), [("core", 1), ("streaming", 0)])
def test_findings_exit_1_unless_the_gate_leaves_them_out(in_process: Path, gate: str, status: int,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    results = in_process / "r" / "results-closed.jsonl"
    exited = main(["run", "--base-url", CLOSED_PORT, "--model", "m1", "--gate", gate,
                   "--results", str(results), "--", "-k", ONE_CORE_CASE, "-p", "no:cacheprovider"])
    out, err = capsys.readouterr()
    assert exited == status, out[-3000:] + err[-2000:]
    assert [r.outcome for r in read_results(results).results] == ["errored"]
    assert "  core                 0% (0/1)       0       0        1        0" in out


def test_a_selection_matching_nothing_is_a_usage_error(in_process: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--base-url", CLOSED_PORT, "--model", "m1", "--", "-k", "no_such_test_anywhere",
                   "-p", "no:cacheprovider"])
    out, err = capsys.readouterr()
    assert status == 2, out[-2000:] + err[-2000:]
    assert "no test matched the selection" in err


def test_serve_delegates_to_the_router_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    assert "--backend URL" in capsys.readouterr().out


def test_serve_without_the_router_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "reference_impl.__main__", None)  # None makes the import fail
    assert main(["serve", "--embedded"]) == 2
    assert "the reference router is not installed" in capsys.readouterr().err
