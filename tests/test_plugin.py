"""The pytest plugin end to end: usage errors, profile skips, exclusions, the gate.

The toy runs are ``pytest.main`` in this process (tests/inprocess.py), not pytester subprocesses:
each of the twelve paid an interpreter and pytest's start (about 0.35 s of CPU) to run four tests.
They write their files to ``tmp_path``, not through ``pytester``, whose teardown would unload every
module the run imported (tests/inprocess.py says why that breaks later tests).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from inprocess import run_pytest

PROVIDERS = """
providers:
  toy:
    base_url: http://127.0.0.1:9/v1
    models: [m1]
    profiles: [core, tools]
    exclusions:
      m1: [{test: test_excluded, reason: toy has no such endpoint}]
"""
TESTS = """
import pytest

@pytest.mark.core
def test_core_passes(target):
    assert target.target.model == "m1"

@pytest.mark.tools
def test_tools_fails(target):
    assert False, "a tools failure"

@pytest.mark.mcp
def test_unclaimed(target):
    pass

@pytest.mark.core
def test_excluded(target):
    pass
"""


def run_toy(folder: Path, monkeypatch: pytest.MonkeyPatch, providers: str, *args: str) -> pytest.RunResult:
    """pytest with the plugin over the toy tests, in this process from ``folder``."""
    (folder / "test_toy.py").write_text(TESTS)
    return run_pytest(["-p", "fixtures.plugin", "-rsx", "--providers-file", providers, *args], folder, monkeypatch)


def run(folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    (folder / "providers.yaml").write_text(PROVIDERS)
    return run_toy(folder, monkeypatch, "providers.yaml", *args)


def test_profiles_skip_exclude_and_fail_with_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(tmp_path, monkeypatch, "--provider", "toy")
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*toy does not claim profile mcp*", "*excluded: toy has no such endpoint*"])


def test_the_gate_ignores_failures_outside_its_profiles(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(tmp_path, monkeypatch, "--provider", "toy", "--gate", "core").ret == pytest.ExitCode.OK


def test_the_gate_fails_on_a_gated_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(tmp_path, monkeypatch, "--provider", "toy", "--gate", "core,tools").ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(("args", "message"), [
    (["--provider", "nope"], "unknown provider 'nope'; known: toy"),
    (["--gate", "core,telepathy"], "--gate: unknown profile(s) ['telepathy']"),
    (["--base-url", "http://127.0.0.1:9/v1"], "--base-url needs --model"),
    (["--schema-profile", "strictest"], "invalid choice: 'strictest'"),
    (["--provider", "toy", "--compare-with", "http://127.0.0.1:9/v1"],
     "--compare-with http://127.0.0.1:9/v1: cannot connect to 127.0.0.1:9"),
    (["--compare-with", "http://127.0.0.1:9/v1"], "--compare-with needs a live target under test"),
    (["--provider", "toy", "--record-mode", "once", "--compare-with", "http://127.0.0.1:9/v1"],
     "--compare-with cannot be combined with --record-mode"),
], ids=["unknown-provider", "unknown-gate-profile", "base-url-without-model", "unknown-schema-profile",
        "unreachable-upstream", "compare-without-target", "compare-with-cassettes"])
def test_misuse_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 args: list[str], message: str) -> None:
    result = run(tmp_path, monkeypatch, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_a_malformed_providers_file_is_a_usage_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml").write_text("providers:\n  toy: {models: [m]}\n")
    result = run_toy(tmp_path, monkeypatch, "broken.yaml", "--provider", "toy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*broken.yaml: providers.toy.base_url: required*"])
