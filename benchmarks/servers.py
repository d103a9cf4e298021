"""Processes under test: the canned upstream and the router, each a real uvicorn server.

Each runs in its own process (and process group) on a free loopback port, so the load generator,
the router and the upstream never share a GIL. `Servers` starts both and stops only what it
started, on exit or error.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

from fixtures.processes import free_port, stop_group

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_SECONDS = 0.05


class Process:
    """One child server: started with `start`, ready once ``ready_path`` answers, stopped with `stop`."""

    def __init__(self, name: str, argv: list[str], port: int, ready_path: str, log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log_dir / f"{name}-{port}.log"

    def start(self) -> None:
        """Start the process and wait until it answers, or raise with the tail of its log."""
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx2.get(self.url + self.ready_path, timeout=1).status_code < 500:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(POLL_SECONDS)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not start on {self.url}:\n{tail}")

    @property
    def pid(self) -> int:
        """The process id (for its CPU and memory accounting, benchmarks/proc.py)."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM the process group this object started, then SIGKILL it if it lingers."""
        if self.proc is not None:
            stop_group(self.proc, STOP_TIMEOUT)


def upstream_process(log_dir: Path) -> Process:
    """The canned upstream (benchmarks/upstream.py) on a free port."""
    port = free_port()
    argv = [sys.executable, str(REPO / "benchmarks" / "upstream.py"), "--port", str(port)]
    return Process("upstream", argv, port, "/v1/models", log_dir)


def router_process(backend_url: str, db_path: Path) -> Process:
    """The router CLI in front of ``backend_url`` with its SQLite store at ``db_path``."""
    port = free_port()
    argv = [sys.executable, "-m", "reference_impl", "--backend", backend_url,
            "--db", f"sqlite:///{db_path}", "--port", str(port)]
    return Process("router", argv, port, "/health", db_path.parent)


class Servers:
    """Context manager: the upstream, then the router in front of it; logs go beside ``db_path``."""

    def __init__(self, db_path: Path) -> None:
        self.upstream = upstream_process(db_path.parent)
        self.router: Process | None = None
        self.db_path = db_path

    def __enter__(self) -> "Servers":
        try:
            self.upstream.start()
            self.router = router_process(self.upstream.url, self.db_path)
            self.router.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.router is not None:
            self.router.stop()
        self.upstream.stop()
