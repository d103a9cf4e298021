"""providers.yaml parsing and target resolution: clear errors naming the file and the field."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.providers import GENERIC, PROFILES, ProviderError, load_providers, resolve_targets

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    return path


def test_the_shipped_providers_file_is_valid() -> None:
    providers = load_providers(REPO / "providers.yaml")
    assert {"local", "llamacpp"} <= set(providers)
    assert "web_search" not in providers["local"].profiles


@pytest.mark.parametrize(("text", "field"), [
    ("providers: [1, 2]", "providers"),
    ("providers:\n  p: {base_url: http://x, models: []}", "providers.p.models"),
    ("providers:\n  p: {models: [m]}", "providers.p.base_url"),
    ("providers:\n  p: {base_url: http://x, models: [m], profiles: [core, telepathy]}", "providers.p.profiles[1]"),
    ("providers:\n  p: {base_url: http://x, models: [m], colour: red}", "providers.p.colour"),
    ("providers:\n  p: {base_url: http://x, models: [m], launch: docker}", "providers.p.launch"),
    ("providers:\n  p: {base_url: http://x, models: [m], exclusions: {m: [{test: x}]}}", "providers.p.exclusions.m[0]"),
    ("providers:\n  p: {base_url: http://x, models: [m], exclusions: {m: [{test: x, reason: ''}]}}", "reason"),
    ("providers: {p: [", "not valid YAML"),
], ids=["not-a-mapping", "no-models", "no-base-url", "unknown-profile", "unknown-field",
        "unknown-launch", "exclusion-without-reason-key", "empty-reason", "broken-yaml"])
def test_a_malformed_file_names_the_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProviderError) as info:
        load_providers(path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_an_unknown_provider_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  alpha: {base_url: http://x, models: [m]}")
    with pytest.raises(ProviderError, match="unknown provider 'beta'; known: alpha"):
        resolve_targets(load_providers(path), provider="beta", base_url=None, api_key=None,
                        models=[], mode="live", path=path)


def test_base_url_alone_is_a_generic_target_claiming_everything(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  alpha: {base_url: http://alpha, models: [a]}")
    [target] = resolve_targets(load_providers(path), provider=None, base_url="http://gw/v1",
                               api_key="k", models=["m"], mode="live", path=path)
    assert target.provider.name == GENERIC and target.base_url == "http://gw/v1"
    assert target.provider.profiles == PROFILES and not target.provider.exclusions


def test_base_url_without_a_model_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="--model"):
        resolve_targets({}, provider=None, base_url="http://gw/v1", api_key=None, models=[],
                        mode="live", path=tmp_path / "p.yaml")


def test_command_line_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHA_KEY", "from-env")
    path = write(tmp_path, "providers:\n  alpha: {base_url: http://alpha, api_key_var: ALPHA_KEY, models: [a, b]}")
    providers = load_providers(path)
    [from_file] = resolve_targets(providers, provider="alpha", base_url=None, api_key=None,
                                  models=["a"], mode="live", path=path)
    assert (from_file.base_url, from_file.api_key) == ("http://alpha", "from-env")
    [from_cli] = resolve_targets(providers, provider="alpha", base_url="http://other", api_key="cli",
                                 models=["b"], mode="live", path=path)
    assert (from_cli.base_url, from_cli.api_key, from_cli.model) == ("http://other", "cli", "b")


def test_exclusions_match_by_test_name_with_their_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "providers:\n  alpha: {base_url: http://x, models: [m], exclusions: "
                           "{m: [{test: cancel, reason: no background workers}]}}")
    provider = load_providers(path)["alpha"]
    assert provider.exclusion_for("m", "test_background.py::test_cancel[x]").reason == "no background workers"
    assert provider.exclusion_for("m", "test_core.py::test_exchange[x]") is None
