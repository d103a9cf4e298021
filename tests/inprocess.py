"""The real suite run in this test process (``pytest.main``), for tests that run it many times.

A suite run in a subprocess pays for a new interpreter, pytest's start and the openai SDK's import
(2 to 3 s of CPU) before its first request; some 40 tests run the suite once each. In this process
those modules are already imported, so a run costs only its own cases.

Why not ``pytester.runpytest_inprocess``: pytester deletes every module a run imported once the
test ends, and the next run imports fresh copies while the modules kept from before still hold the
old ones (``cryptography``'s hash classes then fail their own ``isinstance`` checks). Here nothing
is unloaded: a module imported by one run serves the next, as in any long-lived process.

What a run leaves behind is what a subprocess would leave: the rule ids its findings emitted go to
the run's emitted-rules file (fixtures/rule_coverage.py), as a subprocess's would. The one
exception to "nothing is unloaded": modules imported from the run's own folder (a toy test file,
its conftest) are forgotten after it, since another run's folder holds other files of those names.
"""
from __future__ import annotations

import contextlib
import gc
import io
import os
import sys
import time
from pathlib import Path

import pytest

# Options every in-process run gets: no cache directory in the checkout, and its own temporary
# root (pytest's default root would prune the numbered directories of the outer run).
BASE_OPTIONS = ("-p", "no:cacheprovider")
# The entry-point plugins a suite run uses, which a run here does not autoload (see run_pytest).
SUITE_PLUGINS = ("-p", "fixtures.plugin", "-p", "pytest_timeout")


def run_pytest(args: list[str], workdir: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    """``pytest ARGS`` in this process from ``workdir``; its exit status and terminal output.

    ``monkeypatch`` undoes what the run changes in this process: the working directory and the
    environment (plugin autoloading off, as for the subprocess runs, and no outer ``PYTEST_ADDOPTS``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(workdir)
    # pytest puts the folders of the test files it imports first on sys.path; a copy here takes them.
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    # The run's terminal reporter writes to sys.stdout as it finds it at start: these buffers.
    # gc.freeze: pytest collects garbage twice as a run ends (to surface unraisable exceptions);
    # over this long-lived process's whole heap that took a third of a short run's CPU. Frozen,
    # the objects from before the run are skipped; the run's own are collected as before.
    gc.freeze()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            ret = pytest.main([*args, *BASE_OPTIONS, f"--basetemp={workdir / 'basetemp'}"])
    finally:
        gc.unfreeze()
        _forget_modules_under(workdir)
    return pytest.RunResult(ret, out.getvalue().splitlines(), err.getvalue().splitlines(),
                            time.monotonic() - start)


def _forget_modules_under(folder: Path) -> None:
    """Drop from ``sys.modules`` what was imported from ``folder``: pytest refuses to import a
    ``test_toy`` from another folder while one of that name is loaded."""
    prefix = str(folder.resolve()) + os.sep
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(prefix):
            del sys.modules[name]
