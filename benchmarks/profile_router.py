"""Where the router's CPU goes under load: the router process under cProfile, driven by wrk.

    .venv/bin/python benchmarks/profile_router.py [--store] [--seconds 8] [--concurrency 8] [--top 30]

The router runs as in the load benchmark (its own process, in front of the canned upstream),
but inside ``cProfile.Profile(time.process_time)``, so the figures are CPU time, not wall time:
another process taking the core does not inflate them. The profiler's own overhead does, about
fivefold, and most on code that makes many small calls; read the shares, not the absolute times.
Prints the functions by own time and by cumulative time, and the router's CPU per request.
"""
from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks.load import run_load, wrk_available  # noqa: E402
from benchmarks.proc import cpu_seconds  # noqa: E402
from benchmarks.servers import Process, upstream_process  # noqa: E402
from benchmarks.upstream import responses_request_body  # noqa: E402
from fixtures.processes import free_port  # noqa: E402

# Runs the router's own main() under the profiler and writes the stats when it stops (SIGTERM).
RUNNER = """
import cProfile, sys, time
from reference_impl.__main__ import main
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    main(sys.argv[2:])
finally:
    profile.disable()
    profile.dump_stats(sys.argv[1])
"""


def main(argv: list[str] | None = None) -> int:
    """Profile the router under closed-loop load and print the top functions."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", action="store_true", help="store=true requests (default store=false)")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    tool = "wrk" if wrk_available() else "httpx"
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "router.prof"
        upstream = upstream_process(Path(tmp))
        upstream.start()
        port = free_port()
        router = Process("router", [sys.executable, "-c", RUNNER, str(stats_path), "--backend", upstream.url,
                                    "--db", f"sqlite:///{Path(tmp) / 'router.db'}", "--port", str(port)],
                         port, "/health", Path(tmp))
        try:
            router.start()
            url, body = router.url + "/v1/responses", responses_request_body(store=args.store)
            run_load(tool, url, body, concurrency=args.concurrency, seconds=1)  # warm-up
            before = cpu_seconds(router.pid)
            got = run_load(tool, url, body, concurrency=args.concurrency, seconds=args.seconds)
            used = cpu_seconds(router.pid) - before
        finally:
            router.stop()
            upstream.stop()
        print(f"{got.requests} requests ({tool}, c={args.concurrency}, store={str(args.store).lower()}): "
              f"{used * 1000 / max(got.requests, 1):.3f} ms of router CPU per request under the profiler")
        stats = pstats.Stats(str(stats_path))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
