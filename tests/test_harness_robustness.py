"""The harness against deliberately wrong targets (tests/misbehaving.py): the real suite finishes,
fails (never errors or stalls), and names the problem.

Each run sends two real cases, one plain and one streamed, to one behaviour with a 3 s request
timeout (half a second for the behaviours that go silent), as ``pytest suites/... --base-url ...`` in this process (tests/inprocess.py: a subprocess
would pay pytest's start and the SDK's import again for each of the twelve runs). Each case has a
hang guard (pytest-timeout), not a speed assertion. The ``conformant`` control must pass, so every
failure below comes from the behaviour's one corruption.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inprocess import run_pytest
from misbehaving import BEHAVIOURS, build_app
from upstream import ServerThread

# One worker runs the whole module (make test: --dist loadgroup): the twelve suite runs of `runs`
# are then made once, not once per worker that gets one of its tests.
pytestmark = pytest.mark.xdist_group("robustness")

REPO = Path(__file__).resolve().parent.parent
REQUEST_TIMEOUT_S = 3
# Behaviours that never answer (or stop answering) fail on the request timeout whatever its length,
# so theirs is short: each of their runs waited 2 x 3 s for nothing. Half a second still leaves the
# loopback connect (done by the kernel, whatever the load) far inside it. trickle keeps the 3 s, the
# margin that lets its half-second keep-alives outrun the per-read timeout on a loaded machine.
SILENT_TIMEOUT_S = 0.5
TIMEOUTS_S = {"hang": SILENT_TIMEOUT_S, "stall_mid_stream": SILENT_TIMEOUT_S}
RUN_GUARD_S = 120  # a stalled case is failed here (pytest-timeout): a hang guard, not a speed target
CASES = ("a-message-with-string-content-is-accepted", "a-streamed-item-list-input-follows-the-grammar")
# The plugins a run needs: fixtures.plugin and fixtures.results come from the repo's conftest.py.
PLUGINS = ("-p", "pytest_timeout")
SUITE_FILES = ("suites/test_core.py", "suites/test_streaming.py")
# behaviour -> what the failure report must say (a rule id or a transport error)
EXPECTED: dict[str, str] = {
    "hang": "transport: ReadTimeout",
    "stall_mid_stream": "transport: ReadTimeout",
    "trickle": "transport: DeadlineExceeded",
    "invalid_json": "http.json",
    "html": "http.content_type",
    "truncated_sse": "grammar [lifecycle.terminal_missing]",
    "cut_mid_frame": "grammar [frame.truncated]",
    "invalid_json_event": "grammar [frame.json]",
    "unknown_event": "grammar [event.unknown_type]",
    "sequence_gap": "grammar [sequence.contiguous]",
    "no_sequence_numbers": "grammar [sequence.present]",
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """Every misbehaving target, on one loopback port."""
    with ServerThread(build_app()) as running:
        yield running


@dataclass(frozen=True)
class Run:
    """One finished suite run."""

    returncode: int | None  # None: the run never finished
    output: str

    def outcomes(self) -> dict[str, int]:
        """pytest's closing counts, e.g. {"failed": 2}."""
        last = self.output.strip().splitlines()[-1] if self.output.strip() else ""
        return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def suite_args(base_url: str, request_timeout_s: float = REQUEST_TIMEOUT_S) -> list[str]:
    """The real suite, two cases, against ``base_url``."""
    return [
        *(str(REPO / f) for f in SUITE_FILES), f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"),
        *PLUGINS, "-o", f"timeout={RUN_GUARD_S}",
        "--base-url", base_url, "--model", "m", "--request-timeout", str(request_timeout_s),
        "-k", " or ".join(CASES),
    ]


@pytest.fixture(scope="module")
def runs(server: ServerThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every behaviour's run, one after the other (a run changes this process's directory)."""
    root = tmp_path_factory.mktemp("robustness")
    done: dict[str, Run] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in BEHAVIOURS:
            result = run_pytest(suite_args(f"{server.url}/{name}/v1", TIMEOUTS_S.get(name, REQUEST_TIMEOUT_S)),
                                root / name, monkeypatch)
            done[name] = Run(int(result.ret), "\n".join([*result.outlines, *result.errlines]))
    yield done


def test_every_behaviour_has_an_expectation() -> None:
    assert set(EXPECTED) == set(BEHAVIOURS) - {"conformant"}


def test_the_conformant_control_passes(runs: dict[str, Run]) -> None:
    run = runs["conformant"]
    outcomes = run.outcomes()
    assert run.returncode == 0 and outcomes.get("passed") == len(CASES) and not outcomes.get("failed") \
        and not outcomes.get("errors"), run.output[-3000:]


@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
def test_a_misbehaving_target_fails_clearly(runs: dict[str, Run], behaviour: str) -> None:
    run = runs[behaviour]
    assert run.returncode is not None, f"the suite stalled past {RUN_GUARD_S}s:\n{run.output[-3000:]}"
    # Failed, not errored: the harness judged the answer instead of crashing on it.
    outcomes = run.outcomes()
    assert run.returncode == 1 and outcomes.get("failed") == len(CASES) and not outcomes.get("errors") \
        and not outcomes.get("passed"), run.output[-3000:]
    assert run.output.count(EXPECTED[behaviour]) >= len(CASES), \
        f"{EXPECTED[behaviour]!r} not named for every case:\n{run.output[-3000:]}"
