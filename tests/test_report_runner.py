"""The report runner: what it plans, the pytest command it builds, and one real run end to end."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fixtures.report import runner
from fixtures.report.__main__ import main
from fixtures.report.model import read_results

PROVIDERS = """
providers:
  toy:
    base_url: http://127.0.0.1:9/v1
    models: [m1]
    profiles: [core]
  duo:
    base_url: http://127.0.0.1:9/v1
    models: [a/b, c]
    profiles: [core]
"""
ONE_TEST = "test_core and test_exchange and a-string-input"


@pytest.fixture
def providers_file(tmp_path: Path) -> Path:
    """A providers file with an unreachable one-model target and a two-model one."""
    path = tmp_path / "providers.yaml"
    path.write_text(PROVIDERS)
    return path


def test_plan_names_files_per_provider_and_model(providers_file: Path, tmp_path: Path) -> None:
    planned = runner.plan(["toy", "duo"], tmp_path, providers_file=providers_file)
    assert [(p.provider, p.model, p.results.name, p.junit.name) for p in planned] == [
        ("toy", "m1", "results-toy-m1.jsonl", "junit-toy.xml"),
        ("duo", "a/b", "results-duo-a-b.jsonl", "junit-duo-a-b.xml"),
        ("duo", "c", "results-duo-c.jsonl", "junit-duo-c.xml"),
    ]
    assert all(p.skip_reason is None for p in planned)


def test_offline_without_cassettes_is_skipped_with_the_record_command(providers_file: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    planned = runner.plan(["toy"], tmp_path, offline=True, providers_file=providers_file)
    assert "--provider toy --model m1 --record-mode rewrite" in str(planned[0].skip_reason)
    code = main(["run", "--providers", "toy", "--providers-file", str(providers_file), "--offline",
                 "--out", str(tmp_path / "out")])
    assert code == 3 and "nothing to report" in capsys.readouterr().err


def test_an_unknown_provider_is_a_usage_error(providers_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--providers", "nope", "--providers-file", str(providers_file),
                 "--out", str(tmp_path)]) == 2
    assert "unknown provider 'nope'" in capsys.readouterr().err


def test_the_command_asks_for_every_output(providers_file: Path, tmp_path: Path) -> None:
    planned = runner.plan(["toy"], tmp_path, providers_file=providers_file)[0]
    args = runner.command(planned, tmp_path, workers=2, offline=True, extra=["-k", "core"],
                          providers_file=providers_file)
    joined = " ".join(args)
    for part in (f"--results {planned.results}", f"--junitxml {planned.junit}",
                 f"--alluredir {tmp_path / 'allure-results'}", "--record-mode none", "-n 2",
                 "-p fixtures.results", f"--providers-file {providers_file}", "-k core"):
        assert part in joined


def test_a_run_writes_results_junit_allure_and_the_report(providers_file: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code = main(["run", "--providers", "toy", "--providers-file", str(providers_file), "--out", str(out),
                 "--", "-k", ONE_TEST, "-p", "no:cacheprovider"])
    assert code == 0, capsys.readouterr().out[-3000:]
    progress = capsys.readouterr().out
    assert "[1/1 toy/m1]" in progress and "toy/m1: score 0% (0/1)" in progress
    run = read_results(out / "results-toy-m1.jsonl")
    (result,) = run.results
    assert (result.outcome, result.rules) == ("errored", ("http.status", "transport"))
    assert [f["rule"] for f in result.findings] == ["http.status", "transport"]  # kept for root causes
    assert result.transcript and ">>> POST http://127.0.0.1:9/v1/responses" in result.transcript
    suite = ET.parse(out / "junit-toy.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("1", "1")
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    assert [r["status"] for r in results] == ["failed"]
    assert [a["name"] for a in results[0]["attachments"]] == ["wire transcript"]
    assert "| `suites/test_core.py::test_exchange[a-string-input-gives-a-completed-message]` | **ERROR** |" \
        in (out / "REPORT.md").read_text()
