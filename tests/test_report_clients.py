"""The client × target matrix of the report, from planted results of the clients family."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.report import build_report
from fixtures.report.clients import client_of
from fixtures.report.model import RunWriter
from test_report_build import CLAIMED, make_result

pytestmark = pytest.mark.unit


def _scenarios(agents: str, agents_js: str) -> dict:
    return {
        ("test_scenario", "openai-agents-runs-a-plain-turn", ("clients", "core")): "passed",
        ("test_scenario", "openai-agents-streams-a-turn", ("clients", "streaming")): agents,
        ("test_scenario", "openai-agents-js-runs-a-plain-turn", ("clients", "core")): agents_js,
        ("test_scenario", "codex-exec-completes-a-turn", ("clients", "stateless")): "skipped",
    }


def write_run(directory: Path, provider: str, outcomes: dict) -> None:
    """A results file of ``provider`` whose lines are the clients family's, as the plugin writes them."""
    header = {"started_at": "2026-05-01T02:00:00+00:00", "provider": provider, "models": ["m1"],
              "targets": [{"id": f"{provider}/m1@live", "provider": provider, "model": "m1",
                           "display_name": provider, "mode": "live", "description": provider,
                           "profiles": [*CLAIMED, "clients"], "informational": {}}],
              "schema_profile": "openai", "argv": ["suites"], "versions": {"openai": "3.54.0"}}
    results = [replace(make_result(provider, test, case, profiles, outcome), family="clients")
               for (test, case, profiles), outcome in outcomes.items()]
    RunWriter(header, results).write(directory / f"results-{provider}.jsonl", exitstatus=1,
                                     interrupted=False, finished_at="2026-05-01T02:10:00+00:00")


def test_a_case_belongs_to_the_longest_client_name_it_starts_with() -> None:
    assert client_of("openai-agents-js-runs-a-plain-turn") == "openai-agents-js"
    assert client_of("openai-agents-runs-a-plain-turn") == "openai-agents"
    assert client_of("langchain-invokes-a-turn") == "langchain"


def test_the_report_shows_scenarios_passed_per_client_and_target(tmp_path: Path) -> None:
    write_run(tmp_path, "good", _scenarios("passed", "passed"))
    write_run(tmp_path, "bad", _scenarios("failed", "passed"))
    build_report(tmp_path)
    report = (tmp_path / "REPORT.md").read_text()
    section = report[report.index("## Real clients × targets"):].split("\n## ", 1)[0]
    rows = {line.split(" | ")[0].strip("| `"): line for line in section.splitlines() if line.startswith("| `")}
    assert set(rows) == {"openai-agents", "openai-agents-js", "codex"}
    columns = section.splitlines()[4].strip("| ").split(" | ")[1:]
    cells = dict(zip(columns, rows["openai-agents"].strip("| ").split(" | ")[1:]))
    assert cells == {"bad/m1": "1/2 (failed: openai-agents-streams-a-turn)", "good/m1": "2/2"}
    assert rows["codex"].count("skipped") == 2
    page = (tmp_path / "report.html").read_text()
    assert 'id="clients"' in page and 'title="failed: openai-agents-streams-a-turn"' in page
