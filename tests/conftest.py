"""Fixtures shared by the router tests: a scripted Chat Completions upstream and a router on it.

A module may override any of them (test_faults.py tracks its upstream, test_router_upstream.py
shortens the router's read timeout).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from upstream import Router, ScriptedUpstream, serve_upstream


@pytest.fixture(scope="module")
def shared_upstream() -> Iterator[ScriptedUpstream]:
    """One scripted upstream per module (starting a server per test would dominate the run)."""
    yield from serve_upstream()


@pytest.fixture
def upstream(shared_upstream: ScriptedUpstream) -> ScriptedUpstream:
    """The module's upstream, with its script and request log reset."""
    shared_upstream.reset()
    return shared_upstream


@pytest.fixture
def router(upstream: ScriptedUpstream, tmp_path: Path) -> Iterator[Router]:
    """A router on a fresh SQLite file in front of ``upstream``."""
    with Router(tmp_path / "db.sqlite", [upstream.url]) as r:
        yield r


# The plugins pyproject.toml's addopts leave out of every run: a pytester run starts in its own
# directory, where that file does not apply, and loading them cost about 1.5 s of CPU per run.
UNUSED_PLUGINS = "-p no:schemathesis -p no:hypothesispytest"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's ``pytester``, whose runs leave out the plugins the repository's own runs leave out."""
    # pytester clears PYTEST_ADDOPTS when it is set up; this runs after, so its runs see this.
    monkeypatch.setenv("PYTEST_ADDOPTS", UNUSED_PLUGINS)
    return pytester


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Keep each module under tests/ on one worker (tests/scheduling.py says why)."""
    from scheduling import make_scheduler  # xdist is imported only when it is the one asking

    return make_scheduler(config, log)
