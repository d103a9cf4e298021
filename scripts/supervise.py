"""llama.cpp with a gateway in front of it, supervised as one unit: the engine of scripts/*/serve.py.

Each third-party target (scripts/llamastack/serve.py, scripts/litellm/serve.py) puts a different
gateway in front of the same embedded model. What they share lives here: start the model with the
project's launcher (``reference_impl.launcher``, run by the project venv's Python) and wait for its
/health; start the gateway (a subclass of :class:`Supervisor` says how) and wait until it lists the
model; print where it is; serve until a signal arrives or a child dies; then stop both, last
started first, and remove a temporary state directory. The children also get SIGTERM should the
supervisor be killed outright (Linux parent-death signal).

Imports only the standard library and ``fixtures.processes`` (standard library alone at import),
so any Python 3.9+ with the repository on ``sys.path`` runs it; the gateways themselves run from
their own venvs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from fixtures.processes import dying_with_parent, free_port

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only
LLAMACPP_READY_S = 90.0
POLL_S = 0.25
PROBE_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 10.0


class ServeError(RuntimeError):
    """A child could not be started or did not become ready."""


def get(url: str, key: Optional[str] = None) -> Optional[bytes]:
    """The body of a 200 answer to GET ``url`` (with ``key`` as a bearer token), else None."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as resp:
            return resp.read() if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a placeholder when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Supervisor:
    """llama.cpp, then one gateway in front of it, started in order and stopped together.

    A subclass names the gateway (``label``), checks its install, starts it (``start_gateway``)
    and may say which directory the children run in (``cwd``) and what else to print (``note``).
    """

    label = "gateway"

    def __init__(self, *, venv: Path, project_python: str, port: int, llamacpp_port: int,
                 state_dir: Path, threads: Optional[int]) -> None:
        self.venv, self.project_python = venv, project_python
        self.port, self.llamacpp_port = port, llamacpp_port
        self.state_dir, self.threads = state_dir, threads
        self.llamacpp_url = f"http://{HOST}:{llamacpp_port}/v1"  # the gateway's upstream
        self.children: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    @property
    def base_url(self) -> str:
        """The gateway's Responses API root."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def cwd(self) -> Path:
        """The children's working directory."""
        return REPO

    def check_installed(self) -> None:
        """Raise ServeError naming the setup script when the gateway's venv is not ready."""
        raise NotImplementedError

    def start_gateway(self) -> None:
        """Start the gateway in front of the running llama.cpp and wait until it is ready."""
        raise NotImplementedError

    def note(self) -> str:
        """What the start banner says after the model id."""
        return ""

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start a child with its output in ``<state_dir>/<name>.log``; it is stopped by ``stop``."""
        log_path = self.state_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(argv, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=dying_with_parent(signal.SIGTERM))
        self.children.append((name, popen, log_path))
        return popen

    def wait_ready(self, name: str, popen: subprocess.Popen[bytes], url: str, timeout: float, *,
                   key: Optional[str] = None, ready: Optional[Callable[[bytes], bool]] = None) -> None:
        """Poll ``url`` until it answers 200 (and ``ready`` accepts the body); ServeError if the
        child exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                raise ServeError(f"{name} exited with {popen.returncode}:\n{self.tail(name)}")
            body = get(url, key)
            if body is not None and (ready is None or ready(body)):
                return
            time.sleep(POLL_S)
        raise ServeError(f"{name} not ready within {timeout:.0f}s:\n{self.tail(name)}")

    def tail(self, name: str) -> str:
        """The end of a child's log."""
        return next((log_tail(p) for n, _, p in self.children if n == name), "(no log)")

    def start(self) -> None:
        """Start llama.cpp, then the gateway; raise ServeError (children stopped by the caller) on failure."""
        self.check_installed()
        argv = [self.project_python, "-m", "reference_impl.launcher", "--port", str(self.llamacpp_port)]
        if self.threads:
            argv += ["--threads", str(self.threads)]
        # the launcher runs with the caller's environment; reference_impl must import, which it
        # does from the repository's directory and elsewhere only through PYTHONPATH
        env = dict(os.environ) if self.cwd == REPO else {**os.environ, "PYTHONPATH": str(REPO)}
        llamacpp = self.spawn("llamacpp", argv, env)
        self.wait_ready("llamacpp", llamacpp, f"http://{HOST}:{self.llamacpp_port}/health", LLAMACPP_READY_S)
        self.start_gateway()

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


def parser(doc: str, *, gateway: str, default_port: int, venv_var: str, default_venv: Path,
           state_dir_help: str) -> argparse.ArgumentParser:
    """The command line every serve.py takes (``doc``'s first paragraph is its description)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=default_port, help=f"{gateway} port (default %(default)s; 0 = free)")
    parser.add_argument("--llamacpp-port", type=int, default=0, help="llama.cpp port (default: a free one)")
    parser.add_argument("--state-dir", type=Path, help=state_dir_help)
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get(venv_var, default_venv)))
    default_python = REPO / ".venv" / "bin" / "python"
    parser.add_argument("--project-python", default=str(default_python if default_python.exists() else sys.executable),
                        help="Python with reference_impl and xllamacpp (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: the launcher's)")
    return parser


def serve(args: argparse.Namespace, make: Callable[..., Supervisor], *, temp_prefix: str) -> int:
    """Start ``make(**common arguments)``'s children and serve until a signal or a child's death.

    Returns the exit status: 0 after a signal, 1 when a child failed to start or died.
    """
    temp = None if args.state_dir else tempfile.mkdtemp(prefix=temp_prefix)
    state_dir = (args.state_dir or Path(temp)).resolve()  # type: ignore[arg-type]
    state_dir.mkdir(parents=True, exist_ok=True)
    supervisor = make(venv=args.venv.resolve(), project_python=args.project_python,
                      port=args.port or free_port(), llamacpp_port=args.llamacpp_port or free_port(),
                      state_dir=state_dir, threads=args.threads)

    def on_signal(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        supervisor.start()
        print(f"{supervisor.label} Responses API at {supervisor.base_url}{supervisor.note()}; "
              f"llama.cpp at {supervisor.llamacpp_url}; logs in {state_dir}", flush=True)
        while (dead := supervisor.first_exited()) is None:
            time.sleep(POLL_S * 2)
        print(f"{dead} exited; stopping:\n{supervisor.tail(dead)}", file=sys.stderr, flush=True)
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
