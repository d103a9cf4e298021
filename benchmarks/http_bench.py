"""Benchmarks 1 and 2: the router over HTTP against the canned upstream called directly.

Throughput and latency: closed-loop load (`benchmarks.load`) at each concurrency against the
upstream (``POST /v1/chat/completions``, streamed, read to the end) and against the router
(``POST /v1/responses``, non-streamed, with ``store`` false and true), for `rounds` interleaved
rounds; each variant keeps its best round by throughput, so a burst from another process on a
shared machine hurts the router and the baseline alike. Added latency is router minus direct
at the same concurrency and percentile.

Time to first event: sequential streamed requests with httpx2, timing the first body byte and
the first SSE frames (router: ``response.created`` and the first ``response.output_text.delta``;
upstream: the first chunk and the first chunk carrying content).
"""
from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any, Callable

import httpx2

from benchmarks.load import LoadResult, run_load
from benchmarks.result import Result
from benchmarks.servers import Servers
from benchmarks.upstream import chat_request_body, responses_request_body
from fixtures.sse import SSEDecoder

CONCURRENCY = (1, 8, 32)
TARGET_THROUGHPUT_RATIO = 0.6   # router >= 0.6x direct throughput ...
THROUGHPUT_AT = 32              # ... at this concurrency
TARGET_ADDED_P50_MS = 2.0       # p50 added latency, judged at concurrency 1 (no queueing)
ADDED_LATENCY_AT = 1
WARMUP_SECONDS = 1
TTFE_SAMPLES = 150
TTFE_WARMUP = 20

Log = Callable[[str], None]


def _variants(servers: Servers) -> dict[str, tuple[str, dict]]:
    assert servers.router is not None
    return {
        "direct": (servers.upstream.url + "/v1/chat/completions", chat_request_body()),
        "router store=false": (servers.router.url + "/v1/responses", responses_request_body(store=False)),
        "router store=true": (servers.router.url + "/v1/responses", responses_request_body(store=True)),
    }


def measure_load(servers: Servers, *, tool: str, seconds: float, rounds: int, log: Log) -> dict:
    """Best-of-``rounds`` `LoadResult` per variant and concurrency: ``{variant: {c: result}}``."""
    variants = _variants(servers)
    for name, (url, body) in variants.items():
        run_load(tool, url, body, concurrency=8, seconds=WARMUP_SECONDS)
    best: dict[str, dict[int, LoadResult]] = {name: {} for name in variants}
    for round_no in range(1, rounds + 1):
        for concurrency in CONCURRENCY:
            for name, (url, body) in variants.items():
                got = run_load(tool, url, body, concurrency=concurrency, seconds=seconds)
                log(f"  round {round_no} c={concurrency:<2} {name:<18} {got.rps:8.1f} req/s  "
                    f"p50 {got.p50_ms:7.2f} ms  p99 {got.p99_ms:7.2f} ms  errors {got.errors}")
                kept = best[name].get(concurrency)
                if kept is None or got.rps > kept.rps:
                    best[name][concurrency] = got
    return best


def load_results(best: dict[str, dict[int, LoadResult]]) -> list[Result]:
    """Verdicts: throughput ratio at `THROUGHPUT_AT`, p50 added latency at `ADDED_LATENCY_AT`."""
    direct = best["direct"]
    table = {name: {str(c): r.as_dict() for c, r in by_c.items()} for name, by_c in best.items()}
    results: list[Result] = []
    for name in ("router store=false", "router store=true"):
        router = best[name]
        added = {str(c): {"p50_ms": round(router[c].p50_ms - direct[c].p50_ms, 3),
                          "p99_ms": round(router[c].p99_ms - direct[c].p99_ms, 3)} for c in router}
        errors = sum(r.errors for r in router.values())
        details = {"load": table, "added_latency": added, "router_errors": errors}
        results.append(Result(
            "throughput", f"{name}, c={THROUGHPUT_AT}", round(router[THROUGHPUT_AT].rps, 1), "req/s",
            "direct", round(direct[THROUGHPUT_AT].rps, 1),
            f">= {TARGET_THROUGHPUT_RATIO}x direct",
            router[THROUGHPUT_AT].rps >= TARGET_THROUGHPUT_RATIO * direct[THROUGHPUT_AT].rps and errors == 0,
            details))
        value = router[ADDED_LATENCY_AT].p50_ms - direct[ADDED_LATENCY_AT].p50_ms
        results.append(Result(
            "added latency", f"{name}, p50 at c={ADDED_LATENCY_AT}", round(value, 3), "ms added",
            "direct p50", round(direct[ADDED_LATENCY_AT].p50_ms, 3), f"<= {TARGET_ADDED_P50_MS} ms added",
            value <= TARGET_ADDED_P50_MS, {"router_p50_ms": round(router[ADDED_LATENCY_AT].p50_ms, 3)}))
    return results


async def _first_times(client: httpx2.AsyncClient, url: str, body: dict, marks: dict[str, Any]) -> dict[str, float]:
    """Seconds from sending to the first byte and to the first frame matching each mark."""
    decoder = SSEDecoder()
    seen: dict[str, float] = {}
    start = time.perf_counter()
    async with client.stream("POST", url, json=body) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status_code}")
        async for raw in resp.aiter_raw():
            now = time.perf_counter()
            seen.setdefault("first byte", now - start)
            for frame in decoder.feed(raw):
                for label, match in marks.items():
                    if label not in seen and match(frame):
                        seen[label] = now - start
    missing = [label for label in marks if label not in seen]
    if missing:
        raise RuntimeError(f"{url}: the stream never had {missing}")
    return seen


def _is_content_chunk(frame: Any) -> bool:
    return '"content":"' in frame.data and '"content":""' not in frame.data


ROUTER_MARKS = {
    "response.created": lambda f: f.event == "response.created",
    "first text delta": lambda f: f.event == "response.output_text.delta",
}
UPSTREAM_MARKS = {
    "first chunk": lambda f: f.data.startswith("{"),
    "first content chunk": _is_content_chunk,
}


async def _ttfe(servers: Servers, samples: int) -> dict[str, dict[str, list[float]]]:
    assert servers.router is not None
    targets = {
        "upstream": (servers.upstream.url + "/v1/chat/completions", chat_request_body(), UPSTREAM_MARKS),
        "router": (servers.router.url + "/v1/responses", responses_request_body(store=False, stream=True),
                   ROUTER_MARKS),
    }
    out: dict[str, dict[str, list[float]]] = {name: {} for name in targets}
    async with httpx2.AsyncClient(timeout=30) as client:
        for n in range(TTFE_WARMUP + samples):
            for name, (url, body, marks) in targets.items():  # alternate: noise hits both alike
                times = await _first_times(client, url, body, marks)
                if n >= TTFE_WARMUP:
                    for label, seconds in times.items():
                        out[name].setdefault(label, []).append(seconds * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def first_event_results(servers: Servers, *, log: Log, samples: int = TTFE_SAMPLES) -> list[Result]:
    """Time to first event; the target (derived, see docs/benchmarks.md) is the p50 added-latency
    budget: the router's first text delta at most `TARGET_ADDED_P50_MS` after the upstream's."""
    raw = asyncio.run(_ttfe(servers, samples))
    summary = {name: {label: {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(_pct(v, 0.99), 3)}
                      for label, v in marks.items()} for name, marks in raw.items()}
    upstream = summary["upstream"]["first content chunk"]["p50_ms"]
    router = summary["router"]["first text delta"]["p50_ms"]
    details = {"samples": samples, "p50_p99": summary}
    for name, marks in summary.items():
        log(f"  {name:<8} " + ", ".join(f"{label} p50 {v['p50_ms']:.2f} ms p99 {v['p99_ms']:.2f} ms"
                                        for label, v in marks.items()))
    return [
        Result("time to first event", "router first text delta, p50", router, "ms",
               "upstream first content chunk p50", upstream,
               f"<= upstream + {TARGET_ADDED_P50_MS} ms (derived)", router - upstream <= TARGET_ADDED_P50_MS,
               details),
        Result("time to first event", "router response.created, p50",
               summary["router"]["response.created"]["p50_ms"], "ms",
               "upstream first chunk p50", summary["upstream"]["first chunk"]["p50_ms"], "none", None, {}),
    ]
