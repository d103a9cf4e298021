"""Benchmarks 3 to 5, which need no server: chain rehydration, validation cost, the offline suite.

- Rehydration: chains of N turns written through `SqliteStore.put_response` (one chain per
  database file), then `store.chain()` + flattening + `translate_items.items_to_messages` (thread CPU
  time, median of warm repeats), the work
  `Engine._history` and `chat_request` do for a ``previous_response_id``. Baseline: the same rows
  read by two plain queries (no link walk) and translated the same way.
- Validation: every real vector in tests/vectors/openai, warm, timed through
  `fixtures.grammar.check_stream` and `fixtures.schemas.validate_event` per event. Baseline:
  decoding the same bytes (`parse_frames` + `Frame.json`).
- Suite: ``pytest -n 2 -q -p no:cacheprovider`` wall time; baseline: collection only.
"""
from __future__ import annotations

import json
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.result import Result
from benchmarks.servers import REPO

CHAIN_LENGTHS = (10, 100, 1000)
TARGET_CHAIN_MS = 10.0  # a 1000-turn chain rehydrated in at most this
TARGET_CHAIN_AT = 1000
# "Flat per-turn cost": the per-turn cost of the longest chain at most this times the shortest's.
TARGET_FLAT_FACTOR = 1.5
CHAIN_REPEATS = {10: 200, 100: 50, 1000: 15}
TARGET_EVENT_MS = 0.3   # grammar + schema validation per event
VALIDATION_REPEATS = 5
VECTORS = REPO / "tests" / "vectors" / "openai"
# The grammar mode each vector needs (the "mode" column of tests/vectors/README.md).
VECTOR_MODES = {
    "legacy-noseq-function-call-gpt4o.sse": "legacy",
    "background-resume-starting-after-gpt4o.sse": "resume",
    "background-queued-gpt4o.sse": "background",
}
SUITE_ARGS = ("-n", "2", "-q", "-p", "no:cacheprovider")
SUITE_TIMEOUT = 1200
SUMMARY_COUNT = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)\b")


def _median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(median, min) CPU time of ``fn`` on this thread in milliseconds over ``repeats`` calls, after
    one warm call. CPU time, not wall time: on a shared machine a 30 ms call is preempted several
    times and a 0.1 ms one hardly ever, which made a flat per-turn cost look like it grew with the
    chain's length. The work measured (SQLite included) runs on this thread."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        fn()
        times.append((time.thread_time() - start) * 1000)
    return statistics.median(times), min(times)


# ------------------------------------------------------------------ rehydration

def build_chain(store: Any, turns: int) -> str:
    """Write a ``turns``-long chain (one user message in, one assistant message out per turn)."""
    from reference_impl import translate_items, translate_skeleton
    from reference_impl.ids import new_id

    previous: str | None = None
    for n in range(turns):
        request = {"model": "bench-model", "input": f"Question {n}: what comes after {n}?",
                   "previous_response_id": previous, "store": True}
        response = translate_skeleton.response_object(request, response_id=new_id("resp"),
                                                      created_at=1_700_000_000 + n, model="bench-model",
                                                      status="completed")
        response["output"] = [{"id": new_id("msg"), "type": "message", "status": "completed", "role": "assistant",
                               "content": [{"type": "output_text", "text": f"After {n} comes {n + 1}.",
                                            "annotations": []}]}]
        store.put_response(response, input_items=translate_items.request_to_input_items(request))
        previous = response["id"]
    assert previous is not None
    return previous


def rehydrate(store: Any, last_id: str) -> list[dict]:
    """What the router does for ``previous_response_id``: walk the chain, translate to chat messages."""
    from reference_impl import translate_items

    history: list[dict] = []
    for inputs, outputs in store.chain(last_id):
        history += inputs + outputs
    return translate_items.items_to_messages(history)


def flat_read(conn: sqlite3.Connection) -> list[dict]:
    """Baseline: every row of the (single-chain) database in two queries, translated the same way."""
    from reference_impl import translate_items

    outputs = {rid: json.loads(raw).get("output") or [] for rid, raw in
               conn.execute("SELECT id, json FROM responses ORDER BY created_at")}
    inputs: dict[str, list[dict]] = {rid: [] for rid in outputs}
    for rid, raw in conn.execute("SELECT response_id, json FROM input_items ORDER BY response_id, position"):
        inputs[rid].append(json.loads(raw))
    history: list[dict] = []
    for rid, out in outputs.items():
        history += inputs[rid] + out
    return translate_items.items_to_messages(history)


def rehydration_results(log: Callable[[str], None]) -> list[Result]:
    """One Result per chain length; the 1000-turn one is judged against `TARGET_CHAIN_MS`."""
    from reference_impl.store_sqlite import SqliteStore

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for turns in CHAIN_LENGTHS:
            path = Path(tmp) / f"chain{turns}.db"
            store = SqliteStore(path)
            conn = sqlite3.connect(path)  # the baseline's own warm connection, as the store keeps one
            try:
                last = build_chain(store, turns)
                messages = rehydrate(store, last)
                if len(messages) != 2 * turns or len(flat_read(conn)) != 2 * turns:
                    raise RuntimeError(f"{turns}-turn chain rehydrated to {len(messages)} messages")
                median, best = _median_ms(lambda: rehydrate(store, last), CHAIN_REPEATS[turns])
                base, _ = _median_ms(lambda: flat_read(conn), CHAIN_REPEATS[turns])
            finally:
                conn.close()
                store.close()
            log(f"  {turns:>4} turns: chain()+translate {median:8.3f} ms (min {best:.3f}), flat read {base:8.3f} ms")
            judged = turns == TARGET_CHAIN_AT
            results.append(Result(
                "rehydration", f"{turns}-turn chain, median", round(median, 3), "ms",
                "two-query flat read", round(base, 3), f"<= {TARGET_CHAIN_MS} ms" if judged else "none",
                median <= TARGET_CHAIN_MS if judged else None,
                {"min_ms": round(best, 3), "repeats": CHAIN_REPEATS[turns], "messages": len(messages),
                 "turns": turns}))
    per_turn = {r.details["turns"]: r.value / r.details["turns"] for r in results}
    short, long = per_turn[CHAIN_LENGTHS[0]], per_turn[CHAIN_LENGTHS[-1]]
    log("  per turn: " + ", ".join(f"{t} turns {ms * 1000:.2f} us" for t, ms in per_turn.items()))
    results.append(Result(
        "rehydration", f"per-turn cost, {CHAIN_LENGTHS[-1]} vs {CHAIN_LENGTHS[0]} turns", round(long * 1000, 3),
        "us/turn", f"{CHAIN_LENGTHS[0]}-turn chain", round(short * 1000, 3),
        f"<= {TARGET_FLAT_FACTOR}x (flat)", long <= TARGET_FLAT_FACTOR * short,
        {"per_turn_us": {str(t): round(ms * 1000, 3) for t, ms in per_turn.items()}}))
    return results


# ------------------------------------------------------------------ validation

def validation_results(log: Callable[[str], None]) -> list[Result]:
    """Grammar + schema cost per event over every real vector (warm)."""
    from fixtures.grammar import check_stream
    from fixtures.schemas import errors_only, validate_event
    from fixtures.sse import parse_frames

    vectors = [(p.name, p.read_bytes(), VECTOR_MODES.get(p.name, "normal")) for p in sorted(VECTORS.glob("*.sse"))]
    decoded = []
    problems = 0
    for name, body, mode in vectors:  # warm-up pass, and proof the validators accept what they time
        frames = parse_frames(body)
        events = [f.json() for f in frames]
        problems += len(check_stream(frames, mode=mode))
        problems += sum(len(errors_only(validate_event(e, legacy=mode == "legacy"))) for e in events)
        decoded.append((name, body, mode, frames, events))
    count = sum(len(d[4]) for d in decoded)
    grammar = schema = parse = 0.0
    per_vector: dict[str, float] = {}
    for _ in range(VALIDATION_REPEATS):
        for name, body, mode, frames, events in decoded:
            t0 = time.perf_counter()
            for frame in parse_frames(body):
                frame.json()
            t1 = time.perf_counter()
            check_stream(frames, mode=mode)
            t2 = time.perf_counter()
            for event in events:
                validate_event(event, legacy=mode == "legacy")
            t3 = time.perf_counter()
            parse, grammar, schema = parse + t1 - t0, grammar + t2 - t1, schema + t3 - t2
            per_vector[name] = per_vector.get(name, 0.0) + t3 - t1
    per_event = lambda seconds: seconds * 1000 / (count * VALIDATION_REPEATS)  # noqa: E731
    total = per_event(grammar + schema)
    worst = max(per_vector, key=lambda n: per_vector[n] / len(next(d[4] for d in decoded if d[0] == n)))
    worst_ms = per_vector[worst] * 1000 / VALIDATION_REPEATS / len(next(d[4] for d in decoded if d[0] == worst))
    log(f"  {count} events in {len(vectors)} vectors: grammar {per_event(grammar):.4f} ms/event, "
        f"schema {per_event(schema):.4f} ms/event, decode {per_event(parse):.4f} ms/event; "
        f"slowest vector {worst} {worst_ms:.4f} ms/event; rejections {problems}")
    return [Result("validation", "grammar + schema per event (mean)", round(total, 4), "ms/event",
                   "SSE decode + json per event", round(per_event(parse), 4), f"<= {TARGET_EVENT_MS} ms/event",
                   total <= TARGET_EVENT_MS and problems == 0,
                   {"events": count, "vectors": len(vectors), "repeats": VALIDATION_REPEATS,
                    "grammar_ms_per_event": round(per_event(grammar), 4),
                    "schema_ms_per_event": round(per_event(schema), 4),
                    "slowest_vector": worst, "slowest_vector_ms_per_event": round(worst_ms, 4),
                    "rejections_on_real_vectors": problems})]


# ------------------------------------------------------------------ the offline suite

def _run_pytest(extra: tuple[str, ...]) -> tuple[float, int, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *extra], cwd=REPO, capture_output=True, text=True,
                          timeout=SUITE_TIMEOUT)
    return time.perf_counter() - start, done.returncode, done.stdout


def suite_results(log: Callable[[str], None]) -> list[Result]:
    """Wall time of the offline suite and its per-test average (informational: no target)."""
    collect_wall, _, collect_out = _run_pytest(("--collect-only", "-q", "-p", "no:cacheprovider"))
    wall, code, out = _run_pytest(SUITE_ARGS)
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n)
              for n, kind in SUMMARY_COUNT.findall(summary)}
    tests = sum(counts.values())
    collected = re.search(r"(\d+) tests? collected", collect_out)
    average = wall / tests if tests else float("nan")
    failed = [line for line in out.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    log(f"  pytest {' '.join(SUITE_ARGS)}: {wall:.1f} s wall, {average:.3f} s per test, exit {code}, "
        f"{summary!r}; collection alone {collect_wall:.1f} s")
    for line in failed:
        log(f"    {line}")
    return [Result("offline suite", f"wall time ({tests} tests, {average:.3f} s/test, exit {code})", round(wall, 2),
                   "s", "collection only", round(collect_wall, 2), "none", None,
                   {"exit_code": code, "counts": counts, "tests": tests,
                    "collected": int(collected.group(1)) if collected else None,
                    "per_test_avg_s": round(average, 4), "summary": summary, "not_passed": failed})]
