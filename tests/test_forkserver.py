"""Client scripts forked from a zygote (fixtures/clients/forkserver.py) run as a fresh process would.

Test doubles: small scripts under the harness's own interpreter, with standard-library modules as
the "client" to preload.
"""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures.clients.forkserver import run_script

pytestmark = pytest.mark.unit
REPORT = """
    import json, os, sys
    preloaded = "xml.dom.minidom" in sys.modules
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "rc": os.environ.get("RC_X"),
                      "pid": os.getpid(), "sid": os.getsid(0), "preloaded": preloaded,
                      "path0": sys.path[0], "main": __name__}))
    print("to stderr", file=sys.stderr)
    sys.exit(int(sys.argv[1]))
"""


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def test_a_forked_run_has_its_own_argv_env_cwd_session_stdio_and_exit_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    script = _script(tmp_path, "report.py", REPORT)
    monkeypatch.chdir(tmp_path)
    first = run_script([sys.executable, script, "0"], _env(RC_X="one"), 30, ("xml.dom.minidom",))
    second = run_script([sys.executable, script, "3"], _env(RC_X="two"), 30, ("xml.dom.minidom",))
    assert first.forked and second.forked and (first.status, second.status) == (0, 3), second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["argv"] == [script, "0"] and b["argv"] == [script, "3"]
    assert (a["rc"], b["rc"]) == ("one", "two") and a["cwd"] == str(tmp_path)
    assert a["pid"] != b["pid"] and a["sid"] == a["pid"] and b["sid"] == b["pid"]
    assert a["preloaded"] and a["path0"] == str(tmp_path) and a["main"] == "__main__"
    assert first.stderr == "to stderr\n"


def test_an_uncaught_exception_or_a_signal_ends_the_run_as_in_a_fresh_process(tmp_path: Path) -> None:
    raising = _script(tmp_path, "raising.py", "raise RuntimeError('the client gave up')\n")
    killed = _script(tmp_path, "killed.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    raised = run_script([sys.executable, raising], _env(), 30, ("json",))
    assert raised.forked and raised.status == 1
    assert "RuntimeError: the client gave up" in raised.stderr
    signalled = run_script([sys.executable, killed], _env(), 30, ("json",))
    assert signalled.forked and signalled.status == -9
    # the zygote still serves after both
    after = run_script([sys.executable, raising], _env(), 30, ("json",))
    assert after.forked and after.status == 1


def test_a_hanging_run_is_killed_at_its_timeout_and_keeps_its_output(tmp_path: Path) -> None:
    script = _script(tmp_path, "hang.py", """
        import sys, time
        print("started", file=sys.stderr, flush=True)
        time.sleep(60)
    """)
    parent = _script(tmp_path, "parent.py", "import os\nprint(os.getppid())\n")
    before = run_script([sys.executable, parent], _env(), 30, ("json",))
    run = run_script([sys.executable, script], _env(), 2, ("json",))
    assert run.forked and run.status is None and run.stderr == "started\n"
    # the zygote whose run was killed is not used again: the next run has another parent
    after = run_script([sys.executable, parent], _env(), 30, ("json",))
    assert before.forked and after.forked and before.stdout != after.stdout


def test_a_zygote_that_cannot_preload_falls_back_to_a_fresh_process(tmp_path: Path) -> None:
    script = _script(tmp_path, "ok.py", "print('ran')\n")
    run = run_script([sys.executable, script], _env(), 30, ("no_such_module_here",))
    assert not run.forked and run.status == 0 and run.stdout == "ran\n"


def test_another_environment_gets_another_zygote(tmp_path: Path) -> None:
    script = _script(tmp_path, "pid.py", "import os\nprint(os.getppid())\n")
    one = run_script([sys.executable, script], _env(RC_X="a"), 30, ("json",))
    same = run_script([sys.executable, script], _env(RC_X="b", PYTEST_CURRENT_TEST="x", PYTEST_ADDOPTS="-q"), 30,
                      ("json",))
    other = run_script([sys.executable, script], _env(SOME_SETTING="1"), 30, ("json",))
    assert one.stdout == same.stdout != other.stdout


def test_a_forked_run_ends_as_the_interpreter_ends_a_script(tmp_path: Path) -> None:
    # The zygote's child skips the interpreter's teardown; what a script can see of its end is kept,
    # in order: non-daemon threads finish, then atexit handlers run, then stdio is flushed.
    ending = _script(tmp_path, "ending.py", """
        import atexit, sys, threading, time
        def late() -> None:
            time.sleep(0.2)
            print("thread done", end=";")
        atexit.register(lambda: print("atexit", end=";"))
        threading.Thread(target=late).start()
        sys.stdout.write("unflushed;")
    """)
    run = run_script([sys.executable, ending], _env(), 30, ("json",))
    assert run.forked and run.status == 0 and run.stdout == "unflushed;thread done;atexit;", run.stderr
    message = run_script([sys.executable, _script(tmp_path, "message.py", "import sys\nsys.exit('no model')\n")],
                         _env(), 30, ("json",))
    assert message.forked and message.status == 1 and message.stderr == "no model\n"
    wide = run_script([sys.executable, _script(tmp_path, "wide.py", "import sys\nsys.exit(-2)\n")], _env(), 30,
                      ("json",))
    assert wide.forked and wide.status == 254


def test_an_uncaught_keyboard_interrupt_ends_the_run_by_sigint(tmp_path: Path) -> None:
    script = _script(tmp_path, "interrupted.py", "raise KeyboardInterrupt\n")
    run = run_script([sys.executable, script], _env(), 30, ("json",))
    fresh = run_script([sys.executable, script], _env(), 30)
    assert run.forked and not fresh.forked
    assert run.status == fresh.status == -2 and "KeyboardInterrupt" in run.stderr
