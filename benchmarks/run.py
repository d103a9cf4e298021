"""Run every benchmark and print its figures, its ratio to a baseline from this run, and a verdict.

    .venv/bin/python benchmarks/run.py [--with-suite] [--json PATH] [--load wrk|httpx|auto]
                                       [--seconds S] [--rounds N] [--only NAME,...]

Benchmarks (docs/benchmarks.md): ``load`` (throughput and added latency, router vs the upstream
called directly), ``ttfe`` (time to first event), ``rehydration``, ``validation``, and ``suite``
(only with --with-suite: it takes about 100 s). Nothing is clamped: a missed target prints
MISSED with the measured figure. The exit status is 0 whatever the verdicts (these are
measurements, not tests), and 2 if a benchmark could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks.http_bench import load_results, measure_load  # noqa: E402
from benchmarks.load import wrk_available  # noqa: E402
from benchmarks.offline import rehydration_results, suite_results, validation_results  # noqa: E402
from benchmarks.result import Result  # noqa: E402
from benchmarks.servers import Servers  # noqa: E402
from benchmarks.ttfe import first_event_results  # noqa: E402

BENCHMARKS = ("load", "ttfe", "rehydration", "validation", "suite")
DEFAULT_SECONDS = 3
DEFAULT_ROUNDS = 2


def log(line: str) -> None:
    """Progress lines go to stderr, the verdict table to stdout."""
    print(line, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--with-suite", action="store_true", help="also time the offline suite (~100 s)")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON to PATH")
    parser.add_argument("--load", choices=("auto", "wrk", "httpx"), default="auto",
                        help="load generator (auto: wrk when installed, else httpx2)")
    parser.add_argument("--seconds", type=int, default=DEFAULT_SECONDS, help="length of each load run (whole seconds)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="interleaved load rounds (best kept)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else [b for b in BENCHMARKS if b != "suite" or args.with_suite]
    unknown = [b for b in chosen if b not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    args.chosen = chosen
    if args.load == "auto":
        args.load = "wrk" if wrk_available() else "httpx"
    elif args.load == "wrk" and not wrk_available():
        parser.error("--load wrk: wrk is not installed (apt-get install wrk), or use --load httpx")
    return args


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return f"{text} {unit}".strip()


def print_table(results: list[Result]) -> None:
    """The verdict table: check, value, baseline, ratio, target, verdict."""
    header = ("benchmark", "check", "measured", "baseline (same run)", "ratio", "target", "verdict")
    rows = [(r.benchmark, r.check, _fmt(r.value, r.unit), f"{r.baseline_name} {_fmt(r.baseline)}",
             "-" if r.ratio is None else f"{r.ratio:.3f}x", r.target, r.verdict) for r in results]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, print the table, optionally write JSON."""
    args = parse_args(argv)
    results: list[Result] = []
    failures: dict[str, str] = {}
    started = time.perf_counter()
    needs_servers = [b for b in args.chosen if b in ("load", "ttfe")]
    if needs_servers:
        with tempfile.TemporaryDirectory() as tmp, Servers(Path(tmp) / "router.db") as servers:
            if "load" in args.chosen:
                log(f"load ({args.load}, {args.seconds:g} s per run, best of {args.rounds} rounds):")
                best = measure_load(servers, tool=args.load, seconds=args.seconds, rounds=args.rounds, log=log)
                results += load_results(best)
            if "ttfe" in args.chosen:
                log("time to first event (sequential streamed requests, upstream and router alternating):")
                results += first_event_results(servers, log=log)
    for name, runner in (("rehydration", rehydration_results), ("validation", validation_results),
                         ("suite", suite_results)):
        if name in args.chosen:
            log(f"{name}:")
            try:
                results += runner(log)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the other benchmarks
                failures[name] = repr(exc)
                log(f"  FAILED to run: {exc!r}")
    elapsed = time.perf_counter() - started
    print_table(results)
    load_avg = os.getloadavg()
    print(f"\n{os.cpu_count()} CPUs, load average {load_avg[0]:.2f} at the end; {elapsed:.0f} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "load_average_end": load_avg},
            "load_generator": args.load, "seconds_per_run": args.seconds, "rounds": args.rounds,
            "elapsed_s": round(elapsed, 1), "results": [r.as_dict() for r in results], "failures": failures,
        }, indent=1) + "\n")
    return 2 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
