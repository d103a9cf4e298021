"""Closed-loop load generation: N connections each sending one POST after another for a while.

Two generators with one result type, `LoadResult`:
- `run_wrk` drives wrk (C, one thread, epoll), preferred because it needs little CPU on a
  2-core machine that also runs the router and the upstream; its Lua `done` hook prints the
  exact counts and latency percentiles (microseconds) as one JSON line.
- `run_httpx` is the fallback when wrk is not installed: httpx2.AsyncClient in this process,
  with as many pooled connections as workers; latency is measured around each full exchange.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx2

WRK_THREADS = 1
WRK_TIMEOUT = "10s"
CLIENT_TIMEOUT = 30.0
RESULT_MARK = "BENCHJSON "

# wrk's Lua API: `done` gets the summary, the latency histogram (microseconds) and per-request stats.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"mean_us":%%.1f,' ..
    '"socket_errors":%%d,"status_errors":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One closed-loop run against one URL at one concurrency."""

    tool: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        """The figures as plain JSON data."""
        return {**asdict(self), "rps": round(self.rps, 1)}


def wrk_available() -> bool:
    """Whether the wrk binary is on PATH."""
    return shutil.which("wrk") is not None


def run_wrk(url: str, body: dict, *, concurrency: int, seconds: float) -> LoadResult:
    """Run wrk for ``seconds`` with ``concurrency`` connections POSTing ``body`` to ``url``."""
    payload = json.dumps(body, separators=(",", ":"))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT % {"body": payload, "mark": RESULT_MARK})
        argv = ["wrk", f"-t{min(WRK_THREADS, concurrency)}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
                f"--timeout={WRK_TIMEOUT}", "-s", str(script), url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]}{done.stderr[-1000:]}")
    data = json.loads(lines[-1][len(RESULT_MARK):])
    return LoadResult("wrk", concurrency, data["requests"], data["socket_errors"] + data["status_errors"],
                      data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000)


async def _httpx_load(url: str, body: dict, concurrency: int, seconds: float) -> LoadResult:
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx2.AsyncClient(limits=limits, timeout=CLIENT_TIMEOUT) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    resp = await client.post(url, json=body)
                    ok = resp.status_code < 400
                except httpx2.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan")
    return LoadResult("httpx2", concurrency, len(latencies), errors, elapsed, p50, p99)


def run_httpx(url: str, body: dict, *, concurrency: int, seconds: float) -> LoadResult:
    """The same measurement with httpx2.AsyncClient in this process (no wrk needed)."""
    return asyncio.run(_httpx_load(url, body, concurrency, seconds))


def run_load(tool: str, url: str, body: dict, *, concurrency: int, seconds: float) -> LoadResult:
    """Dispatch to `run_wrk` or `run_httpx` by ``tool`` name."""
    runner = run_wrk if tool == "wrk" else run_httpx
    return runner(url, body, concurrency=concurrency, seconds=seconds)
