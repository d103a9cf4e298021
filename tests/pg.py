"""A throwaway PostgreSQL cluster for tests: initdb into a temporary directory, run ``postgres`` on a
free loopback port, hand out fresh databases, stop it and delete everything at the end.

Debian's ``postgresql`` package provides the binaries (``/usr/lib/postgresql/<ver>/bin``).
PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user. The
server is a direct child (no ``pg_ctl`` daemon) that Linux stops when the test process dies, so
no cluster outlives its run even when teardown never happens. One cluster serves a whole test
process (`shared_cluster`); it is stopped at interpreter exit.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fixtures.processes import dying_with_parent, free_port

BIN_GLOB = "/usr/lib/postgresql/*/bin"
RUN_AS_WHEN_ROOT = "postgres"
SUPERUSER = "postgres"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Durability is not under test here; skipping fsync keeps initdb and CREATE DATABASE fast.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "16MB",
}


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL here; the message is the skip reason."""


def find_bin_dir() -> Path:
    """The newest installed PostgreSQL bin directory; `PostgresUnavailable` when there is none."""
    candidates = [Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists()]
    if not candidates:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise PostgresUnavailable(
            "PostgreSQL binaries not found (no initdb in /usr/lib/postgresql/*/bin or on PATH); "
            "install them with: apt-get install -y postgresql")
    return max(candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _driver_available() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable(f"the psycopg driver is not installed ({exc}); pip install 'psycopg[binary]'")


# In the child before exec: SIGQUIT (PostgreSQL's immediate shutdown) when the test process dies.
_stop_with_parent = dying_with_parent(signal.SIGQUIT)


class PostgresCluster:
    """One running cluster. ``new_database()`` gives a URL to an empty database."""

    def __init__(self) -> None:
        _driver_available()
        self.bin_dir = find_bin_dir()
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(RUN_AS_WHEN_ROOT)
            except KeyError:
                raise PostgresUnavailable(f"running as root and there is no {RUN_AS_WHEN_ROOT!r} user "
                                          "to run PostgreSQL as") from None
            self.user = RUN_AS_WHEN_ROOT
        self.dir = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._databases: list[str] = []

    def _as_owner(self) -> dict:
        return {"user": self.user, "group": self.user} if self.user else {}

    def start(self) -> "PostgresCluster":
        """initdb and start the server; `PostgresUnavailable` with the log tail on failure."""
        if self.user:
            shutil.chown(self.dir, self.user, self.user)
        init = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, timeout=120, **self._as_owner())
        if init.returncode != 0:
            self.cleanup()
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-800:]}")
        args = [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-k", str(self.dir)]
        for key, value in SERVER_SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_stop_with_parent, **self._as_owner())
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = (self.dir / "server.log").read_text(errors="replace")[-800:]
                    self.stop()
                    raise PostgresUnavailable(f"postgres did not start: {tail}") from None
                time.sleep(0.1)

    def url(self, database: str) -> str:
        """A ``postgresql://`` URL for ``database`` on this cluster (TCP loopback, trust auth)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement on the maintenance database in autocommit."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `new_database`, closing whatever still uses it."""
        name = url.rsplit("/", 1)[1]
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._databases:
            self._databases.remove(name)

    def raw_bytes(self, url: str) -> bytes:
        """After a CHECKPOINT: the bytes of a database's files and of the whole write-ahead log."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()[0]
            conn.execute("CHECKPOINT")
        files = [p for d in (self.data / "base" / str(oid), self.data / "pg_wal") for p in d.iterdir()
                 if p.is_file()]
        return b"".join(p.read_bytes() for p in files)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; delete the directory."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.cleanup()

    def cleanup(self) -> None:
        """Delete the cluster's directory."""
        shutil.rmtree(self.dir, ignore_errors=True)


_shared: PostgresCluster | None = None
_shared_error: PostgresUnavailable | None = None


def shared_cluster() -> PostgresCluster:
    """The cluster of this test process, started on first use; `PostgresUnavailable` if impossible."""
    global _shared, _shared_error
    if _shared_error is not None:
        raise _shared_error
    if _shared is None:
        try:
            _shared = PostgresCluster().start()
        except PostgresUnavailable as exc:
            _shared_error = exc
            raise
        atexit.register(_shared.stop)
    return _shared


def fresh_database(request: Any, purpose: str = "Postgres") -> str:
    """The URL of a new database on the shared cluster, dropped after the test; skip if impossible."""
    import pytest  # only the tests that want a database need pytest here

    try:
        cluster = shared_cluster()
    except PostgresUnavailable as exc:
        pytest.skip(f"{purpose}: {exc}")
    url = cluster.new_database()
    request.addfinalizer(lambda: cluster.drop_database(url))
    return url
