"""The pytest plugin end to end (pytester): usage errors, profile skips, exclusions, the gate."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

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


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makefile(".yaml", providers=PROVIDERS)
    pytester.makepyfile(test_toy=TESTS)
    return pytester.runpytest_subprocess("-p", "fixtures.plugin", "-p", "no:cacheprovider", "-rsx",
                                         "--providers-file", "providers.yaml", *args)


def test_profiles_skip_exclude_and_fail_with_reasons(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--provider", "toy")
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*toy does not claim profile mcp*", "*excluded: toy has no such endpoint*"])


def test_the_gate_ignores_failures_outside_its_profiles(pytester: pytest.Pytester) -> None:
    assert run(pytester, "--provider", "toy", "--gate", "core").ret == pytest.ExitCode.OK


def test_the_gate_fails_on_a_gated_profile(pytester: pytest.Pytester) -> None:
    assert run(pytester, "--provider", "toy", "--gate", "core,tools").ret == pytest.ExitCode.TESTS_FAILED


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
def test_misuse_is_a_usage_error(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_a_malformed_providers_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", broken="providers:\n  toy: {models: [m]}\n")
    pytester.makepyfile(test_toy=TESTS)
    result = pytester.runpytest_subprocess("-p", "fixtures.plugin", "--providers-file", "broken.yaml",
                                           "--provider", "toy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*broken.yaml: providers.toy.base_url: required*"])
