"""Run LiteLLM's proxy as a Responses target: llama.cpp's server first, the LiteLLM proxy in front.

Owns the two child processes and their lifetime: it starts the embedded model with the project's
launcher (``reference_impl.launcher``, run by the project venv's Python), waits until it is
healthy, starts ``litellm --config scripts/litellm/config.yaml`` from ``.venv-litellm`` on
loopback, waits until the model is listed, prints the base URL, and then serves until a signal
arrives or a child dies. On exit (SIGTERM, SIGINT/Ctrl-C, or a child dying) it stops both and
removes its log directory. The children also get SIGTERM should this process be killed outright
(Linux parent-death signal).

LiteLLM refuses to start without a master key. The key is read from ``LITELLM_MASTER_KEY``; when
that is unset a random one is made and printed, since whoever started this must send it.

Offline: LiteLLM runs with an environment built here, not the caller's: its bundled cost map
(``LITELLM_LOCAL_MODEL_COST_MAP``), telemetry vetoed, Hugging Face offline, and no variable that
could point it at a database, a cache, a tracer or a hosted provider.

Needs only the standard library, so any Python 3.9+ can run it; scripts/litellm/start.sh runs it
with the project venv. Install first with scripts/litellm/setup.sh.

    python scripts/litellm/serve.py [--port 4000] [--llamacpp-port N] [--state-dir DIR]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
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
DEFAULT_VENV = REPO / ".venv-litellm"
HOST = "127.0.0.1"  # loopback only
DEFAULT_PORT = 4000
MODEL_ID = "smollm2-135m-instruct"  # model_name in config.yaml, also the id reference_impl.launcher serves
KEY_VAR = "LITELLM_MASTER_KEY"
LLAMACPP_READY_S = 90.0
LITELLM_READY_S = 240.0  # the proxy imports a lot: slow on a busy 2-core machine
POLL_S = 0.25
PROBE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 10.0
# The only variables LiteLLM inherits; the rest (DATABASE_URL, REDIS_*, OTEL_*, provider keys, a
# caller's LITELLM_*) could make it reach a service or change its behaviour.
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # else it fetches the cost map from GitHub at import
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
    "HF_HUB_OFFLINE": "1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
PR_SET_PDEATHSIG = 1


class ServeError(RuntimeError):
    """A child could not be started or did not become ready."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def check_installed(venv: Path) -> None:
    """Raise ServeError naming setup.sh when the venv has no `litellm` command."""
    if not (venv / "bin" / "litellm").is_file():
        raise ServeError(f"{venv} has no LiteLLM: run scripts/litellm/setup.sh")


def litellm_env(*, llamacpp_url: str, master_key: str) -> dict[str, str]:
    """The whole environment LiteLLM runs with."""
    env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
    env.update(LITELLM_ENV)
    env.update({"LITELLM_LLAMACPP_URL": llamacpp_url, KEY_VAR: master_key})
    return env


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if this supervisor is SIGKILLed, the child gets
    # SIGTERM instead of living on and holding its port.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _get(url: str, key: Optional[str] = None) -> Optional[bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as resp:
            return resp.read() if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _lists_model(body: bytes) -> bool:
    try:
        return any(m.get("id") == MODEL_ID for m in json.loads(body).get("data", []))
    except (ValueError, AttributeError):
        return False


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Supervisor:
    """The two children, started in order and stopped together."""

    def __init__(self, *, venv: Path, project_python: str, port: int, llamacpp_port: int,
                 state_dir: Path, threads: Optional[int], master_key: str) -> None:
        self.venv, self.project_python = venv, project_python
        self.port, self.llamacpp_port = port, llamacpp_port
        self.state_dir, self.threads, self.master_key = state_dir, threads, master_key
        self.children: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    @property
    def base_url(self) -> str:
        """The LiteLLM Responses API root."""
        return f"http://{HOST}:{self.port}/v1"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.state_dir / f"{name}.log"
        # cwd is the state directory, not the repo: LiteLLM loads a .env file from its working
        # directory, and a developer's .env must not change what is measured.
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(argv, cwd=self.state_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.children.append((name, popen, log_path))
        return popen

    def _wait_ready(self, name: str, popen: subprocess.Popen[bytes], url: str, timeout: float,
                    key: Optional[str] = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise ServeError(f"{name} exited with {popen.returncode}:\n{self._tail(name)}")
            body = _get(url, key)
            if body is not None and (key is None or _lists_model(body)):
                return
            time.sleep(POLL_S)
        raise ServeError(f"{name} not ready within {timeout:.0f}s:\n{self._tail(name)}")

    def _tail(self, name: str) -> str:
        return next((_log_tail(p) for n, _, p in self.children if n == name), "(no log)")

    def start(self) -> None:
        """Start llama.cpp, then LiteLLM; raise ServeError (children stopped by the caller) on failure."""
        check_installed(self.venv)
        argv = [self.project_python, "-m", "reference_impl.launcher", "--port", str(self.llamacpp_port)]
        if self.threads:
            argv += ["--threads", str(self.threads)]
        # the launcher is run from the repo (reference_impl must import), with the caller's env
        llamacpp = self._spawn("llamacpp", argv, {**os.environ, "PYTHONPATH": str(REPO)})
        self._wait_ready("llamacpp", llamacpp, f"http://{HOST}:{self.llamacpp_port}/health", LLAMACPP_READY_S)

        env = litellm_env(llamacpp_url=f"http://{HOST}:{self.llamacpp_port}/v1", master_key=self.master_key)
        proxy = self._spawn("litellm", [str(self.venv / "bin" / "litellm"), "--config", str(CONFIG),
                                        "--host", HOST, "--port", str(self.port), "--num_workers", "1"], env)
        self._wait_ready("litellm", proxy, f"{self.base_url}/models", LITELLM_READY_S, key=self.master_key)

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
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="LiteLLM port (default %(default)s; 0 = free)")
    parser.add_argument("--llamacpp-port", type=int, default=0, help="llama.cpp port (default: a free one)")
    parser.add_argument("--state-dir", type=Path, help="directory for the logs, kept (default: a temp dir, removed)")
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get("LITELLM_VENV", DEFAULT_VENV)))
    default_python = REPO / ".venv" / "bin" / "python"
    parser.add_argument("--project-python", default=str(default_python if default_python.exists() else sys.executable),
                        help="Python with reference_impl and xllamacpp (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: the launcher's)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """Serve until a signal or a child's death; return the exit status."""
    args = _parse(argv)
    temp = None if args.state_dir else tempfile.mkdtemp(prefix="litellm-state-")
    state_dir = (args.state_dir or Path(temp)).resolve()  # type: ignore[arg-type]
    state_dir.mkdir(parents=True, exist_ok=True)
    given_key = os.environ.get(KEY_VAR)
    master_key = given_key or f"sk-{secrets.token_hex(24)}"
    supervisor = Supervisor(venv=args.venv.resolve(), project_python=args.project_python,
                            port=args.port or free_port(), llamacpp_port=args.llamacpp_port or free_port(),
                            state_dir=state_dir, threads=args.threads, master_key=master_key)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        supervisor.start()
        # the key is printed only when this process made it: a caller's key is never echoed
        key_note = f"master key from ${KEY_VAR}" if given_key else f"master key {master_key}"
        print(f"LiteLLM Responses API at {supervisor.base_url} (model {MODEL_ID}, {key_note}); "
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
