"""Targets the suite starts leave nothing behind: no process, no listening port."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from fixtures import targets
from fixtures.processes import port_is_free
from reference_impl import model_files

needs_model = pytest.mark.skipif(not model_files.model_available(), reason="the model wheel is not installed")
GONE_WITHIN_S = 15.0


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_WITHIN_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie child of ours counts as gone once reaped
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.1)
    return False


def _assert_stopped(process: targets.Process) -> None:
    pid, port = process.popen.pid, process.port
    process.stop()
    assert _gone(pid), f"target process {pid} is still alive"
    assert port_is_free(port), f"port {port} still accepts connections"
    process.stop()  # idempotent


def test_the_router_over_recordings_stops_cleanly() -> None:
    _assert_stopped(targets.start_router(model="smollm2-135m-instruct", backend="replay"))


@needs_model
def test_the_router_with_the_embedded_model_stops_cleanly() -> None:
    _assert_stopped(targets.start_router(model="smollm2-135m-instruct", backend="live"))


@needs_model
def test_llamacpp_stops_cleanly() -> None:
    _assert_stopped(targets.start_llamacpp())


def test_a_target_dies_with_a_killed_suite() -> None:
    """Teardown cannot run when the suite is SIGKILLed; the kernel still stops the target."""
    script = ("from fixtures import targets; import time; "
              "p = targets.start_router(model='smollm2-135m-instruct', backend='replay'); "
              "print(p.popen.pid, p.port, flush=True); time.sleep(60)")
    suite = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=targets.REPO)
    try:
        pid, port = map(int, suite.stdout.readline().split())  # type: ignore[union-attr]
        suite.send_signal(signal.SIGKILL)
        suite.wait(10)
        assert _gone(pid), f"the target {pid} outlived the killed suite"
        assert port_is_free(port)
    finally:
        suite.kill()
