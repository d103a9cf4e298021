"""The coverage map: the SDK surface it measures against, and the strict rule it applies."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import coverage
from fixtures.cases import Case
from fixtures.surface import ENDPOINTS, sdk_method, surface
from inprocess import run_pytest

pytestmark = pytest.mark.unit


def _case(**fields: object) -> Case:
    base = {"id": "a-case", "description": "d", "family": "core", "profiles": ("core",), "check": "exchange"}
    return Case(**{**base, **fields})  # type: ignore[arg-type]


def test_surface_is_the_pinned_sdks() -> None:
    sizes = {d: len(names) for d, names in surface().items()}
    # openai==3.54.0: 33 shared create parameters plus `stream`; a new SDK pin changes these.
    assert sizes == {"params": 34, "tools": 18, "input_items": 31, "output_items": 28, "include": 8,
                     "events": 59, "endpoints": 16}
    assert "message.output_text.logprobs" in surface()["include"]
    assert "namespace" in surface()["tools"] and "item_reference" in surface()["input_items"]


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_every_endpoint_is_an_sdk_method(endpoint: str) -> None:
    assert callable(sdk_method(endpoint))


def test_a_request_covers_what_it_sends() -> None:
    case = _case(
        request={"input": [{"role": "user", "content": "hi"}, {"type": "item_reference", "id": "msg_1"}],
                 "tools": [{"type": "namespace", "name": "ns", "tools": []}], "top_logprobs": 2,
                 "include": ["message.output_text.logprobs"]},
        turns=({"previous_response_id": "$previous", "client_metadata": {"a": "b"}},),
    )
    claims = coverage.claims_of(case)
    assert {"input", "tools", "top_logprobs", "include", "model", "previous_response_id"} <= claims["params"]
    assert claims["tools"] == {"namespace"}
    assert claims["input_items"] == {"message", "item_reference"}
    assert claims["include"] == {"message.output_text.logprobs"}
    built = coverage.build([case], {d: {} for d in coverage.DIMENSIONS})
    assert "client_metadata" in built.beyond_sdk["params"]


def test_only_checks_that_fail_without_it_cover_an_answer() -> None:
    case = _case(expect={"output_contains": ["message"], "function_calls": 1,
                         "events": ["response.output_text.delta"], "status": "completed"})
    claims = coverage.claims_of(case)
    assert claims["output_items"] == {"message", "function_call"}
    assert claims["events"] == {"response.output_text.delta"}
    assert coverage.claims_of(_case())["events"] == set()


def test_endpoints_come_from_the_calls_a_check_makes(tmp_path: Path) -> None:
    (tmp_path / "test_fam.py").write_text(
        "def test_get(conformance, case):\n"
        "    first = conformance.ok(conformance.create(conformance.request_of(case)))\n"
        "    conformance.client.retrieve(first['id'])\n"
        "    conformance.client.input_items(first['id'])\n"
        "def helper(conformance):\n    conformance.client.delete('x')\n")
    found = coverage.endpoints_of_checks(tmp_path)
    assert found == {("fam", "get"): frozenset({"responses.create", "responses.retrieve",
                                                "responses.input_items.list"})}


def test_a_reason_names_a_real_name(tmp_path: Path) -> None:
    path = tmp_path / "not_exercised.yaml"
    path.write_text("tools:\n  web_serch: hosted\n")
    with pytest.raises(coverage.CoverageError, match=r"not_exercised.yaml: tools.web_serch: not in"):
        coverage.load_not_exercised(path)
    path.write_text("tools:\n  web_search: ''\n")
    with pytest.raises(coverage.CoverageError, match=r"tools.web_search: give the reason"):
        coverage.load_not_exercised(path)


def test_the_suites_reasons_are_valid_and_never_hide_a_covered_name() -> None:
    built = coverage.build()
    both = [f"{e.dimension}.{e.name}" for entries in built.entries.values() for e in entries
            if e.cases and e.reason]
    assert not both, f"exercised, yet listed in suites/not_exercised.yaml: {both}"


def test_the_map_renders_figures_and_gaps() -> None:
    built = coverage.build([_case(request={"input": "x"})], {"tools": {"web_search": "hosted search"}})
    text = coverage.render(built)
    assert text.splitlines()[0].split() == ["dimension", "total", "exercised", "not", "exercised", "gaps"]
    assert "- web_search: not exercised: hosted search" in text
    assert "! namespace: GAP" in text
    figures = built.as_dict()["figures"]["params"]
    assert figures["exercised"] == 2 and figures["total"] == 34  # input and model


def test_a_claim_the_wire_did_not_carry_is_reported() -> None:
    case = _case(request={"input": "x", "top_logprobs": 2, "tools": [{"type": "namespace"}]})
    assert coverage.unsent_claims(case, [{"model": "m", "input": "x", "top_logprobs": 2,
                                          "tools": [{"type": "namespace"}]}]) == []
    dropped = coverage.unsent_claims(case, [{"model": "m", "input": "x"}])
    assert [(f.rule, f.field) for f in dropped] == [
        ("coverage.unsent", "params.tools"), ("coverage.unsent", "params.top_logprobs"),
        ("coverage.unsent", "tools.namespace")]
    assert [str(f) for f in dropped] == [
        "coverage.unsent: a-case claims params 'tools', but no request sent it",
        "coverage.unsent: a-case claims params 'top_logprobs', but no request sent it",
        "coverage.unsent: a-case claims tools 'namespace', but no request sent it"]
    without_model = _case(request={"input": "x"}, params={"drop": ["model"]})
    assert coverage.unsent_claims(without_model, [{"input": "x"}]) == []


PLANTED_SUITE = """
import pytest
from fixtures.cases import Case

CASE = Case(id="planted-drop", description="claims top_logprobs", family="core", profiles=("core",),
            check="exchange", request={"input": "hi", "top_logprobs": 2})


@pytest.mark.parametrize("case", [CASE])
def test_drops_a_claimed_parameter(conformance, case):
    conformance.create({"input": "hi"})  # top_logprobs never reaches the wire


@pytest.mark.parametrize("case", [CASE])
def test_sends_what_it_claims(conformance, case):
    conformance.create(conformance.request_of(case))
"""


def test_a_suite_case_that_drops_a_claim_fails_its_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wire check runs after every suite case: a planted case whose test drops a claimed
    parameter fails with coverage.unsent, and its honest twin passes (nothing listens: the
    requests are captured all the same). The run is in this process (tests/inprocess.py): as a
    subprocess it cost about 2 s of CPU, most of it starting pytest and importing the SDK."""
    (tmp_path / "test_planted.py").write_text(PLANTED_SUITE)
    result = run_pytest(["-p", "fixtures.plugin", "--base-url", "http://127.0.0.1:9/v1",
                         "--model", "m", "--request-timeout", "2"], tmp_path, monkeypatch)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_drops_a_claimed_parameter*",
                                 "*coverage.unsent: planted-drop claims params 'top_logprobs', but no request sent it*"])
