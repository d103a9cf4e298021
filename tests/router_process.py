"""The reference router as a real process (``python -m reference_impl``), for tests that kill it,
restart it, or run two of them on one database.

The child dies with the test process (PDEATHSIG), so a crashed test run leaves no router behind.
"""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

from fixtures.capture import default_ssl_context
from fixtures.processes import die_with_parent, free_port
from upstream import DEFAULT_MODEL

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class RouterProcess:
    """One router process on a free port; ``client`` is an httpx2 client bound to it."""

    def __init__(self, db_url: str, backends: list[str], log_dir: Path, *, extra_args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "reference_impl", "--db", db_url, "--port", str(self.port), *extra_args]
        for backend in backends:
            args += ["--backend", backend]
        self.log_path = log_dir / f"router-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                         preexec_fn=die_with_parent)
        self._wait_listening()
        self.client = httpx2.Client(base_url=self.url, timeout=30, verify=default_ssl_context())

    def _wait_listening(self) -> None:
        expected = f"router listening on {self.url}"
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                if selector.select(timeout=0.2):
                    line = self.proc.stdout.readline().decode(errors="replace")
                    if line.strip() == expected:
                        return
                    if not line:  # EOF: the router exited
                        break
        finally:
            selector.close()
        self.kill()
        raise RuntimeError(f"router did not start on {self.url}: {self.log()}")

    def log(self) -> str:
        """The tail of the router's stderr."""
        return self.log_path.read_text(errors="replace")[-2000:]

    def create(self, **body: Any) -> dict:
        """POST /v1/responses (model defaults to the scripted upstream's); the JSON answer."""
        body.setdefault("model", DEFAULT_MODEL)
        resp = self.client.post("/v1/responses", json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def get(self, response_id: str) -> dict:
        """GET /v1/responses/{id} as JSON (200 expected)."""
        resp = self.client.get(f"/v1/responses/{response_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait_status(self, response_id: str, statuses: tuple[str, ...], timeout: float = 15) -> dict:
        """Poll until the response has one of ``statuses``; the last state seen otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.get(response_id)
            if got["status"] in statuses or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def terminate(self) -> int:
        """SIGTERM (graceful shutdown); the exit status."""
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL (a crash) if still running, and reap it."""
        if hasattr(self, "client"):
            self.client.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> "RouterProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()
