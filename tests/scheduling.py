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
come last in the queue (units are taken largest first) and fill the workers to the end. A real
``@group`` suffix, should xdist send one again, still wins.
"""
from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadGroupScheduling

# The repository's own tests (module fixtures are what makes them costly) and the real clients'
# scenarios (their zygotes): a module is a unit.
MODULE_UNITS_UNDER = ("tests/", "suites/test_clients.py")
# The modules that run the real clients share one unit, so one worker imports each client once.
REAL_CLIENTS_UNIT = "real-clients"
REAL_CLIENT_MODULES = frozenset({"suites/test_clients.py", "tests/test_deviations_clients.py"})


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


def make_scheduler(config: Any, log: Any) -> ModuleGroupScheduling | None:
    """The scheduler for ``--dist loadgroup``; None leaves any other mode to xdist."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return ModuleGroupScheduling(config, log)
