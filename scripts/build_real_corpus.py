"""Build tests/corpus/openai/*.jsonl.gz: real OpenAI Responses exchanges from public recordings.

Usage:
    python scripts/build_real_corpus.py SOURCE SDIST.tar.gz [SDIST.tar.gz ...]
    (SOURCE: mirascope | langchain-openai)

A source's recordings are read straight out of its published source distributions: VCR
cassettes (mirascope: `tests/**/cassettes/**/*.yaml`; langchain-openai:
`tests/cassettes/*.yaml.gz`). Releases are read oldest first;
an exchange whose response body was already seen (same bytes) is kept once, under the first
release that shipped it. Nothing in a body is changed: JSON and SSE bodies are stored as the
recorded text (tests/test_real_traffic.py scans every row for credentials; none were found).

What is kept (tests/corpus/SOURCES.md says why each rule is there):
- only api.openai.com: the recorded request URI is `https://api.openai.com/v1/responses…`; where
  the source redacts URIs (langchain-openai), the response must carry OpenAI's own header set
  (`openai-version`, `openai-processing-ms`, `x-request-id`; values redacted by the source);
- never the ChatGPT Codex backend (cassettes named `*codex*`), never Chat Completions or
  embeddings: the request has an `input`, the answer is a Response (`object: "response"`), an
  error body, or an SSE stream of `response.*` events;
- every `resp_`/`msg_`/… id that carries a hex timestamp must carry one 0–900 s after the
  response's `created_at` (what a hand-written mock fails).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any, Iterator

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "corpus" / "openai"
OPENAI_HEADERS = ("openai-version", "openai-processing-ms", "x-request-id")
ID_RE = re.compile(r"\b(?:resp|msg|fc|rs|ws|ci|mcp|mcpl|ig|ctc|fs|cmp|tsc|tso|apc|sh)_([0-9a-f]{16,})\b")
MAX_BODY = 160_000  # larger bodies are base64 images: they add megabytes and no protocol shape


def _version_key(name: str) -> tuple[int, ...]:
    match = re.search(r"-(\d+(?:\.\d+)+)\.tar\.gz$", name)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        if value[:2] == b"\x1f\x8b":  # stored still gzip-encoded
            value = gzip.decompress(value)
        return value.decode("utf-8", "replace")
    return str(value)


def _sse_types(body: str) -> list[str]:
    return [line[6:].strip() for line in body.splitlines() if line.startswith("event:")] or [
        json.loads(line[5:]).get("type", "") for line in body.splitlines()
        if line.startswith("data:") and line[5:].strip().startswith("{")]


def _kind(request: Any, status: int, body: str) -> str | None:
    """response | error | input_items | sse, or None when this is not a Responses exchange."""
    if body.lstrip().startswith(("event:", "data:")):
        types = _sse_types(body)
        return "sse" if types and all(t.startswith("response.") or t == "error" for t in types) else None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    if status >= 400:
        return "error" if isinstance(parsed.get("error"), dict) and isinstance(request, dict) and "input" in request else None
    if parsed.get("object") == "response":
        return "response"
    if parsed.get("object") == "list" and str(parsed.get("first_id", "")).startswith(("msg_", "fc_", "rs_")):
        return "input_items"
    return None


def _timestamps_plausible(body: str) -> bool:
    """The response's own `resp_` id carries a hex time 0–900 s after its `created_at`.

    Other ids may point back (previous_response_id, history), so only they are allowed a day
    before; a mock id such as `resp_0100000…` fails.
    """
    created = [int(m) for m in re.findall(r'"created_at"\s*:\s*(\d{10})', body)]
    if not created:
        return True
    low = min(created)

    def stamps(hexes: str) -> set[int]:
        return {int(hexes[i:i + 8], 16) for i in range(0, len(hexes) - 7)}

    matches = list(ID_RE.finditer(body))
    own = [m for m in matches if m.group(0).startswith("resp_")][:1]
    if own and not any(low - 5 <= s <= low + 900 for s in stamps(own[0].group(1))):
        return False
    return all(any(low - 86_400 <= s <= low + 900 for s in stamps(m.group(1))) for m in matches)


def _members(tarballs: list[Path], pattern: str) -> Iterator[tuple[str, str, bytes]]:
    """(release, path inside the sdist, bytes) of every member matching `pattern`, oldest release first."""
    for tarball in sorted(tarballs, key=lambda p: _version_key(p.name)):
        release = ".".join(map(str, _version_key(tarball.name)))
        with tarfile.open(tarball) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                name = member.name.split("/", 1)[1] if "/" in member.name else member.name
                if member.isfile() and re.search(pattern, name):
                    data = tar.extractfile(member).read()
                    yield release, name, gzip.decompress(data) if name.endswith(".gz") else data


def _raw(release: str, name: str, index: int, request: dict, response: dict) -> dict:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    content_type = headers.get("content-type")
    return {"release": release, "path": name, "interaction": index,
            "method": request.get("method"), "uri": request.get("uri"),
            "request_body": _text(request.get("body")),
            "status": response["status"]["code"], "response_headers": headers,
            "content_type": content_type[0] if isinstance(content_type, list) else content_type,
            "body": _text(response["body"]["string"])}


def _mirascope(tarballs: list[Path]) -> Iterator[dict]:
    for release, name, data in _members(tarballs, r"^tests/.*cassettes/.*\.yaml$"):
        cassette = yaml.safe_load(data)
        interactions = cassette.get("interactions") if isinstance(cassette, dict) else None
        for index, interaction in enumerate(interactions if isinstance(interactions, list) else []):
            if not (isinstance(interaction, dict) and "request" in interaction and "response" in interaction):
                continue  # not a VCR recording (other fixtures share the folder name)
            yield _raw(release, name, index, interaction["request"], interaction["response"])


def _langchain(tarballs: list[Path]) -> Iterator[dict]:
    for release, name, data in _members(tarballs, r"^tests/cassettes/[^/]+\.yaml\.gz$"):
        if "codex" in name.lower():
            continue  # the ChatGPT Codex backend, not api.openai.com
        cassette = yaml.safe_load(data)
        for index, (request, response) in enumerate(zip(cassette.get("requests", []), cassette.get("responses", []))):
            yield _raw(release, name, index, request, response)


READERS = {"mirascope": _mirascope, "langchain-openai": _langchain}
OPENAI_URI = re.compile(r"^https://api\.openai\.com/v1/responses(?:/|\?|$)")


def _reject(raw: dict, request: Any, kind: str | None, body: str) -> str | None:
    """Why this recording is not kept, or None."""
    if kind is None:
        return "not a Responses exchange"
    if "REDACTED" in str(raw["uri"]):
        if not all(h in raw["response_headers"] for h in OPENAI_HEADERS):
            return "no api.openai.com header set"
    elif not OPENAI_URI.match(str(raw["uri"])):
        return "not api.openai.com/v1/responses"
    if raw["method"] == "POST" and not (isinstance(request, dict) and "input" in request):
        return "request is not a Responses create"
    if len(body) > MAX_BODY:
        return "body over the size cap"
    if not _timestamps_plausible(body):
        return "ids do not carry the response's timestamp"
    return None


def build(source: str, tarballs: list[Path]) -> dict[str, int]:
    """Write OUT/<source>.jsonl.gz and return counts by kind (and of what was dropped)."""
    if source not in READERS:
        raise SystemExit(f"unknown source {source!r}; known: {', '.join(READERS)}")
    seen: set[str] = set()
    rows: list[dict] = []
    counts: dict[str, int] = {}
    for raw in READERS[source](tarballs):
        body = raw["body"] or ""
        try:
            request = json.loads(raw["request_body"]) if raw["request_body"] else None
        except ValueError:
            request = None
        kind = _kind(request, raw["status"], body)
        reason = _reject(raw, request, kind, body)
        digest = hashlib.sha256(body.encode()).hexdigest()
        if reason is None and digest in seen:
            reason = "duplicate body"
        if reason is not None:
            counts[f"dropped: {reason}"] = counts.get(f"dropped: {reason}", 0) + 1
            continue
        seen.add(digest)
        stem = raw["path"].removeprefix("tests/").removesuffix(".gz").removesuffix(".yaml")
        recorded_type = raw["content_type"] if raw["content_type"] and "REDACTED" not in raw["content_type"] else None
        rows.append({
            "id": f"{source}/{stem}#{raw['interaction']}@{raw['release']}",
            "source": source, "release": raw["release"], "path": raw["path"], "interaction": raw["interaction"],
            "method": raw["method"],
            "uri": None if "REDACTED" in str(raw["uri"]) else raw["uri"],
            "status": raw["status"],
            # langchain-openai redacts header values: there the type follows from the body's shape.
            "content_type": recorded_type or ("text/event-stream; charset=utf-8" if kind == "sse" else "application/json"),
            "content_type_recorded": recorded_type is not None,
            "kind": kind,
            "request": {k: request.get(k) for k in ("model", "stream", "background", "store", "previous_response_id")
                        if k in request} if isinstance(request, dict) else None,
            "sha256": digest,
            "body": body,
        })
        counts[kind] = counts.get(kind, 0) + 1
    OUT.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    (OUT / f"{source}.jsonl.gz").write_bytes(gzip.compress(data.encode("utf-8"), mtime=0))
    return counts


if __name__ == "__main__":
    print(json.dumps(build(sys.argv[1], [Path(p) for p in sys.argv[2:]]), indent=1))
