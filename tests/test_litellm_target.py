"""Tests for the LiteLLM launch kind without LiteLLM installed: detection, the error that names
setup.sh, serve.py's refusal to start (leaving nothing behind) when setup has not run, the
environment LiteLLM is given (offline, no caller secrets), and the config's routing."""
from __future__ import annotations

import importlib.util
import signal
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from fixtures import litellm_target, providers
from fixtures.targets import LaunchError


def _serve_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("litellm_serve", litellm_target.SERVE_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_not_installed_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_VENV", str(tmp_path / "missing"))
    assert litellm_target.litellm_venv() == tmp_path / "missing"
    assert not litellm_target.litellm_installed()
    (tmp_path / "missing" / "bin").mkdir(parents=True)
    (tmp_path / "missing" / "bin" / "litellm").write_text("#!/bin/sh\n")
    assert litellm_target.litellm_installed()


def test_start_without_install_names_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_VENV", str(tmp_path))
    with pytest.raises(LaunchError, match="scripts/litellm/setup.sh"):
        litellm_target.start_litellm()


def test_serve_fixture_and_config_agree() -> None:
    """One model id everywhere; the bridge is forced; the proxy's upstream is llama.cpp on loopback."""
    serve = _serve_module()
    assert serve.MODEL_ID == litellm_target.MODEL_ID
    assert serve.KEY_VAR == litellm_target.KEY_VAR
    (model,) = yaml.safe_load(serve.CONFIG.read_text())["model_list"]
    assert model["model_name"] == serve.MODEL_ID
    params = model["litellm_params"]
    # without the flag LiteLLM forwards to llama.cpp's own /v1/responses: the llamacpp target
    assert params["use_chat_completions_api"] is True
    assert params["model"] == f"openai/{serve.MODEL_ID}"
    assert params["api_base"] == "os.environ/LITELLM_LLAMACPP_URL"
    assert serve.HOST == "127.0.0.1"


def test_provider_entry_launches_litellm() -> None:
    entry = providers.load_providers(litellm_target.REPO / "providers.yaml")["litellm"]
    assert entry.launch == "litellm"
    assert list(entry.models) == [litellm_target.MODEL_ID]
    assert not entry.claims("clients") and not entry.claims("background")


def test_litellm_env_is_offline_and_drops_the_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteLLM gets only what serve.py chooses: a caller's database, tracer or keys never reach it."""
    serve = _serve_module()
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example/x")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-caller-key-0123456789")
    monkeypatch.setenv("LITELLM_LOG", "DEBUG")
    env = serve.litellm_env(llamacpp_url="http://127.0.0.1:1/v1", master_key="sk-run-key")
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["LITELLM_TELEMETRY_DISABLED"] == "true"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["LITELLM_LLAMACPP_URL"] == "http://127.0.0.1:1/v1"
    assert env["LITELLM_MASTER_KEY"] == "sk-run-key"
    for dropped in ("DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OPENAI_API_KEY", "LITELLM_LOG"):
        assert dropped not in env


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
