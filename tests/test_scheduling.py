"""The xdist work units of ``make test`` (tests/scheduling.py): a tests/ module, and the real clients'
scenarios, stay on one worker."""
from __future__ import annotations

from collections import OrderedDict

import pytest

from scheduling import LONGEST_UNITS, REAL_CLIENTS_UNIT, ModuleGroupScheduling, longest_first, make_scheduler


class Options:
    """The two options the scheduler reads of pytest's config: two local workers and a --dist mode."""

    def __init__(self, dist: str) -> None:
        self.values = {"tx": ["2*popen"], "dist": dist}

    def getvalue(self, name: str) -> object:
        return self.values[name]


@pytest.fixture
def scheduler() -> ModuleGroupScheduling:
    made = make_scheduler(Options("loadgroup"), None)
    assert isinstance(made, ModuleGroupScheduling)
    return made


@pytest.mark.parametrize("dist", ["load", "loadscope", "loadfile", "worksteal"])
def test_other_modes_are_left_to_xdist(dist: str) -> None:
    assert make_scheduler(Options(dist), None) is None


@pytest.mark.parametrize("nodeid,unit", [
    # every test of a module under tests/ is that module's unit, parametrized or not
    ("tests/test_fuzz.py::test_negative_fuzz", "tests/test_fuzz.py"),
    ("tests/test_harness_robustness.py::test_a_misbehaving_target_fails_clearly[hang]",
     "tests/test_harness_robustness.py"),
    ("tests/test_x.py::TestClass::test_method[a-b]", "tests/test_x.py"),
    # an explicit xdist group still wins
    ("tests/test_fuzz.py::test_negative_fuzz@fuzz", "fuzz"),
    # the suite's cases are units of their own, an '@' inside their parameters too
    ("suites/test_core.py::test_exchange[local/m@backend-replay-a-case]",
     "suites/test_core.py::test_exchange[local/m@backend-replay-a-case]"),
    ("suites/test_core.py::test_plain", "suites/test_core.py::test_plain"),
    # but the real clients' scenarios and the client deviation tests are one unit: one worker
    # starts their zygotes
    ("suites/test_clients.py::test_scenario[local/m@backend-replay-openai-agents-runs-a-plain-turn]",
     "real-clients"),
    ("tests/test_deviations_clients.py::test_the_clients_profile_catches_the_deviation[include_rejected]",
     "real-clients"),
])
def test_work_units(scheduler: ModuleGroupScheduling, nodeid: str, unit: str) -> None:
    assert scheduler._split_scope(nodeid) == unit


def test_two_modules_are_two_units_and_one_module_is_one(scheduler: ModuleGroupScheduling) -> None:
    ids = ["tests/test_a.py::t1", "tests/test_a.py::t2[x]", "tests/test_b.py::t1", "suites/test_c.py::t1",
           "suites/test_c.py::t2"]
    assert len({scheduler._split_scope(i) for i in ids}) == 4


def test_the_longest_units_are_handed_out_first_and_the_rest_keep_their_order() -> None:
    queue = OrderedDict((unit, {}) for unit in ["tests/test_many.py", "tests/test_differential.py",
                                                 "suites/test_core.py::t", REAL_CLIENTS_UNIT, "tests/test_few.py"])
    assert list(longest_first(queue)) == [REAL_CLIENTS_UNIT, "tests/test_differential.py", "tests/test_many.py",
                                          "suites/test_core.py::t", "tests/test_few.py"]
    assert LONGEST_UNITS[0] == REAL_CLIENTS_UNIT
