"""The rule registry and findings as values: undeclared ids are refused, dead rules fail the run,
and a reworded message changes neither a recorded verdict nor a results file's rule ids."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import findings
from fixtures.findings import Finding, ProtocolFailure
from fixtures.profiles import PROFILES
from fixtures.rule_coverage import EMITTED_ENV, dead_rules, newly_exercised
from fixtures.rules import RULES, UNEXERCISED, UndeclaredRule, declared
from inprocess import SUITE_PLUGINS, run_pytest

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parent.parent


def _reworded(self: Finding) -> None:
    """Finding.__post_init__ for the reworded run: another message, the rule still emitted."""
    object.__setattr__(self, "message", "something else went wrong here")
    findings.EMITTED.add(self.rule)


def test_a_finding_of_an_undeclared_rule_is_refused() -> None:
    with pytest.raises(UndeclaredRule, match="'made.up' is not declared in fixtures/rules.py"):
        Finding("made.up", message="a check inventing an id")
    with pytest.raises(UndeclaredRule):
        ProtocolFailure([Finding("schema.responses", message="a typo of schema.response")])


def test_every_rule_has_a_meaning_a_known_profile_and_a_source() -> None:
    for rule in RULES.values():
        assert rule.meaning and rule.profile in PROFILES and rule.source, rule
    assert declared("sequence.contiguous").source == "grammar"
    assert declared("cancel.sticky").profile == "background"


DEAD_TESTS = """
from fixtures.findings import Finding
from fixtures.rules import RULES

def test_emits_some_rules():
    for rule in {emitted}:
        Finding(rule, message="emitted")
"""
PLANT_CONFTEST = """
from fixtures import rules
rules.RULES["planted.dead"] = rules.Rule("planted.dead", "a rule nothing checks", "core", "suite")
"""


def _coverage_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, emitted: str,
                  plant: bool) -> pytest.RunResult:
    monkeypatch.delenv(EMITTED_ENV, raising=False)  # this run owns its own emitted-rules file
    if plant:
        pytester.makeconftest(PLANT_CONFTEST)
    pytester.makepyfile(test_emit=DEAD_TESTS.format(emitted=emitted))
    return pytester.runpytest_subprocess("-p", "fixtures.plugin", "-p", "no:cacheprovider", "--rule-coverage")


def test_a_declared_rule_no_test_emits_fails_the_run(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    result = _coverage_run(pytester, monkeypatch, "[r for r in RULES if r != 'planted.dead']", plant=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*dead rules*", "planted.dead: a rule nothing checks"])
    assert "sequence.contiguous:" not in result.stdout.str()


def test_a_run_emitting_every_rule_passes_the_dead_rule_check(pytester: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    result = _coverage_run(pytester, monkeypatch, "list(RULES)", plant=False)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    assert "dead rules" not in result.stdout.str()


def test_reworded_messages_keep_the_recorded_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay of recorded deviations still matches verdicts.json when no message names a rule.

    Every message is reworded and every finding rendered without its rule id: if anything still
    read rule ids out of text, the verdicts would change. The run is in this process
    (tests/inprocess.py), with Finding patched for its duration only (a subprocess cost 2 s more)."""
    monkeypatch.setattr(Finding, "__post_init__", _reworded)
    monkeypatch.setattr(Finding, "__str__", lambda self: "a finding, reworded")
    monkeypatch.setattr(Finding, "line", lambda self: "a finding, reworded")
    # The class the run will use (the same module: nothing is reloaded in process) is the patched one.
    assert str(Finding("transport", message="m")) == "a finding, reworded"
    assert Finding("transport", message="m").message == "something else went wrong here"
    result = run_pytest(
        [str(REPO / "suites" / "test_tools.py"), str(REPO / "suites" / "test_stateful.py"),
         f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"), *SUITE_PLUGINS,
         "--provider", "llamastack", "--record-mode", "none", "-rx"], tmp_path, monkeypatch)
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK and outcomes.get("xfailed", 0) >= 5, result.stdout.str()[-3000:]
    # the deviations whose ids are expectation and chain findings, not only schema ones
    result.stdout.fnmatch_lines(["*known deviation, recorded live: expect.function_calls, expect.function_name*"])
    result.stdout.fnmatch_lines(["*known deviation, recorded live: chain.previous_response_id*"])
    assert "verdict changed" not in result.stdout.str()


def test_the_known_unexercised_rules_are_declared_and_only_shrink() -> None:
    """UNEXERCISED is a ratchet: declared ids only; not dead while listed; named once emitted."""
    assert UNEXERCISED <= set(RULES)
    listed = sorted(UNEXERCISED)[0]
    assert dead_rules(set()) == sorted(set(RULES) - UNEXERCISED)
    assert listed not in dead_rules(set())
    assert newly_exercised({listed, "sequence.contiguous"}) == [listed]
