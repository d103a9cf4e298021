"""The embedded local model: llama.cpp's native server (``xllamacpp``) serving SmolLM2-135M.

Owns starting ``xllamacpp.Server`` on a free loopback port with the model and chat template that
``reference_impl.model_files`` finds, waiting until ``/health`` is ok, and stopping it again so
that the port is free.

``xllamacpp.Server`` runs llama.cpp's HTTP server and its main loop in native threads of this
process. There is no stop method: the C++ destructor stops the loop and closes the listening
socket, so :meth:`EmbeddedModel.stop` drops the only reference and collects it.

The context is configurable (``context_tokens``, default :data:`DEFAULT_CONTEXT_TOKENS`; Codex
CLI's ~9.1k-token prompt needs 16384). llama.cpp caps a slot's context at the model's trained
context (``llama.context_length`` in the GGUF, 8192 for SmolLM2), and neither ``kv_unified``,
``fit_params`` nor the RoPE settings lift that cap (checked on xllamacpp 2026.10). So for a larger
context the launcher serves a cached copy of the GGUF whose context length key is raised
(:func:`reference_impl.model_files.gguf_with_context`), and scales RoPE with YaRN
(``rope_freq_scale = trained / N``, the original context the trained one) so that positions stay
in the trained range. YaRN rather than linear interpolation, as measured on Codex CLI's own
9.2k-token first request at 16384 (default sampling, at most 300 tokens): the model stopped by
itself in 12 answers of 16 with YaRN and in 5 of 16 with linear scaling, and its answers read
as answers more often.

Manual use: ``python -m reference_impl.launcher [--port N] [--threads N] [--context-tokens N]``
serves until Ctrl-C.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .model_files import LauncherError, chat_template, gguf_with_context, model_path, trained_context

MODEL_ALIAS = "smollm2-135m-instruct"
HOST = "127.0.0.1"  # loopback only: the model server has no API key
# Inside SmolLM2's trained 8192, so no RoPE scaling changes the model's answers, and small enough
# that a truncated full window prefills quickly on two cores. Codex CLI's ~9.1k-token first
# request needs more: `make codex` asks for 16384.
DEFAULT_CONTEXT_TOKENS = 4096
# llama.cpp's own default (-1) spins up to all cores; the machine is shared, so cap it.
DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))
HEALTH_TIMEOUT_S = 60.0
HEALTH_POLL_S = 0.1
HTTP_PROBE_TIMEOUT_S = 2.0
QUIET_VERBOSITY = -1  # llama.cpp logs nothing below errors
STOP_TIMEOUT_S = 10.0


def _params(*, port: int, threads: int, context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> Any:
    import xllamacpp  # heavy native module: only loaded when a model is really started

    if context_tokens < 1:
        raise LauncherError(f"context_tokens must be positive, not {context_tokens}")
    source = model_path()
    trained = trained_context(source)
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf_with_context(source, context_tokens))
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = [HOST]
    params.port = port
    params.n_ctx = context_tokens
    if context_tokens > trained:
        # Positions up to context_tokens map into the trained range instead of running past it
        # (see the module docstring for why YaRN).
        params.rope_scaling_type = xllamacpp.llama_rope_scaling_type.LLAMA_ROPE_SCALING_TYPE_YARN
        params.yarn_orig_ctx = trained
        params.rope_freq_scale = trained / context_tokens
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
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
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


def start_embedded(
    *, threads: int | None = None, port: int = 0, context_tokens: int = DEFAULT_CONTEXT_TOKENS
) -> EmbeddedModel:
    """Start SmolLM2 under llama.cpp on ``127.0.0.1`` and return once ``/health`` is ok.

    ``context_tokens`` is the slot's context; above the trained context the model is served from
    a patched copy with scaled RoPE (see the module docstring). ``port=0`` lets the OS choose a free port (read back from the server, so there is no race
    between picking and binding). Raises :class:`LauncherError` when the model is missing or the
    server does not become healthy within ``HEALTH_TIMEOUT_S``.
    """
    import xllamacpp

    params = _params(port=port, threads=threads or DEFAULT_THREADS, context_tokens=context_tokens)
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:  # the binding raises plain RuntimeError on load/bind failures
        raise LauncherError(f"llama.cpp failed to start: {exc}") from exc
    root = str(server.listening_address).rstrip("/")
    bound_port = int(root.rsplit(":", 1)[1])
    handle = EmbeddedModel(base_url=f"{root}/v1", model=MODEL_ALIAS, port=bound_port, _server=server,
                           context_tokens=context_tokens)
    del server
    try:
        _wait_healthy(root, HEALTH_TIMEOUT_S)
        models = _get_json(f"{root}/v1/models")
        handle.model = models["data"][0]["id"]
        # llama.cpp lowers the slot context silently (to the trained context, or to fit memory):
        # say so now rather than with a context error on the first long prompt.
        served = handle.props().get("default_generation_settings", {}).get("n_ctx")
        if served != context_tokens:
            raise LauncherError(f"llama.cpp serves a {served}-token context, not {context_tokens}")
    except BaseException:
        handle.stop()
        raise
    return handle


def main(argv: list[str] | None = None) -> int:
    """Serve the embedded model until interrupted (manual use)."""
    parser = argparse.ArgumentParser(prog="python -m reference_impl.launcher", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="loopback port (0: any free port)")
    parser.add_argument("--threads", type=int, default=None, help=f"default {DEFAULT_THREADS}")
    parser.add_argument("--context-tokens", type=int, default=DEFAULT_CONTEXT_TOKENS,
                        help=f"context of the model's slot (default {DEFAULT_CONTEXT_TOKENS})")
    args = parser.parse_args(argv)
    with start_embedded(threads=args.threads, port=args.port,
                        context_tokens=args.context_tokens) as model:
        print(f"serving {model.model} at {model.base_url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
