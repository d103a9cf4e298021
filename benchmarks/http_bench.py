"""Benchmark 1: the router over HTTP under load, against the canned upstream called directly.

Closed-loop load (`benchmarks.load`) at each concurrency against the upstream (``POST
/v1/chat/completions``, streamed, read to the end) and against the router (``POST
/v1/responses``, non-streamed, with ``store`` false and true), for `rounds` interleaved rounds;
each variant keeps its best round by throughput, so a burst from another process on a shared
machine hurts the router and the baseline alike. Added latency is router minus direct at the same
concurrency and percentile.

Around every run the serving process's own CPU time is read (benchmarks/proc.py): CPU per request
is summed over all of a variant's runs (every concurrency, every round), the router's against
the upstream's own CPU per request in the same run. Peak resident memory (``VmHWM``) is read at
the end, after the heaviest load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from benchmarks.load import LoadResult, run_load
from benchmarks.proc import accounting_available, cpu_seconds, peak_rss_mb
from benchmarks.result import Result
from benchmarks.servers import Process, Servers
from benchmarks.upstream import chat_request_body, responses_request_body

CONCURRENCY = (1, 8, 32)
THROUGHPUT_AT = 32  # throughput judged at this concurrency ...
TARGET_THROUGHPUT_RATIO = {"router store=false": 0.3, "router store=true": 0.25}  # ... x direct
TARGET_ADDED_P50_MS = 1.0  # p50 added latency, judged at concurrency 1 (no queueing)
ADDED_LATENCY_AT = 1
TARGET_CPU_MS = {"router store=false": 0.4, "router store=true": 0.6}  # router CPU per request
TARGET_RSS_MB = 150.0  # router peak resident memory under load
WARMUP_SECONDS = 1

Log = Callable[[str], None]


@dataclass
class Variant:
    """One load target: its URL and body, the process serving it, and what its runs measured."""

    url: str
    body: dict
    process: Process
    best: dict[int, LoadResult] = field(default_factory=dict)  # concurrency -> best round
    cpu_s: float = 0.0     # the serving process's CPU over every measured run
    requests: int = 0      # requests served over the same runs
    cpu_by_c: dict[int, list[float]] = field(default_factory=dict)  # per run, ms/request

    @property
    def cpu_ms_per_request(self) -> float | None:
        """Process CPU per request over all measured runs (None without /proc accounting)."""
        return self.cpu_s * 1000 / self.requests if self.requests and accounting_available() else None


def _variants(servers: Servers) -> dict[str, Variant]:
    assert servers.router is not None
    return {
        "direct": Variant(servers.upstream.url + "/v1/chat/completions", chat_request_body(), servers.upstream),
        "router store=false": Variant(servers.router.url + "/v1/responses", responses_request_body(store=False),
                                      servers.router),
        "router store=true": Variant(servers.router.url + "/v1/responses", responses_request_body(store=True),
                                     servers.router),
    }


def _cpu(process: Process) -> float:
    return cpu_seconds(process.pid) if accounting_available() else 0.0


def measure_load(servers: Servers, *, tool: str, seconds: float, rounds: int, log: Log) -> dict[str, Variant]:
    """Every variant after ``rounds`` interleaved rounds at each concurrency (best round kept)."""
    variants = _variants(servers)
    for variant in variants.values():
        run_load(tool, variant.url, variant.body, concurrency=8, seconds=WARMUP_SECONDS)
    for round_no in range(1, rounds + 1):
        for concurrency in CONCURRENCY:
            for name, variant in variants.items():
                before = _cpu(variant.process)
                got = run_load(tool, variant.url, variant.body, concurrency=concurrency, seconds=seconds)
                used = _cpu(variant.process) - before
                variant.cpu_s += used
                variant.requests += got.requests
                per_request = used * 1000 / got.requests if got.requests else float("nan")
                variant.cpu_by_c.setdefault(concurrency, []).append(round(per_request, 4))
                log(f"  round {round_no} c={concurrency:<2} {name:<18} {got.rps:8.1f} req/s  "
                    f"p50 {got.p50_ms:7.2f} ms  p99 {got.p99_ms:7.2f} ms  cpu {per_request:6.3f} ms/req  "
                    f"errors {got.errors}")
                kept = variant.best.get(concurrency)
                if kept is None or got.rps > kept.rps:
                    variant.best[concurrency] = got
    return variants


def _peak_rss(process: Process) -> float | None:
    return peak_rss_mb(process.pid) if accounting_available() else None


def load_results(variants: dict[str, Variant]) -> list[Result]:
    """Verdicts: throughput ratio at `THROUGHPUT_AT`, p50 added latency at `ADDED_LATENCY_AT`,
    router CPU per request, and the router's peak resident memory."""
    direct = variants["direct"]
    table = {name: {str(c): r.as_dict() for c, r in v.best.items()} for name, v in variants.items()}
    cpu_table = {name: {"ms_per_request": v.cpu_ms_per_request, "requests": v.requests,
                        "by_concurrency_ms": {str(c): runs for c, runs in v.cpu_by_c.items()}}
                 for name, v in variants.items()}
    results: list[Result] = []
    for name in ("router store=false", "router store=true"):
        router = variants[name].best
        added = {str(c): {"p50_ms": round(router[c].p50_ms - direct.best[c].p50_ms, 3),
                          "p99_ms": round(router[c].p99_ms - direct.best[c].p99_ms, 3)} for c in router}
        errors = sum(r.errors for r in router.values())
        details = {"load": table, "added_latency": added, "router_errors": errors, "cpu": cpu_table}
        ratio = TARGET_THROUGHPUT_RATIO[name]
        results.append(Result(
            "throughput", f"{name}, c={THROUGHPUT_AT}", round(router[THROUGHPUT_AT].rps, 1), "req/s",
            "direct", round(direct.best[THROUGHPUT_AT].rps, 1), f">= {ratio}x direct",
            router[THROUGHPUT_AT].rps >= ratio * direct.best[THROUGHPUT_AT].rps and errors == 0, details))
        value = router[ADDED_LATENCY_AT].p50_ms - direct.best[ADDED_LATENCY_AT].p50_ms
        results.append(Result(
            "added latency", f"{name}, p50 at c={ADDED_LATENCY_AT}", round(value, 3), "ms added",
            "direct p50", round(direct.best[ADDED_LATENCY_AT].p50_ms, 3), f"<= {TARGET_ADDED_P50_MS} ms added",
            value <= TARGET_ADDED_P50_MS, {"router_p50_ms": round(router[ADDED_LATENCY_AT].p50_ms, 3)}))
        cpu = variants[name].cpu_ms_per_request
        if cpu is not None:
            results.append(Result(
                "router CPU", f"{name}, process CPU per request", round(cpu, 4), "ms/req",
                "upstream CPU per request", None if direct.cpu_ms_per_request is None
                else round(direct.cpu_ms_per_request, 4),
                f"<= {TARGET_CPU_MS[name]} ms/req", cpu <= TARGET_CPU_MS[name], cpu_table[name]))
    rss, upstream_rss = _peak_rss(variants["router store=true"].process), _peak_rss(direct.process)
    if rss is not None:
        results.append(Result("router memory", "peak resident set (VmHWM) after the load runs", round(rss, 1),
                              "MiB", "upstream peak RSS", upstream_rss and round(upstream_rss, 1),
                              f"<= {TARGET_RSS_MB:g} MiB", rss <= TARGET_RSS_MB, {}))
    return results
