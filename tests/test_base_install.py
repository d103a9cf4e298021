"""The base install judges a target without any extra (pyproject.toml's optional-dependencies).

One pytest run in a child process where the extras' modules cannot be imported, as in a fresh
`pip install responses-conformance`, serves the tests that read it: the whole suite must collect,
and what needs an extra (an MCP case, a client scenario) must be skipped as not exercised, naming
the extra, never crash. (Each test ran its own child before: three interpreters and three
collections of the suite where one does.) The real install (size, time, a full run
from an empty folder) is measured by hand and stated in the README: it needs PyPI.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fixtures import paths

pytestmark = pytest.mark.unit

# Top-level modules of the extras (and of their own dependencies that the base does not bring).
# Not the dev extra's schemathesis and hypothesis: they are pytest plugins here, which pytest itself
# inspects at start; the harness never imports them.
EXTRAS_MODULES = ("mcp", "mcp_types", "starlette", "uvicorn", "cryptography", "psycopg", "xllamacpp",
                  "orjson", "uvloop", "httptools")
# None in sys.modules makes `import x` raise ModuleNotFoundError and importlib.util.find_spec
# return None, exactly as when the package is not installed.
BLOCKED_RUN = """
import sys
sys.modules.update(dict.fromkeys(sys.argv[1].split(",")))
import pytest
sys.exit(pytest.main(sys.argv[2:]))
"""
# Nothing listens on port 9 (discard): a case that got past its skip would fail, not hang.
UNREACHABLE = ["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--request-timeout", "5"]


# The two cases that need an extra, each named by its file: -k over the whole suite, so the run
# also collects every module without the extras.
SELECTED = "(test_mcp.py and credentials_not_stored) or (test_clients.py and openai-agents-runs-a-plain-turn)"


def run_without_extras(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", BLOCKED_RUN, ",".join(EXTRAS_MODULES), "-c", str(paths.SUITE_INI),
               f"--rootdir={paths.PACKAGE_ROOT}", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def without_extras(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """The whole suite, without the extras, running the two selected cases."""
    return run_without_extras(str(paths.SUITES), "-rs", "-q", *UNREACHABLE, "-k", SELECTED,
                              cwd=tmp_path_factory.mktemp("base"))


def test_the_whole_suite_collects_without_the_extras(without_extras: subprocess.CompletedProcess[str]) -> None:
    done = without_extras
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]  # a module failing to import: 2
    # Every test but the two selected ones was collected, then deselected: the suite, not one file.
    assert re.search(r"^2 skipped, \d{3,} deselected in ", done.stdout.splitlines()[-1]), done.stdout[-500:]


def test_an_mcp_case_is_not_exercised_without_the_mcp_extra(without_extras: subprocess.CompletedProcess[str]) -> None:
    assert "skipped" in without_extras.stdout and "failed" not in without_extras.stdout, without_extras.stdout[-2000:]
    assert "responses-conformance[mcp]" in without_extras.stdout, without_extras.stdout[-2000:]


def test_a_client_scenario_is_not_exercised_without_the_clients_extra(
        without_extras: subprocess.CompletedProcess[str]) -> None:
    assert "responses-conformance[clients]" in without_extras.stdout, without_extras.stdout[-2000:]


def test_every_file_the_packages_read_is_packaged() -> None:
    """Cases, schemas, locks, templates and runner scripts are package data, or an install lacks
    them: every file under the three trees is a module of a found package or matches a glob of
    pyproject.toml's package-data, the way setuptools reads them."""
    import setuptools  # here: importing it cost every xdist worker collecting this module 0.1 s

    config = tomllib.loads((paths.PACKAGE_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = setuptools.find_packages(str(paths.PACKAGE_ROOT), include=config["packages"]["find"]["include"])
    root = paths.PACKAGE_ROOT
    packaged = {f for package in packages for f in (root / package.replace(".", "/")).glob("*.py")}
    for package, patterns in config["package-data"].items():
        base = root / package.replace(".", "/")
        packaged |= {f for pattern in patterns for f in base.glob(pattern) if f.is_file()}
    every = {f for top in ("fixtures", "suites", "reference_impl") for f in (root / top).rglob("*")
             if f.is_file() and "__pycache__" not in f.parts}
    assert sorted(str(f.relative_to(root)) for f in every - packaged) == []
