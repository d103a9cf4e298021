"""How ``make test`` (``pytest -n 3 --dist loadgroup``) shares the tests between xdist workers.

pytest-xdist 3.8 groups ``xdist_group`` tests by appending ``@group`` to each item's node id on
the worker, through ``item._nodeid``. pytest 9 builds ``nodeid`` from another attribute, so the
suffix never reaches the controller: every test became its own work unit, and a module's
module-scoped fixtures (the robustness module's twelve suite runs, the fuzz router, the
launcher's real model) were built once on each worker that got one of its tests, and again each
time its tests were interleaved with another module's.

Here a test under ``tests/`` belongs to its module's unit, so one worker runs the whole module and
builds its module fixtures once. The real clients' scenarios (suites/test_clients.py) and the
client deviation tests (tests/test_deviations_clients.py) are one unit together: the worker that
runs them starts one zygote per client (fixtures/clients/forkserver.py), which imports the client
once; spread over the workers, each paid those imports (about 3 s of CPU). Every other
test (the suite's cases over recordings, about a thousand short ones) stays a unit of its own: they
come last in the queue (xdist hands out units with the most tests first, after the
`LONGEST_UNITS` in time) and fill the workers to the end. A real
``@group`` suffix, should xdist send one again, still wins.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from xdist.scheduler import LoadGroupScheduling

# The repository's own tests (module fixtures are what makes them costly) and the real clients'
# scenarios (their zygotes): a module is a unit.
MODULE_UNITS_UNDER = ("tests/", "suites/test_clients.py")
# The modules that run the real clients share one unit, so one worker imports each client once.
REAL_CLIENTS_UNIT = "real-clients"
REAL_CLIENT_MODULES = frozenset({"suites/test_clients.py", "tests/test_deviations_clients.py"})
# The units that take longest, longest first, handed out before all others. xdist hands units out
# by their number of tests, so a module of two long tests came last and ran alone at the end: in
# `make test` of 2026-12-04 (wall time per unit from its junit file, -n 3) the differential module
# (2 tests, 13.5 s) started after 42 s on one worker while the others had finished. Measured then:
# the real clients 15 s, differential 13.5, deviations 10.6, robustness 10.0, faults 9.3, targets
# 7.4, launcher 5.4. A unit missing from the list only loses its head start.
LONGEST_UNITS = (REAL_CLIENTS_UNIT, "tests/test_differential.py", "tests/test_deviations.py",
                 "tests/test_harness_robustness.py", "tests/test_faults.py", "tests/test_targets.py",
                 "tests/test_launcher.py")


class ModuleGroupScheduling(LoadGroupScheduling):
    """``--dist loadgroup``, with each module under ``tests/`` (and the client scenarios) kept on one worker."""

    def _split_scope(self, nodeid: str) -> str:
        """The work unit of ``nodeid``: its xdist group, else its module if it is one of
        ``MODULE_UNITS_UNDER``, else itself."""
        scope = super()._split_scope(nodeid)
        if scope != nodeid:  # an explicit @group suffix
            return scope
        if nodeid.startswith(MODULE_UNITS_UNDER):
            module = nodeid.split("::", 1)[0]
            return REAL_CLIENTS_UNIT if module in REAL_CLIENT_MODULES else module
        return nodeid

    def _assign_work_unit(self, node: Any) -> None:
        """Hand ``node`` its next unit, the `LONGEST_UNITS` first (once the queue is built)."""
        if not getattr(self, "_longest_first", False):
            self._longest_first = True
            self.workqueue = longest_first(self.workqueue)
        super()._assign_work_unit(node)


def longest_first(queue: OrderedDict[str, Any]) -> OrderedDict[str, Any]:
    """``queue`` with the `LONGEST_UNITS` it holds moved to the front, in their order."""
    rank = {unit: i for i, unit in enumerate(LONGEST_UNITS)}
    order = sorted(queue, key=lambda unit: rank.get(unit, len(rank)))  # stable: the rest keep xdist's order
    return OrderedDict((unit, queue[unit]) for unit in order)


def make_scheduler(config: Any, log: Any) -> ModuleGroupScheduling | None:
    """The scheduler for ``--dist loadgroup``; None leaves any other mode to xdist."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return ModuleGroupScheduling(config, log)
