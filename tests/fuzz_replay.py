"""Replaying the negative fuzz's corpus: send each stored request to a live router and judge the answer.

The corpus (tests/corpus/fuzz/negative.jsonl.gz, written by tests/fuzz_corpus.py) holds the
requests schemathesis generates for the fuzz, byte for byte, with placeholders for stored ids.
Replay sends them on one keep-alive HTTP/1.1 connection (http.client: nothing between the bytes
and the wire) and holds every answer to the fuzz's three rules:

- ``not_a_server_error``: the status is one schemathesis' check accepts (2xx, 3xx, 4xx);
- every answer of 400 or more is exactly the OpenAI error shape (`error_shape_problem`);
- a case schemathesis' ``negative_data_rejection`` would fail on an accepted answer (recorded at
  generation as ``must_reject``) gets one of that check's rejection statuses.

This module imports neither schemathesis nor hypothesis: a replay pays for neither.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reference_impl.openapi import document

CORPUS_PATH = Path(__file__).parent / "corpus" / "fuzz" / "negative.jsonl.gz"
GENERATOR_PATH = Path(__file__).parent / "fuzz_corpus.py"
REFRESH_COMMAND = ".venv/bin/python tests/fuzz_corpus.py"
FORMAT = 1
# Hypothesis counts an example that a strategy filters away as not run; a margin keeps the count.
MAX_EXAMPLES = 2100
# Libraries whose versions decide the generated requests: generation, schema handling, serialization.
GENERATING_DISTRIBUTIONS = ("schemathesis", "hypothesis", "jsonschema_rs", "requests")
# Stored ids in the corpus. Real ids are [A-Za-z0-9_], sent unescaped, and so are these: putting
# the run's id in place of a placeholder gives the bytes generation would have sent with that id.
PLACEHOLDERS = {"plain": "resp_FUZZ_PLAIN_ID", "background": "resp_FUZZ_BACKGROUND_ID",
                "conversation": "conv_FUZZ_CONVERSATION_ID"}
ERROR_FIELDS = {"message", "type", "param", "code"}
REQUEST_TIMEOUT_S = 10


def generation_key() -> dict[str, Any]:
    """What decides the generated cases; a corpus whose header differs in any of it is stale."""
    served = json.dumps(document(), sort_keys=True, separators=(",", ":")).encode()
    return {
        "format": FORMAT,
        "document_sha256": hashlib.sha256(served).hexdigest(),
        # The hypothesis seed is a digest of the generating function's source, and the strategy
        # is defined there too: any edit to the generator may change the cases.
        "generator_sha256": hashlib.sha256(GENERATOR_PATH.read_bytes()).hexdigest(),
        # Generated text depends on the Unicode tables of the interpreter.
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "versions": {name: version(name) for name in GENERATING_DISTRIBUTIONS},
        "max_examples": MAX_EXAMPLES,
        "placeholders": PLACEHOLDERS,
    }


def stale_reason(header: dict[str, Any]) -> str | None:
    """Why a corpus with ``header`` does not hold today's cases, or None when it does."""
    key = generation_key()
    differing = [name for name in key if header.get(name) != key[name]]
    if not differing:
        return None
    return "; ".join(f"{name}: stored {header.get(name)!r}, now {key[name]!r}" for name in differing)


def write(path: Path, header: dict[str, Any], cases: list[dict[str, Any]]) -> None:
    """Write the header and the cases as gzipped JSON lines (mtime 0: the same cases, the same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(item, sort_keys=True, ensure_ascii=False) + "\n" for item in [header, *cases])
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
        out.write(text.encode())


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the cases of a corpus file."""
    with gzip.open(path, "rt", encoding="utf-8") as source:
        header, *cases = (json.loads(line) for line in source)
    return header, cases


def generate_into(path: Path) -> None:
    """Generate the corpus into ``path`` with tests/fuzz_corpus.py (its own process: a fixed hash seed)."""
    subprocess.run([sys.executable, str(GENERATOR_PATH), "--out", str(path)], check=True, stdout=subprocess.DEVNULL)


def cases_to_replay() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The corpus's header and cases; generated live (slow, with a warning) when the corpus is stale."""
    reason = stale_reason(read(CORPUS_PATH)[0]) if CORPUS_PATH.exists() else f"{CORPUS_PATH} is missing"
    if reason is None:
        return read(CORPUS_PATH)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-corpus-") as directory:
        path = Path(directory) / CORPUS_PATH.name
        generate_into(path)
        header, cases = read(path)
    warnings.warn(f"the fuzz corpus is stale ({reason}): {len(cases)} cases generated live in "
                  f"{time.monotonic() - started:.0f} s; refresh it with {REFRESH_COMMAND}", stacklevel=2)
    return header, cases


def error_shape_problem(status: int, content_type: str, body: bytes) -> str | None:
    """Why an error answer is not in the OpenAI shape, or None when it is."""
    if not content_type.startswith("application/json"):
        return f"content-type {content_type!r}"
    try:
        parsed = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:120]!r}"
    if not isinstance(parsed, dict) or set(parsed) != {"error"} or not isinstance(parsed["error"], dict):
        return f"not {{'error': {{...}}}}: {body[:200]!r}"
    error = parsed["error"]
    if set(error) != ERROR_FIELDS:
        return f"error fields {sorted(error)} != {sorted(ERROR_FIELDS)}"
    if not isinstance(error["message"], str) or not error["message"] or not isinstance(error["type"], str):
        return f"message/type not non-empty strings: {error!r}"
    if any(error[k] is not None and not isinstance(error[k], str) for k in ("param", "code")):
        return f"param/code neither string nor null: {error!r}"
    return None


@dataclass(frozen=True)
class Answer:
    """What the router answered to one request."""

    status: int
    content_type: str
    body: bytes


def problems_with(case: dict[str, Any], answer: Answer, header: dict[str, Any]) -> list[str]:
    """Every rule of the fuzz that ``answer`` to ``case`` breaks (an empty list: none)."""
    problems = []
    if answer.status not in header["not_a_server_error_statuses"]:
        problems.append(f"not_a_server_error: status {answer.status}")
    if answer.status >= 400:
        shape = error_shape_problem(answer.status, answer.content_type, answer.body)
        if shape:
            problems.append(f"error shape: {shape}")
    if case["must_reject"] and answer.status not in header["rejection_statuses"]:
        problems.append(f"negative_data_rejection: invalid data accepted with {answer.status}: "
                        f"{answer.body[:200]!r}")
    return problems


def request_of(case: dict[str, Any], ids: dict[str, str]) -> tuple[str, str, list[list[str]], bytes]:
    """The method, URL, headers and body to send for ``case``, with the run's stored ids in its path."""
    path, query = case["url"], ""
    if "?" in path:
        path, query = path.split("?", 1)
        query = "?" + query
    for key, placeholder in PLACEHOLDERS.items():
        path = path.replace(placeholder, ids[key])
    body = base64.b64decode(case["body_b64"]) if "body_b64" in case else case["body"].encode()
    return case["method"], path + query, case["headers"], body


def curl_of(method: str, url: str, headers: Iterable[list[str]], body: bytes) -> str:
    """A shell command that sends the same request again (for a problem's report)."""
    parts = [f"curl -X {method}"] + [f"-H {json.dumps(f'{name}: {value}')}" for name, value in headers]
    if body:
        parts.append(f"-d {json.dumps(body.decode('utf-8', 'replace')[:600])}")
    return " ".join(parts + [json.dumps("$BASE" + url)])


class Connection:
    """One keep-alive HTTP/1.1 connection that sends stored requests exactly as they are."""

    def __init__(self, base_url: str, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout_s = parts.hostname or "127.0.0.1", parts.port or 80, timeout_s
        self.connection: http.client.HTTPConnection | None = None
        self.reconnects = 0  # a kept-alive connection the server had closed: counted, then reopened

    def send(self, method: str, url: str, headers: Iterable[list[str]], body: bytes) -> Answer:
        """Send one request and read its whole answer."""
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            try:
                # The stored headers are the ones schemathesis sent, Accept-Encoding included.
                self.connection.putrequest(method, url, skip_accept_encoding=True)
                for name, value in headers:
                    self.connection.putheader(name, value)
                self.connection.endheaders(body or None)
                response = self.connection.getresponse()
                content = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                # Only a connection that served earlier requests may have been closed while idle;
                # the same request on a fresh connection must then be answered.
                if reused and attempt == 1:
                    self.reconnects += 1
                    continue
                raise
            if response.will_close:
                self.close()
            return Answer(response.status, response.getheader("content-type") or "", content)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class Outcome:
    """What a replay saw: (method, operation path, status) counts, and every broken rule."""

    seen: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    reconnects: int = 0

    @property
    def total(self) -> int:
        """How many requests were answered."""
        return sum(self.seen.values())

    def summary(self) -> str:
        """One line: the requests per operation and status."""
        return ", ".join(f"{m} {p} -> {s}: {n}" for (m, p, s), n in sorted(self.seen.items()))


def replay(base_url: str, header: dict[str, Any], cases: list[dict[str, Any]], ids: dict[str, str]) -> Outcome:
    """Send every case to ``base_url`` and judge each answer."""
    outcome = Outcome()
    connection = Connection(base_url)
    try:
        for case in cases:
            method, url, headers, body = request_of(case, ids)
            try:
                answer = connection.send(method, url, headers, body)
            except (OSError, http.client.HTTPException) as exc:
                outcome.problems.append(f"{case['operation']}: no answer ({exc!r})\n    "
                                        f"{curl_of(method, url, headers, body)}")
                continue
            operation_method, operation_path = case["operation"].split(" ", 1)
            outcome.seen[(operation_method, operation_path, answer.status)] += 1
            for problem in problems_with(case, answer, header):
                outcome.problems.append(f"{case['operation']} -> {answer.status}: {problem}\n    "
                                        f"{curl_of(method, url, headers, body)}")
    finally:
        connection.close()
        outcome.reconnects = connection.reconnects
    return outcome
