"""Tests particular to the LiteLLM launch kind, without LiteLLM installed: the environment LiteLLM
is given (offline, no caller secrets), the config's routing, and the provider entry. What it shares
with llama-stack's is tested in test_gateway_targets.py."""
from __future__ import annotations

import pytest
import yaml

from fixtures import litellm_target, providers
from scripts.litellm import serve


def test_serve_fixture_and_config_agree() -> None:
    """One model id everywhere; the bridge is forced; the proxy's upstream is llama.cpp on loopback."""
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
