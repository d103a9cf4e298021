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
