"""Tests both third-party gateway targets (llama-stack, LiteLLM) share, without either installed:
detection of the venv, the launch error that names setup.sh, and serve.py's refusal to start
(leaving nothing behind and the signal handlers as they were) when setup has not run.

What is particular to one gateway (its config, environment, install check) is tested in
test_llamastack_target.py and test_litellm_target.py.
"""
from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

from fixtures import litellm_target, llamastack_target
from fixtures.targets import LaunchError, Process
from scripts.litellm import serve as litellm_serve
from scripts.llamastack import serve as llamastack_serve


@dataclass(frozen=True)
class Gateway:
    """One target's launch kind, as the shared tests see it."""

    venv_var: str
    venv: Callable[[], Path]
    installed: Callable[[], bool]
    start: Callable[[], Process]
    setup: str
    serve: ModuleType
    fake_install: Callable[[Path], None]  # makes ``installed()`` true for a venv


def _fake_litellm(venv: Path) -> None:
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "litellm").write_text("#!/bin/sh\n")


def _fake_llamastack(venv: Path) -> None:
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "llama").write_text("#!/bin/sh\n")
    cache = venv / "tiktoken-cache"
    cache.mkdir()
    (cache / hashlib.sha1(llamastack_target.TIKTOKEN_URL.encode()).hexdigest()).write_bytes(b"x")


GATEWAYS = {
    "litellm": Gateway("LITELLM_VENV", litellm_target.litellm_venv, litellm_target.litellm_installed,
                       litellm_target.start_litellm, "scripts/litellm/setup.sh", litellm_serve, _fake_litellm),
    "llamastack": Gateway("LLAMASTACK_VENV", llamastack_target.llamastack_venv,
                          llamastack_target.llamastack_installed, llamastack_target.start_llamastack,
                          "scripts/llamastack/setup.sh", llamastack_serve, _fake_llamastack),
}


@pytest.fixture(params=sorted(GATEWAYS))
def gateway(request: pytest.FixtureRequest) -> Gateway:
    """Each gateway in turn."""
    return GATEWAYS[request.param]


def test_not_installed_is_detected(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gateway.venv_var, str(tmp_path / "missing"))
    assert gateway.venv() == tmp_path / "missing"
    assert not gateway.installed()
    gateway.fake_install(tmp_path / "missing")
    assert gateway.installed()


def test_start_without_install_names_setup(gateway: Gateway, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gateway.venv_var, str(tmp_path))
    with pytest.raises(LaunchError, match=gateway.setup):
        gateway.start()


def test_serve_refuses_without_install_and_leaves_no_state(gateway: Gateway, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    status = gateway.serve.main(["--port", "0", "--venv", str(tmp_path / "nothing"), "--state-dir", str(state),
                                 "--project-python", sys.executable])
    assert status == 1
    assert "setup.sh" in capsys.readouterr().err
    assert not (state / "llamacpp.log").exists()  # nothing was spawned


def test_serve_restores_signal_handlers(gateway: Gateway, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    gateway.serve.main(["--port", "0", "--venv", str(tmp_path), "--project-python", sys.executable])
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_serve_needs_only_the_standard_library(gateway: Gateway) -> None:
    """serve.py runs under any Python: -S leaves out every installed package, only the checkout is found."""
    result = subprocess.run([sys.executable, "-S", gateway.serve.__file__, "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--project-python" in result.stdout
