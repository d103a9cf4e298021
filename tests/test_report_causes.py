"""Root causes, the rule × target matrix, rule history and coverage figures, from planted results."""
from __future__ import annotations

import json
from pathlib import Path

from fixtures.coverage import CoverageMap, Entry
from fixtures.findings import Finding, kept
from fixtures.report import build_report
from fixtures.report.causes import UNATTRIBUTED, root_causes
from fixtures.report.coverage import figures
from fixtures.report.model import RunWriter, TestResult

FIRST, SECOND = "schema.response", "sequence.present"
MISSING_DETAILS = {"rule": FIRST, "index": None, "field": None, "path": "$.usage", "severity": "error",
                   "message": "'output_tokens_details' is a required property", "expected": None, "got": None}
MISSING_TOOLS = {**MISSING_DETAILS, "path": "$", "message": "'tools' is a required property"}
NO_SEQUENCE = {"rule": SECOND, "index": 4, "field": "sequence_number", "path": None, "severity": "error",
               "message": "sequence_number missing or not an integer", "expected": "'integer'", "got": "None"}


def result(case: str, outcome: str, findings: tuple[dict, ...] = (), *, provider: str = "alpha") -> TestResult:
    """One test line of ``provider`` with the rules of ``findings``."""
    rules = tuple(dict.fromkeys(f["rule"] for f in findings))
    return TestResult(
        nodeid=f"suites/test_core.py::test_exchange[{provider}/m1-{case}]", test="test_exchange", case=case,
        family="core", profiles=("core",), provider=provider, model="m1", target=f"{provider}/m1@cassette",
        outcome=outcome, when="call" if outcome != "passed" else None, rules=rules, findings=findings,
        message="planted" if outcome != "passed" else None, traffic="cassette", duration=0.1)


def planted(provider: str = "alpha") -> list[TestResult]:
    """FIRST alone fails 5 tests, SECOND fails 2 more together with FIRST, 3 tests pass."""
    alone = [result(f"only-first-{n}", "failed", (MISSING_DETAILS,), provider=provider) for n in range(5)]
    both = [result(f"both-{n}", "failed", (MISSING_TOOLS, MISSING_DETAILS, NO_SEQUENCE), provider=provider)
            for n in range(2)]
    return alone + both + [result(f"passes-{n}", "passed", provider=provider) for n in range(3)]


def write(directory: Path, provider: str, results: list[TestResult]) -> None:
    """A complete results file of ``provider`` claiming ``core``."""
    header = {"started_at": "2026-05-01T02:00:00+00:00", "provider": provider, "models": ["m1"],
              "targets": [{"id": f"{provider}/m1@cassette", "provider": provider, "model": "m1",
                           "display_name": "M1", "mode": "cassette", "profiles": ["core"]}],
              "schema_profile": "openai", "versions": {"openai": "3.54.0"}}
    RunWriter(header, results).write(directory / f"results-{provider}-m1.jsonl", exitstatus=1,
                                     interrupted=False, finished_at="2026-05-01T02:10:00+00:00")


def toy_map() -> CoverageMap:
    """Three parameters: one exercised by a passing case, one by a failing one, one hosted-only."""
    return CoverageMap({"params": [Entry("params", "input", ("passes-0",)), Entry("params", "tools", ("both-0",)),
                                   Entry("params", "prompt", (), "needs a hosted template store")]})


def test_ranking_and_if_only_figures() -> None:
    first, second = root_causes(planted())
    assert (first.rule, len(first.tests), len(first.alone), first.failures) == (FIRST, 7, 5, 7)
    assert (second.rule, len(second.tests), len(second.alone)) == (SECOND, 2, 0)
    assert first.share == 1.0 and round(second.share, 4) == round(2 / 7, 4)
    assert first.profile == "core" and second.profile == "streaming"


def test_the_example_is_the_finding_most_tests_share() -> None:
    first, second = root_causes(planted())
    # $.usage is in all 7 tests, $ (tools) in 2 of them, listed first there: the 7 win
    assert first.example.path == "$.usage" and "output_tokens_details" in first.example.message
    assert first.example.test == "suites/test_core.py::test_exchange[both-0]"  # the first test, by key
    assert second.example.text() == ("event 4, field sequence_number: sequence_number missing or not an "
                                     "integer (expected 'integer', got None)")


def test_of_equally_widespread_findings_the_first_reported_wins() -> None:
    tests = [result("a", "failed", (MISSING_DETAILS, MISSING_TOOLS)), result("b", "failed", (MISSING_TOOLS, MISSING_DETAILS))]
    (cause,) = root_causes(tests)
    assert (cause.example.test, cause.example.path) == ("suites/test_core.py::test_exchange[a]", "$.usage")


def test_a_failure_without_rule_ids_is_counted_unattributed() -> None:
    crash = result("crashes", "errored")
    causes = root_causes([*planted(), crash])
    assert [(c.rule, len(c.tests), len(c.alone)) for c in causes] == [
        (FIRST, 7, 5), (SECOND, 2, 0), (UNATTRIBUTED, 1, 1)]
    assert causes[0].failures == 8 and causes[2].example.test == crash.key


def test_a_report_from_planted_results_ranks_exactly(tmp_path: Path) -> None:
    write(tmp_path, "alpha", planted())
    write(tmp_path, "beta", [result("passes-0", "passed", provider="beta")])
    built = build_report(tmp_path, coverage=toy_map())
    data = json.loads((tmp_path / "report.json").read_text())
    ranked = [(c["rule"], c["tests"], c["alone"], c["failures"]) for c in data["root_causes"]["alpha/m1"]]
    assert ranked == [(FIRST, 7, 5, 7), (SECOND, 2, 0, 7)]
    assert data["root_causes"]["beta/m1"] == []
    report = (tmp_path / "REPORT.md").read_text()
    assert "7 failing test(s). First fix: `schema.response`, failing 7 (100%); fixed alone, 5 test(s) would pass." \
        in report
    assert "| 1 | `schema.response` | core | 7 | 100% | +5 | `suites/test_core.py::test_exchange[both-0]`: " \
           "at $.usage: 'output_tokens_details' is a required property |" in report
    assert "| 2 | `sequence.present` | streaming | 2 | 29% | +0 |" in report
    assert "**beta/m1**: no failing tests." in report
    # the rule × target matrix: tests failing each rule, in brackets those it alone fails
    assert "| `schema.response` | core | 7 (5) | · |" in report
    assert "| `sequence.present` | streaming | 2 (0) | · |" in report
    page = (tmp_path / "report.html").read_text()
    assert '<table id="rules">' in page and 'data-tests="7" data-alone="5"' in page
    assert built.causes["alpha/m1"][0].rule == FIRST


def test_coverage_figures_per_run(tmp_path: Path) -> None:
    params = figures(toy_map(), ran={"passes-0", "both-0"}, passed={"passes-0"})[0]
    assert (params.total, params.suite, params.hosted_only, params.gaps, params.ran, params.passed) == (3, 2, 1, 0, 2, 1)
    write(tmp_path, "alpha", planted())
    build_report(tmp_path, coverage=toy_map())
    assert "| parameters | 3 | 2 | 1 | 0 | 2 (1) |" in (tmp_path / "REPORT.md").read_text()


def test_a_rule_appearing_is_a_regression_and_one_disappearing_a_fix(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir(), after.mkdir()
    write(before, "alpha", planted())
    # SECOND is fixed in both tests; a new rule breaks a test that passed
    now = [r for r in planted() if not r.case.startswith("both")]
    now += [result(f"both-{n}", "failed", (MISSING_DETAILS,)) for n in range(2)]
    now[5] = result("passes-0", "failed", ({**NO_SEQUENCE, "rule": "http.status"},))
    write(after, "alpha", now)
    built = build_report(after, previous=before, coverage=toy_map())
    changes = [(c.rule, c.kind, c.before, c.after) for c in built.history.rule_changes]
    assert changes == [("http.status", "regression", 0, 1), (SECOND, "fix", 2, 0)]
    report = (after / "REPORT.md").read_text()
    assert "**Rules newly failing** (1):\n- `http.status` on `alpha/m1`: 0 → 1 failing test(s)" in report
    assert "**Rules no longer failing** (1):\n- `sequence.present` on `alpha/m1`: 2 → 0 failing test(s)" in report
    assert json.loads((after / "report.json").read_text())["rule_changes"][1]["kind"] == "fix"


def test_kept_findings_drop_repeats_per_event_and_keep_the_values() -> None:
    findings = [Finding(SECOND, i, "sequence_number", "sequence_number missing", "integer", None) for i in range(50)]
    findings.append(Finding(FIRST, message="'tools' is a required property", path="$"))
    out = kept(findings)
    assert [(f["rule"], f["index"]) for f in out] == [(SECOND, 0), (FIRST, None)]
    assert out[0]["expected"] == "'integer'" and out[0]["got"] is None
    assert len(kept([Finding(FIRST, message=str(n)) for n in range(100)])) == 40
