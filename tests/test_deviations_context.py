"""The suite catches the two DESIGN.md §5 deviations that only the model's answer shows.

A chain's context dropped (``previous_response_id`` echoed but its conversation not sent to the
model) and images silently dropped change what reaches the model, not what the client sees, so
recordings cannot expose them (tests/test_deviations.py). Here the model is
``upstream.ContextAwareUpstream``: it answers with the favourite number only when an earlier
message holds it, and with the image's colour only when an image part arrives. The real router
runs over it, served from a thread; each deviant is that router with one
``model_deviants.MODEL_DEVIATIONS`` layer. The provider claims core and vision with nothing informational, so the capability check
(``text_matches``) fails the case: the control must pass, each deviant must fail naming it.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deviants import NO_DEVIATION
from inprocess import run_pytest
from model_deviants import MODEL_DEVIATIONS
from test_deviations import (PLUGINS, REPO, RUN_GUARD_S, Catch, Deviant, assert_all_pass, assert_caught,
                             start_deviant)
from upstream import ContextAwareUpstream, ServerThread

MODEL = "context-stand-in"
PROVIDERS = """
providers:
  context:
    description: the reference router over a content-aware model stand-in
    base_url: {base_url}
    models: [{model}]
    profiles: [core, vision]
"""
CHAIN_CASE = "previous-response-id-continues-the-conversation"
IMAGE_CASE = "an-image-by-url-is-accepted"
CAUGHT_BY: dict[str, Catch] = {
    "context_dropped": Catch("test_core.py", (CHAIN_CASE,),
                             ("capability.text_matches: '42' not found", ContextAwareUpstream.UNKNOWN)),
    "images_dropped": Catch("test_vision.py", (IMAGE_CASE,),
                            ("capability.text_matches: 'red' not found", ContextAwareUpstream.UNKNOWN)),
}


@pytest.fixture(scope="module")
def model() -> Iterator[ContextAwareUpstream]:
    """The content-aware model stand-in, served from a thread for the whole module."""
    stand_in = ContextAwareUpstream(models=(MODEL,))
    with ServerThread(stand_in.app) as server:
        stand_in.url = server.url  # type: ignore[attr-defined]
        yield stand_in


@pytest.fixture(scope="module")
def router(request: pytest.FixtureRequest, model: ContextAwareUpstream) -> Iterator[Deviant]:
    """The real router (``none``) or one deviant of it over the stand-in, on a fresh store."""
    deviant = start_deviant(request.param, backends=(f"{model.url}/v1",))  # type: ignore[attr-defined]
    try:
        yield deviant
    finally:
        deviant.stop()


def run_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str,
              catches: list[Catch]) -> pytest.RunResult:
    """The named suite cases against ``base_url``, in this process, capabilities binding."""
    providers = tmp_path / "providers.yaml"
    providers.write_text(PROVIDERS.format(base_url=base_url, model=MODEL))
    suites = sorted({str(REPO / "suites" / c.suite) for c in catches})
    selection = " or ".join(case for c in catches for case in c.cases)
    return run_pytest(
        [*suites, f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"), *PLUGINS,
         "--providers-file", str(providers), "--provider", "context", "-k", selection,
         "-o", f"timeout={RUN_GUARD_S}"],
        tmp_path / "run", monkeypatch)


def test_the_stand_in_answers_from_what_it_is_sent() -> None:
    stand_in = ContextAwareUpstream()
    fact = {"role": "user", "content": "My favourite number is 42. Reply with OK."}
    question = {"role": "user", "content": "What is my favourite number?"}
    image = {"role": "user", "content": [{"type": "text", "text": "What colour?"},
                                         {"type": "image_url", "image_url": {"url": "http://x/red.png"}}]}
    assert stand_in.answer([fact, {"role": "assistant", "content": "OK"}, question]) == stand_in.REMEMBERED
    assert stand_in.answer([question]) == stand_in.UNKNOWN
    assert stand_in.answer([fact]) == stand_in.UNKNOWN  # the fact must come before the question
    assert stand_in.answer([image]) == stand_in.SEEN
    assert stand_in.answer([{"role": "user", "content": [image["content"][0]]}]) == stand_in.UNKNOWN


def test_every_model_deviation_has_a_catch() -> None:
    assert set(CAUGHT_BY) == set(MODEL_DEVIATIONS)


@pytest.mark.parametrize("router", [NO_DEVIATION], indirect=True)
def test_the_router_without_deviation_passes_both_cases(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, router: Deviant) -> None:
    assert_all_pass(run_suite(tmp_path, monkeypatch, router.base_url, list(CAUGHT_BY.values())),
                    list(CAUGHT_BY.values()))


@pytest.mark.parametrize("router", sorted(CAUGHT_BY), indirect=True)
def test_the_suite_catches_the_model_deviation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               router: Deviant, request: pytest.FixtureRequest) -> None:
    deviation = request.node.callspec.params["router"]
    catch = CAUGHT_BY[deviation]
    assert_caught(run_suite(tmp_path, monkeypatch, router.base_url, [catch]), catch, deviation)
