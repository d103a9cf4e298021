"""fixtures/tracebacks.py: failures render exactly as pytest renders them, parsing each file once."""
from __future__ import annotations

import pytest
from _pytest._code import code

from fixtures import tracebacks

pytestmark = pytest.mark.unit


def _fails(depth: int) -> int:
    if depth:
        return _fails(depth - 1) + 1
    table = {
        "a": 1,
    }
    return table[
        "missing"
    ]


def test_a_traceback_renders_the_same_and_parses_its_files_once(monkeypatch: pytest.MonkeyPatch) -> None:
    tracebacks.install()
    with pytest.raises(KeyError) as excinfo:
        _fails(3)
    tracebacks._parsed.cache_clear()
    reused = str(excinfo.getrepr(style="long"))
    again = str(excinfo.getrepr(style="long"))
    # The first rendering parses this file (pytest's own cache serves its other entries in it), the
    # second takes the same tree: pytest alone would have parsed it again.
    assert (tracebacks._parsed.cache_info().misses, tracebacks._parsed.cache_info().hits) == (1, 1)
    monkeypatch.setattr(code, "getstatementrange_ast", code.getstatementrange_ast.original)
    assert reused == again == str(excinfo.getrepr(style="long"))
    assert 'return table[' in reused and '"missing"' in reused  # the whole statement, both lines


def test_install_is_idempotent() -> None:
    tracebacks.install()
    patched = code.getstatementrange_ast
    tracebacks.install()
    assert code.getstatementrange_ast is patched and patched.original.__module__ == "_pytest._code.source"
