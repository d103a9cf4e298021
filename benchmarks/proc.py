"""A child process's own accounting, read from Linux's /proc: CPU time and peak resident memory.

The router's CPU per request is its process CPU time (user + system, every thread) over a load
run divided by the requests served in it. That figure is much less sensitive to other processes
on a shared machine than wall time: a core taken away delays the router, it does not bill it.
"""
from __future__ import annotations

import os
from pathlib import Path

# Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the ``(comm)`` field, which
# may itself hold spaces; in clock ticks.
UTIME_FIELD, STIME_FIELD = 11, 12  # indices in the fields after ``) ``
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process ``pid`` has used so far, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[UTIME_FIELD]) + int(fields[STIME_FIELD])) / TICKS_PER_SECOND


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (``VmHWM``) so far, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM line")


def accounting_available() -> bool:
    """Whether /proc accounting can be read here (Linux)."""
    return Path(f"/proc/{os.getpid()}/stat").exists()
