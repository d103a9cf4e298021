"""Benchmark 2: time to first event, the router's streams against the upstream's own.

Sequential streamed requests, alternating the upstream, the router over SSE and the router over
its WebSocket mode (one socket kept open, as a WebSocket client does), so noise hits all three
alike. Timed from sending the request to the first body byte and to the first frames that matter:
the upstream's first chunk and first chunk carrying content; the router's ``response.created``
and first ``response.output_text.delta``, over SSE and over the socket.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any, Callable

import httpx2
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.result import Result
from benchmarks.servers import Servers
from benchmarks.upstream import chat_request_body, responses_request_body
from fixtures.sse import SSEDecoder

TARGET_FIRST_DELTA_MS = 1.0  # the router's first text delta at most this after the upstream's
TTFE_SAMPLES = 150
TTFE_WARMUP = 20
TERMINAL = ("response.completed", "response.incomplete", "response.failed", "error")

Log = Callable[[str], None]


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


async def _ws_first_times(socket: ClientConnection, body: dict) -> dict[str, float]:
    """The same over an open WebSocket: one ``response.create``, read to its terminal event."""
    message = json.dumps({"type": "response.create", **{k: v for k, v in body.items() if k != "stream"}})
    seen: dict[str, float] = {}
    start = time.perf_counter()
    await socket.send(message)
    while True:
        event = json.loads(await socket.recv())
        now = time.perf_counter()
        seen.setdefault("response.created", now - start)  # checked below: the first event is it
        if event["type"] == "response.output_text.delta":
            seen.setdefault("first text delta", now - start)
        if event["type"] in TERMINAL:
            break
    if event["type"] != "response.completed" or "first text delta" not in seen:
        raise RuntimeError(f"WebSocket: the response ended with {event['type']} and events {sorted(seen)}")
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
    upstream = (servers.upstream.url + "/v1/chat/completions", chat_request_body(), UPSTREAM_MARKS)
    sse = (servers.router.url + "/v1/responses", responses_request_body(store=False, stream=True), ROUTER_MARKS)
    ws_url = servers.router.url.replace("http://", "ws://", 1) + "/v1/responses"
    out: dict[str, dict[str, list[float]]] = {"upstream": {}, "router SSE": {}, "router WebSocket": {}}
    async with httpx2.AsyncClient(timeout=30) as client, connect(ws_url) as socket:
        for n in range(TTFE_WARMUP + samples):
            measured = {"upstream": await _first_times(client, *upstream),
                        "router SSE": await _first_times(client, *sse),
                        "router WebSocket": await _ws_first_times(socket, responses_request_body(store=False))}
            if n >= TTFE_WARMUP:
                for name, times in measured.items():
                    for label, seconds in times.items():
                        out[name].setdefault(label, []).append(seconds * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def first_event_results(servers: Servers, *, log: Log, samples: int = TTFE_SAMPLES) -> list[Result]:
    """Time to first event over SSE and WebSocket; the first text delta is judged against the
    upstream's first content chunk (at most `TARGET_FIRST_DELTA_MS` later, p50)."""
    raw = asyncio.run(_ttfe(servers, samples))
    summary = {name: {label: {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(_pct(v, 0.99), 3)}
                      for label, v in marks.items()} for name, marks in raw.items()}
    upstream = summary["upstream"]["first content chunk"]["p50_ms"]
    details = {"samples": samples, "p50_p99": summary}
    for name, marks in summary.items():
        log(f"  {name:<16} " + ", ".join(f"{label} p50 {v['p50_ms']:.2f} ms p99 {v['p99_ms']:.2f} ms"
                                         for label, v in marks.items()))
    results = []
    for name in ("router SSE", "router WebSocket"):
        delta = summary[name]["first text delta"]["p50_ms"]
        results.append(Result("time to first event", f"{name} first text delta, p50", delta, "ms",
                              "upstream first content chunk p50", upstream,
                              f"<= upstream + {TARGET_FIRST_DELTA_MS:g} ms", delta - upstream <= TARGET_FIRST_DELTA_MS,
                              details))
        results.append(Result("time to first event", f"{name} response.created, p50",
                              summary[name]["response.created"]["p50_ms"], "ms", "upstream first chunk p50",
                              summary["upstream"]["first chunk"]["p50_ms"], "none", None, {}))
    return results
