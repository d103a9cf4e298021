"""The report's "Differences from the upstream" section, from hand-made results files of a
differential run: the results file keeps the differences, merges keep them, REPORT.md, report.html
and report.json show them; a run without --compare-with has no such section."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from fixtures.diff import Difference
from fixtures.report import build_report
from fixtures.report.model import RunWriter, read_results
from test_report_build import BASELINE, make_result

UPSTREAM = "http://127.0.0.1:8081/v1"
RENAMED = Difference("test_exchange[a-string-input]", "#1 POST /responses", "$.usage.prompt_tokens",
                     "field_added", "integer", None)
STOPPED = Difference("test_exchange[a-string-input]", "#2 GET /responses/{id}", "exchange", "stopped",
                     "stopped: schema.response", "1 more exchange(s)")


def write_differential(directory: Path, *, compared: bool = True) -> Path:
    """A results file of provider ``gw`` whose core tests were compared; one of them differed."""
    header = {
        "started_at": "2026-05-01T02:00:00+00:00", "provider": "gw", "models": ["m1"],
        "targets": [{"id": "gw/m1", "provider": "gw", "model": "m1", "display_name": "m1", "mode": "live",
                     "profiles": ["core", "streaming", "tools"]}],
        "schema_profile": "openai", "argv": ["suites"], "versions": {"openai": "3.54.0"},
        **({"compared_with": UPSTREAM} if compared else {}),
    }
    results = []
    for (test, case, profiles), outcome in BASELINE.items():
        result = make_result("gw", test, case, profiles, outcome)
        result = dataclasses.replace(result, target="gw/m1")
        if compared and outcome in ("passed", "failed"):
            found = [RENAMED, STOPPED] if case == "a-string-input" else []
            result = dataclasses.replace(result, differences=tuple(d.as_dict() for d in found))
        results.append(result)
    path = directory / "results-gw-m1.jsonl"
    RunWriter(header, results).write(path, exitstatus=1, interrupted=False, finished_at="2026-05-01T02:10:00+00:00")
    return path


def test_the_results_file_keeps_the_differences(tmp_path: Path) -> None:
    run = read_results(write_differential(tmp_path))
    assert run.header["compared_with"] == UPSTREAM
    by_case = {r.case: r.differences for r in run.results}
    assert [Difference.from_dict(d) for d in by_case["a-string-input"]] == [RENAMED, STOPPED]
    assert by_case["text-deltas-add-up"] == ()  # compared, no difference
    assert by_case["lists-tools"] is None  # skipped: never compared


def test_the_report_shows_what_the_gateway_changed(tmp_path: Path) -> None:
    write_differential(tmp_path)
    build_report(tmp_path)
    md = (tmp_path / "REPORT.md").read_text()
    assert f"### gw/m1 against `{UPSTREAM}`" in md
    assert "5 test(s) compared, 1 with differences, 2 difference(s)." in md
    assert "| `field_added` | `$.usage.prompt_tokens` | 1 | integer | absent |" in md
    assert ("  #1 POST /responses $.usage.prompt_tokens: field_added (gateway integer, upstream absent)"
            in md)
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Differences from the upstream</h2>" in page and "$.usage.prompt_tokens" in page
    data = json.loads((tmp_path / "report.json").read_text())["differences"]["gw/m1"]
    assert (data["upstream"], data["tests"], len(data["differences"])) == (UPSTREAM, 5, 2)


def test_a_run_without_compare_with_has_no_section(tmp_path: Path) -> None:
    write_differential(tmp_path, compared=False)
    build_report(tmp_path)
    assert "Differences from the upstream" not in (tmp_path / "REPORT.md").read_text()
    assert "Differences from the upstream" not in (tmp_path / "report.html").read_text()
