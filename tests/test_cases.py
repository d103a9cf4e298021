"""The YAML cases are data checked like code: schema, unique ids, wording, coverage."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.cases import CASES_DIR, CaseError, bind, load_all, load_file
from fixtures.providers import PROFILES
from inprocess import SUITE_PLUGINS, run_pytest


def test_every_case_file_is_valid_and_ids_are_unique() -> None:
    cases = load_all()
    assert len({c.id for c in cases}) == len(cases)


def test_every_profile_has_cases() -> None:
    covered = {p for c in load_all() for p in c.profiles}
    assert covered == set(PROFILES)


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("family: x\ncases: []", "should be non-empty"),
    ("family: x\ncases:\n  - {id: Bad Id, description: d, profiles: [core], check: c}", "cases[0].id"),
    ("family: x\ncases:\n  - {id: an-id, description: it should work, profiles: [core], check: c}", "what is"),
    ("family: x\ncases:\n  - {id: an-id, description: d, profiles: [magic], check: c}", "unknown profile"),
    ("family: x\ncases:\n  - {id: an-id, description: d, profiles: [core], check: c, expect: {vibes: 1}}", "vibes"),
    ("family: x\ncases: [", "not valid YAML"),
], ids=["empty-case-list", "id-not-kebab", "description-says-should", "unknown-profile",
        "unknown-expectation", "broken-yaml"])
def test_a_malformed_case_file_names_file_and_field(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(CaseError) as info:
        load_file(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_placeholders_bind_whole_values_and_interpolate_inside_strings() -> None:
    bound = bind({"a": "$x", "b": ["Bearer $x"], "c": "$unknown"}, {"x": {"k": 1}})
    assert bound == {"a": {"k": 1}, "b": ["Bearer {'k': 1}"], "c": "$unknown"}


def test_every_case_is_run_by_some_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A case whose `check` names no test function would silently never run. The suite is collected
    in this process (tests/inprocess.py): a pytester subprocess paid pytest's start and the SDK's
    import for it."""
    repo = CASES_DIR.parent.parent
    result = run_pytest(
        ["--collect-only", "-q", f"--rootdir={repo}", "-c", str(repo / "pyproject.toml"), *SUITE_PLUGINS,
         str(repo / "suites"), "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], tmp_path, monkeypatch)
    collected = "\n".join(result.outlines)
    missing = [c.id for c in load_all() if f"-{c.id}]" not in collected]
    assert not missing, f"cases no test runs: {missing}"
    assert collected.count("::") >= 60
