"""Tests particular to the llama-stack launch kind, without llama-stack installed: its install
check (the CLI and tiktoken's file) and the agreement of serve.py, the fixture and the config. What
it shares with LiteLLM's is tested in test_gateway_targets.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import llamastack_target
from scripts.llamastack import serve


def test_installed_needs_cli_and_tiktoken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMASTACK_VENV", str(tmp_path / "half"))
    (tmp_path / "half" / "bin").mkdir(parents=True)
    (tmp_path / "half" / "bin" / "llama").write_text("#!/bin/sh\n")
    assert not llamastack_target.llamastack_installed()  # the CLI without the tiktoken file


def test_serve_and_fixture_agree_on_model_and_tiktoken() -> None:
    assert serve.MODEL_ID == llamastack_target.MODEL_ID
    assert serve.TIKTOKEN_URL == llamastack_target.TIKTOKEN_URL
    config = serve.CONFIG.read_text()
    assert f"provider_id: {serve.PROVIDER_ID}" in config
    assert "host: 127.0.0.1" in config
