"""Tests for the llama-stack launch kind without llama-stack installed: detection, the error that
names setup.sh, and serve.py's refusal to start (leaving nothing behind) when setup has not run."""
from __future__ import annotations

import hashlib
import importlib.util
import signal
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fixtures import llamastack_target
from fixtures.targets import LaunchError


def _serve_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llamastack_serve", llamastack_target.SERVE_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_install(venv: Path, *, tiktoken: bool = True) -> None:
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "llama").write_text("#!/bin/sh\n")
    if tiktoken:
        cache = venv / "tiktoken-cache"
        cache.mkdir()
        (cache / hashlib.sha1(llamastack_target.TIKTOKEN_URL.encode()).hexdigest()).write_bytes(b"x")


def test_not_installed_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMASTACK_VENV", str(tmp_path / "missing"))
    assert llamastack_target.llamastack_venv() == tmp_path / "missing"
    assert not llamastack_target.llamastack_installed()


def test_installed_needs_cli_and_tiktoken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMASTACK_VENV", str(tmp_path / "half"))
    _fake_install(tmp_path / "half", tiktoken=False)
    assert not llamastack_target.llamastack_installed()
    monkeypatch.setenv("LLAMASTACK_VENV", str(tmp_path / "full"))
    _fake_install(tmp_path / "full")
    assert llamastack_target.llamastack_installed()


def test_start_without_install_names_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMASTACK_VENV", str(tmp_path))
    with pytest.raises(LaunchError, match="scripts/llamastack/setup.sh"):
        llamastack_target.start_llamastack()


def test_serve_and_fixture_agree_on_model_and_tiktoken() -> None:
    serve = _serve_module()
    assert serve.MODEL_ID == llamastack_target.MODEL_ID
    assert serve.TIKTOKEN_URL == llamastack_target.TIKTOKEN_URL
    config = serve.CONFIG.read_text()
    assert f"provider_id: {serve.PROVIDER_ID}" in config
    assert "host: 127.0.0.1" in config


def test_serve_refuses_without_install_and_leaves_no_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serve = _serve_module()
    state = tmp_path / "state"
    status = serve.main(["--port", "0", "--venv", str(tmp_path / "nothing"), "--state-dir", str(state),
                         "--project-python", sys.executable])
    assert status == 1
    assert "setup.sh" in capsys.readouterr().err
    assert not (state / "llamacpp.log").exists()  # nothing was spawned


def test_serve_restores_signal_handlers(tmp_path: Path) -> None:
    serve = _serve_module()
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    serve.main(["--port", "0", "--venv", str(tmp_path), "--project-python", sys.executable])
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
