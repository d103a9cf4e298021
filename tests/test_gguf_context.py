"""Tests for the GGUF context patcher in model_files, on tiny synthetic GGUF files (no model needed)."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from reference_impl import launcher, model_files


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _kv(key: str, kind: int, payload: bytes) -> bytes:
    return _string(key) + struct.pack("<I", kind) + payload


def _gguf(path: Path, context: int = 8192, *, kind: int = 4, arch: str = "llama",
          version: int = 3, tail: bytes = b"\x00" * 64 + b"TENSORDATA") -> Path:
    fmt = {4: "<I", 10: "<Q", 5: "<i", 6: "<f"}[kind]
    entries = [
        _kv("general.architecture", 8, _string(arch)),
        _kv("general.name", 8, _string("tiny")),
        # arrays of strings and of scalars come before the key, as a tokenizer's do in real files
        _kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + b"".join(map(_string, "abc"))),
        _kv("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 2) + struct.pack("<ff", 0.5, 1.5)),
        _kv(f"{arch}.context_length", kind, struct.pack(fmt, context)),
        _kv(f"{arch}.rope.freq_base", 6, struct.pack("<f", 10000.0)),
    ]
    header = b"GGUF" + struct.pack("<IQQ", version, 0, len(entries))
    path.write_bytes(header + b"".join(entries) + tail)
    return path


def test_reads_the_header_and_the_trained_context(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "m.gguf")
    meta = model_files.gguf_metadata(model)
    assert meta["general.architecture"].value == "llama"
    assert meta["tokenizer.ggml.tokens"].value is None  # arrays are skipped
    assert meta["llama.rope.freq_base"].value == 10000.0
    assert model_files.trained_context(model) == 8192


def test_a_context_that_fits_uses_the_original_file(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "m.gguf")
    cache = tmp_path / "cache"
    assert model_files.gguf_with_context(model, 8192, cache) == model
    assert model_files.gguf_with_context(model, 4096, cache) == model
    assert not cache.exists()


def test_a_larger_context_gives_a_patched_cached_copy(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "m.gguf")
    original = model.read_bytes()
    cache = tmp_path / "cache"
    copy = model_files.gguf_with_context(model, 16384, cache)
    assert copy.parent == cache and "ctx16384" in copy.name
    assert model_files.trained_context(copy) == 16384
    assert model.read_bytes() == original  # the source is never touched
    patched = copy.read_bytes()
    assert len(patched) == len(original)
    # exactly the 4 bytes of the value differ; every other key and the tensor data are unchanged
    diff = [i for i, (a, b) in enumerate(zip(original, patched, strict=True)) if a != b]
    offset = model_files.gguf_metadata(model)["llama.context_length"].offset
    assert diff and min(diff) >= offset and max(diff) < offset + 4
    assert model_files.gguf_metadata(copy)["llama.rope.freq_base"].value == 10000.0
    assert list(cache.iterdir()) == [copy]  # no temporary file left


def test_the_copy_is_made_once_and_remade_when_the_source_changes(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "m.gguf")
    cache = tmp_path / "cache"
    first = model_files.gguf_with_context(model, 16384, cache)
    stamp = first.stat().st_mtime_ns
    assert model_files.gguf_with_context(model, 16384, cache) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rewritten
    other = model_files.gguf_with_context(model, 32768, cache)
    assert other != first and model_files.trained_context(other) == 32768
    _gguf(model, tail=b"\x01" * 80)  # a different model file at the same path
    os.utime(model, ns=(stamp + 10**9, stamp + 10**9))
    renewed = model_files.gguf_with_context(model, 16384, cache)
    assert renewed != first and renewed.read_bytes().endswith(b"\x01" * 80)


@pytest.mark.parametrize("kind", [10, 5])
def test_other_integer_widths_keep_their_type(tmp_path: Path, kind: int) -> None:
    model = _gguf(tmp_path / "m.gguf", kind=kind)
    copy = model_files.gguf_with_context(model, 20000, tmp_path / "cache")
    entry = model_files.gguf_metadata(copy)["llama.context_length"]
    assert (entry.kind, entry.value) == (kind, 20000)


def test_the_architecture_names_the_key(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "m.gguf", arch="qwen2")
    assert model_files.trained_context(model_files.gguf_with_context(model, 9000, tmp_path / "c")) == 9000


@pytest.mark.parametrize(("content", "match"), [
    (b"NOPE" + b"\x00" * 40, "not a GGUF file"),
    (b"GGUF" + struct.pack("<I", 1) + b"\x00" * 40, "version 1"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 5) + _string("general.architecture"), "truncated"),
])
def test_bad_files_are_clear_errors(tmp_path: Path, content: bytes, match: str) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    with pytest.raises(model_files.LauncherError, match=match):
        model_files.gguf_with_context(bad, 16384, tmp_path / "cache")


def test_a_float_or_missing_context_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(model_files.LauncherError, match="no integer llama.context_length"):
        model_files.trained_context(_gguf(tmp_path / "f.gguf", kind=6))
    with pytest.raises(model_files.LauncherError, match="no integer"):
        model_files.trained_context(_missing_key(tmp_path / "b.gguf"))


def _missing_key(path: Path) -> Path:
    entries = [_kv("general.architecture", 8, _string("llama"))]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + b"".join(entries))
    return path


def test_a_context_too_large_for_the_field_is_refused(tmp_path: Path) -> None:
    model = _gguf(tmp_path / "m.gguf")
    with pytest.raises(model_files.LauncherError, match="does not fit"):
        model_files.gguf_with_context(model, 2**32, tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*"))


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(model_files.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_files.cache_dir() == tmp_path / "xdg" / "responses-conformance"
    monkeypatch.setenv(model_files.CACHE_ENV, str(tmp_path / "own"))
    assert model_files.cache_dir() == tmp_path / "own"


def test_params_serve_a_patched_copy_with_scaled_rope_above_the_trained_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    xllamacpp = pytest.importorskip("xllamacpp")
    model = _gguf(tmp_path / "m.gguf", context=8192)
    monkeypatch.setattr(launcher, "model_path", lambda: model)
    monkeypatch.setenv(model_files.CACHE_ENV, str(tmp_path / "cache"))
    large = launcher._params(port=0, threads=1, context_tokens=16384)
    assert large.n_ctx == 16384
    assert Path(large.model.path).parent == tmp_path / "cache"
    assert model_files.trained_context(Path(large.model.path)) == 16384
    assert large.rope_freq_scale == pytest.approx(0.5)
    yarn = xllamacpp.llama_rope_scaling_type.LLAMA_ROPE_SCALING_TYPE_YARN
    assert (large.rope_scaling_type, large.yarn_orig_ctx) == (yarn, 8192)
    small = launcher._params(port=0, threads=1, context_tokens=4096)
    assert (small.n_ctx, Path(small.model.path), small.rope_freq_scale) == (4096, model, 0.0)
    assert small.rope_scaling_type != yarn  # inside the trained context nothing is scaled
    with pytest.raises(launcher.LauncherError, match="positive"):
        launcher._params(port=0, threads=1, context_tokens=0)


def test_router_cli_context_option() -> None:
    from reference_impl.__main__ import parse_args

    assert parse_args(["--embedded"]).context_tokens == launcher.DEFAULT_CONTEXT_TOKENS == 4096
    assert parse_args(["--embedded", "--context-tokens", "16384"]).context_tokens == 16384
    with pytest.raises(SystemExit):
        parse_args(["--embedded", "--context-tokens", "0"])
