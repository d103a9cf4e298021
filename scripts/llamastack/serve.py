"""Run llama-stack (OGX) as a Responses target: llama.cpp's server first, llama-stack in front.

Owns the two child processes and their lifetime: it starts the embedded model with the project's
launcher (``reference_impl.launcher``, run by the project venv's Python), waits until it is
healthy, starts ``llama stack run scripts/llamastack/config.yaml`` from ``.venv-llamastack`` on
loopback with a fresh SQLite state directory, waits until the model is listed, prints the base
URL, and then serves until a signal arrives or a child dies. On exit (SIGTERM, SIGINT/Ctrl-C, or
a child dying) it stops both and removes the state directory. The children also get SIGTERM
should this process be killed outright (Linux parent-death signal).

Needs only the standard library, so any Python 3.9+ can run it; scripts/llamastack/start.sh runs
it with the project venv. Install first with scripts/llamastack/setup.sh.

    python scripts/llamastack/serve.py [--port 8321] [--llamacpp-port N] [--state-dir DIR]
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIG = HERE / "config.yaml"
DEFAULT_VENV = REPO / ".venv-llamastack"
HOST = "127.0.0.1"  # loopback only: neither server has authentication
DEFAULT_PORT = 8321
BACKEND_MODEL = "smollm2-135m-instruct"  # the id reference_impl.launcher serves
PROVIDER_ID = "llama-cpp"  # provider_id in config.yaml; llama-stack prefixes model ids with it
MODEL_ID = f"{PROVIDER_ID}/{BACKEND_MODEL}"
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
LLAMACPP_READY_S = 90.0
LLAMASTACK_READY_S = 240.0  # imports pandas, sklearn, faiss...: slow on a busy 2-core machine
POLL_S = 0.25
PROBE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 10.0
# Environment that could make llama-stack export telemetry or reach the network.
SCRUBBED_ENV_PREFIXES = ("OTEL_", "LLAMA_STACK_")
PR_SET_PDEATHSIG = 1


class ServeError(RuntimeError):
    """A child could not be started or did not become ready."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def tiktoken_cache_dir(venv: Path) -> Path:
    """Where setup.sh put cl100k_base (tiktoken looks for the file named sha1 of its URL)."""
    return venv / "tiktoken-cache"


def check_installed(venv: Path) -> None:
    """Raise ServeError naming setup.sh when the venv or the tiktoken file is missing."""
    name = hashlib.sha1(TIKTOKEN_URL.encode()).hexdigest()
    if not (venv / "bin" / "llama").is_file():
        raise ServeError(f"{venv} has no llama-stack: run scripts/llamastack/setup.sh")
    if not (tiktoken_cache_dir(venv) / name).is_file():
        raise ServeError("tiktoken's cl100k_base is missing: run scripts/llamastack/setup.sh")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if this supervisor is SIGKILLed, the child gets
    # SIGTERM instead of living on and holding its port.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _get(url: str) -> Optional[bytes]:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as resp:
            return resp.read() if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Supervisor:
    """The two children, started in order and stopped together."""

    def __init__(self, *, venv: Path, project_python: str, port: int, llamacpp_port: int,
                 state_dir: Path, threads: Optional[int]) -> None:
        self.venv, self.project_python = venv, project_python
        self.port, self.llamacpp_port = port, llamacpp_port
        self.state_dir, self.threads = state_dir, threads
        self.children: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    @property
    def base_url(self) -> str:
        """The llama-stack Responses API root."""
        return f"http://{HOST}:{self.port}/v1"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.state_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.children.append((name, popen, log_path))
        return popen

    def _wait_ready(self, name: str, popen: subprocess.Popen[bytes], url: str, timeout: float,
                    want: Optional[str] = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise ServeError(f"{name} exited with {popen.returncode}:\n{self._tail(name)}")
            body = _get(url)
            if body is not None and (want is None or want in body.decode(errors="replace")):
                return
            time.sleep(POLL_S)
        raise ServeError(f"{name} not ready within {timeout:.0f}s:\n{self._tail(name)}")

    def _tail(self, name: str) -> str:
        return next((_log_tail(p) for n, _, p in self.children if n == name), "(no log)")

    def start(self) -> None:
        """Start llama.cpp, then llama-stack; raise ServeError (children stopped) on failure."""
        check_installed(self.venv)
        (self.state_dir / "files").mkdir(parents=True, exist_ok=True)
        argv = [self.project_python, "-m", "reference_impl.launcher", "--port", str(self.llamacpp_port)]
        if self.threads:
            argv += ["--threads", str(self.threads)]
        llamacpp = self._spawn("llamacpp", argv, dict(os.environ))
        self._wait_ready("llamacpp", llamacpp, f"http://{HOST}:{self.llamacpp_port}/health", LLAMACPP_READY_S)

        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}
        env.update({
            "LLAMA_CPP_URL": f"http://{HOST}:{self.llamacpp_port}/v1",
            "LLAMASTACK_MODEL": BACKEND_MODEL,
            "LLAMASTACK_STATE": str(self.state_dir),
            "TIKTOKEN_CACHE_DIR": str(tiktoken_cache_dir(self.venv)),
            "HF_HUB_OFFLINE": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        stack = self._spawn("llamastack", [str(self.venv / "bin" / "llama"), "stack", "run", str(CONFIG),
                                           "--port", str(self.port)], env)
        self._wait_ready("llamastack", stack, f"{self.base_url}/models", LLAMASTACK_READY_S, want=MODEL_ID)

    def first_exited(self) -> Optional[str]:
        """The name of a child that has exited, if any."""
        return next((n for n, p, _ in self.children if p.poll() is not None), None)

    def stop(self) -> None:
        """SIGTERM every child (last started first), SIGKILL stragglers; idempotent."""
        for _, popen, _ in reversed(self.children):
            if popen.poll() is None:
                popen.terminate()
        for _, popen, _ in reversed(self.children):
            try:
                popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(STOP_TIMEOUT_S)


def _parse(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="llama-stack port (default %(default)s; 0 = free)")
    parser.add_argument("--llamacpp-port", type=int, default=0, help="llama.cpp port (default: a free one)")
    parser.add_argument("--state-dir", type=Path, help="SQLite/files directory to keep (default: a temp dir, removed)")
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get("LLAMASTACK_VENV", DEFAULT_VENV)))
    default_python = REPO / ".venv" / "bin" / "python"
    parser.add_argument("--project-python", default=str(default_python if default_python.exists() else sys.executable),
                        help="Python with reference_impl and xllamacpp (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: the launcher's)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """Serve until a signal or a child's death; return the exit status."""
    args = _parse(argv)
    temp = None if args.state_dir else tempfile.mkdtemp(prefix="llamastack-state-")
    state_dir = (args.state_dir or Path(temp)).resolve()  # type: ignore[arg-type]
    state_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(venv=args.venv.resolve(), project_python=args.project_python,
                            port=args.port or free_port(), llamacpp_port=args.llamacpp_port or free_port(),
                            state_dir=state_dir, threads=args.threads)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        supervisor.start()
        print(f"llama-stack Responses API at {supervisor.base_url} (model {MODEL_ID}); "
              f"llama.cpp at http://{HOST}:{supervisor.llamacpp_port}/v1; logs in {state_dir}", flush=True)
        while (dead := supervisor.first_exited()) is None:
            time.sleep(POLL_S * 2)
        print(f"{dead} exited; stopping:\n{supervisor._tail(dead)}", file=sys.stderr, flush=True)
        status = 1
    except ServeError as exc:
        print(f"serve: {exc}", file=sys.stderr, flush=True)
        status = 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


if __name__ == "__main__":
    sys.exit(main())
