"""Run one Codex CLI turn through the reference router with the embedded model, and judge it.

usage: .venv/bin/python scripts/codex/run_codex.py [--prompt TEXT] [--timeout S] [--context-tokens N]
                                                   [--web-search-disabled] [--keep]

What it does, every step scripted so that a run is reproducible (``make codex``):
1. installs ``@openai/codex@CODEX_VERSION`` with npm into ``.clients/codex`` (git-ignored; skipped
   when that version is already there);
2. starts ``python -m reference_impl --embedded`` on a free loopback port (own process group),
   and a small capturing proxy in front of it, so that every exchange Codex makes is recorded;
3. writes a throwaway ``CODEX_HOME/config.toml`` holding only ``model``, ``model_provider`` and the
   provider block (``base_url``, ``wire_api = "responses"``, ``env_key``), plus
   ``web_search = "disabled"`` only when asked to;
4. runs ``codex exec --skip-git-repo-check PROMPT </dev/null`` in an empty scratch folder;
5. passes only when Codex exits 0, its output shows no error and no retry (``Reconnecting``), and
   the capture holds exactly one ``POST /v1/responses``, answered 200 with a stream that ends in
   ``response.completed``.
Every process it starts is stopped at the end, on failure and on Ctrl-C too. The run's files
(config, Codex's output, the router log, the captured exchanges, ``summary.json``) stay in
``.clients/codex-runs/latest``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODEX_VERSION = "0.171.0"
CODEX_DIR = ROOT / ".clients" / "codex"
CODEX_BIN = CODEX_DIR / "node_modules" / ".bin" / "codex"
RUNS_DIR = ROOT / ".clients" / "codex-runs"
PYTHON = ROOT / ".venv" / "bin" / "python"
HOST = "127.0.0.1"
MODEL = "smollm2-135m-instruct"
API_KEY_ENV = "ROUTER_API_KEY"
ROUTER_START_TIMEOUT_S = 300.0  # first start may write the patched GGUF copy (~100 MB)
STOP_TIMEOUT_S = 15.0
# What Codex prints when a turn goes wrong: retries of a failed stream, and errors.
BAD_OUTPUT = re.compile(r"Reconnecting|retrying|^ERROR|\berror:|stream disconnected", re.I | re.M)


def log(message: str) -> None:
    print(f"[codex-run {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- install

def installed_version() -> str | None:
    manifest = CODEX_DIR / "node_modules" / "@openai" / "codex" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install_codex() -> None:
    if installed_version() == CODEX_VERSION and CODEX_BIN.exists():
        log(f"@openai/codex@{CODEX_VERSION} already in {CODEX_DIR.relative_to(ROOT)}")
        return
    if shutil.which("npm") is None:
        raise SystemExit("npm is not installed: Codex CLI comes from npm (@openai/codex)")
    CODEX_DIR.mkdir(parents=True, exist_ok=True)
    log(f"installing @openai/codex@{CODEX_VERSION} into {CODEX_DIR.relative_to(ROOT)}")
    subprocess.run(["npm", "install", "--prefix", str(CODEX_DIR), "--no-audit", "--no-fund",
                    "--save-exact", f"@openai/codex@{CODEX_VERSION}"], check=True)
    if installed_version() != CODEX_VERSION:
        raise SystemExit(f"npm did not install @openai/codex@{CODEX_VERSION}")


# ---------------------------------------------------------------- capturing proxy

class Capture:
    """A loopback HTTP/1.1 proxy that forwards bytes unchanged and records every exchange.

    Bodies are framed by Content-Length or chunked encoding (what Codex and uvicorn use); each
    exchange is kept as method, path, status, request JSON and the response body as received.
    """

    def __init__(self, upstream_port: int, out: Path) -> None:
        self.upstream_port = upstream_port
        self.out = out
        self.exchanges: list[dict] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> int:
        self._thread.start()
        if not self._ready.wait(10):
            raise SystemExit("the capturing proxy did not start")
        return self.port

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, HOST, 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[bytes, str, dict[str, str]]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return head, lines[0], headers

    @staticmethod
    async def _body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    headers: dict[str, str], sink: bytearray) -> None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = await reader.readuntil(b"\r\n")
                writer.write(size_line)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                        writer.write(trailer)
                    writer.write(b"\r\n")
                    await writer.drain()
                    return
                data = await reader.readexactly(size + 2)
                writer.write(data)
                await writer.drain()
                sink += data[:-2]
        else:
            remaining = int(headers.get("content-length", "0"))
            while remaining:
                data = await reader.read(min(65536, remaining))
                if not data:
                    raise ConnectionError("body ended early")
                remaining -= len(data)
                writer.write(data)
                await writer.drain()
                sink += data

    async def _response(self, up_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                        method: str, exchange: dict, sink: bytearray) -> dict[str, str]:
        rhead, rfirst, rheaders = await self._head(up_r)
        client_w.write(rhead)
        exchange["status"] = int(rfirst.split(" ")[1])
        if method != "HEAD" and exchange["status"] not in (204, 304):
            await self._body(up_r, client_w, rheaders, sink)
        return rheaders

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            client_w.close()
            return
        try:
            while True:
                try:
                    head, first, headers = await self._head(client_r)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                method, path = first.split(" ")[:2]
                started = time.monotonic()
                up_w.write(head)
                request = bytearray()
                await self._body(client_r, up_w, headers, request)
                await up_w.drain()
                exchange = {"n": len(self.exchanges) + 1, "method": method, "path": path,
                            "status": None, "seconds": None}
                self.exchanges.append(exchange)
                log(f"#{exchange['n']} {method} {path} ({len(request)} B)")
                response = bytearray()
                relay = asyncio.ensure_future(self._response(up_r, client_w, method, exchange, response))
                # A client that gives up (Codex after 300 s without an event) closes its side:
                # close the upstream one too, as a direct connection would, so that the router
                # sees the disconnect instead of serving an abandoned request.
                while not relay.done():
                    await asyncio.wait([relay], timeout=0.5)
                    if not relay.done() and client_r.at_eof():
                        relay.cancel()
                        exchange["client_gave_up"] = round(time.monotonic() - started, 1)
                        log(f"#{exchange['n']} client closed the connection after "
                            f"{exchange['client_gave_up']} s")
                        break
                stem = self.out / f"{exchange['n']:02d}"
                stem.with_suffix(".request").write_bytes(bytes(request))
                stem.with_suffix(".response").write_bytes(bytes(response))
                exchange["terminal"] = terminal_event(bytes(response))
                if exchange.get("client_gave_up") is not None:
                    break
                rheaders = relay.result()
                exchange["seconds"] = round(time.monotonic() - started, 1)
                log(f"#{exchange['n']} -> {exchange['status']} {exchange['terminal'] or ''} "
                    f"after {exchange['seconds']} s")
                if rheaders.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log(f"proxy connection ended: {exc!r}")
        finally:
            client_w.close()
            up_w.close()


def terminal_event(body: bytes) -> str | None:
    """The type of the last SSE event (``response.completed``, …) or of a JSON error body."""
    kinds = re.findall(rb'^data: \{"type":"([^"]+)"', body, re.M)
    if kinds:
        return kinds[-1].decode()
    try:
        return "error: " + json.loads(body)["error"].get("code", "?")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# ---------------------------------------------------------------- router

def start_router(run: Path, context_tokens: int | None) -> tuple[subprocess.Popen, int]:
    command = [str(PYTHON), "-m", "reference_impl", "--embedded", "--host", HOST, "--port", "0",
               "--db", f"sqlite:///{run / 'router.sqlite'}"]
    if context_tokens:
        command += ["--context-tokens", str(context_tokens)]
    log("starting " + " ".join(command[1:]))
    logfile = (run / "router.log").open("wb")
    router = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=logfile,
                              start_new_session=True)
    deadline = time.monotonic() + ROUTER_START_TIMEOUT_S
    assert router.stdout is not None
    while time.monotonic() < deadline:
        line = router.stdout.readline().decode()
        if not line:
            break
        logfile.write(line.encode())
        logfile.flush()
        if found := re.search(r"listening on http://[\d.]+:(\d+)", line):
            # Keep draining stdout into the log so that the router never blocks on a full pipe.
            threading.Thread(target=_drain, args=(router.stdout, logfile), daemon=True).start()
            return router, int(found.group(1))
    stop_group(router, "router")
    raise SystemExit(f"the router did not start; see {run / 'router.log'}")


def _drain(stream, sink) -> None:
    for line in stream:
        sink.write(line)
        sink.flush()


def stop_group(process: subprocess.Popen, name: str) -> None:
    if process.poll() is not None:
        return
    log(f"stopping {name} (pid {process.pid})")
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# ---------------------------------------------------------------- codex

def write_config(home: Path, port: int, web_search_disabled: bool) -> str:
    config = (
        f'model = "{MODEL}"\n'
        'model_provider = "router"\n'
        + ('web_search = "disabled"\n' if web_search_disabled else "")
        + "\n[model_providers.router]\n"
        'name = "reference router"\n'
        f'base_url = "http://{HOST}:{port}/v1"\n'
        'wire_api = "responses"\n'
        f'env_key = "{API_KEY_ENV}"\n'
    )
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config)
    return config


def run_codex(run: Path, prompt: str, timeout: float) -> tuple[int | None, str, str, float]:
    scratch = run / "scratch"
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "CODEX_"))}
    env.update(CODEX_HOME=str(run / "codex-home"), **{API_KEY_ENV: "unused-by-the-router"})
    command = [str(CODEX_BIN), "exec", "--skip-git-repo-check", prompt]
    log(f"running codex exec --skip-git-repo-check {prompt!r} (timeout {timeout:.0f} s)")
    started = time.monotonic()
    with (run / "codex.stdout").open("wb") as out, (run / "codex.stderr").open("wb") as err:
        codex = subprocess.Popen(command, cwd=scratch, env=env, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err, start_new_session=True)
        try:
            status: int | None = codex.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            stop_group(codex, "codex")
    elapsed = time.monotonic() - started
    return (status, (run / "codex.stdout").read_text(errors="replace"),
            (run / "codex.stderr").read_text(errors="replace"), elapsed)


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt", default="say hi")
    parser.add_argument("--timeout", type=float, default=1800.0, help="for the Codex turn (default 1800 s)")
    parser.add_argument("--context-tokens", type=int, default=None,
                        help="the router's --context-tokens (default: the router's own default)")
    parser.add_argument("--web-search-disabled", action="store_true",
                        help='add web_search = "disabled" (for a router that refuses hosted search)')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a SIGTERM cleans up like Ctrl-C

    install_codex()
    run = RUNS_DIR / time.strftime("%Y%m%d-%H%M%S")
    run.mkdir(parents=True)
    latest = RUNS_DIR / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(run.name)
    (run / "exchanges").mkdir()
    router = capture = None
    summary: dict = {"codex_version": CODEX_VERSION, "prompt": args.prompt, "run_dir": str(run)}
    try:
        started = time.monotonic()
        router, router_port = start_router(run, args.context_tokens)
        summary["router_start_seconds"] = round(time.monotonic() - started, 1)
        capture = Capture(router_port, run / "exchanges")
        port = capture.start()
        summary["config_toml"] = write_config(run / "codex-home", port, args.web_search_disabled)
        status, stdout, stderr, elapsed = run_codex(run, args.prompt, args.timeout)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if router is not None:
            stop_group(router, "router")
        if capture is not None:
            capture.stop()

    posts = [e for e in capture.exchanges if e["method"] == "POST" and e["path"].endswith("/responses")]
    problems = []
    if status != 0:
        problems.append("codex timed out" if status is None else f"codex exited {status}")
    bad = sorted({m.group(0) for m in BAD_OUTPUT.finditer(stdout + stderr)})
    if bad:
        problems.append(f"codex output shows {bad}")
    if len(posts) != 1:
        problems.append(f"{len(posts)} POST /v1/responses (expected exactly 1: a retry or a second turn)")
    for post in posts:
        if post["status"] != 200 or post.get("terminal") != "response.completed":
            problems.append(f"exchange #{post['n']}: {post['status']} ending in {post.get('terminal')}")
    summary.update(exit_status=status, codex_seconds=round(elapsed, 1), exchanges=capture.exchanges,
                   answer=stdout.strip(), problems=problems, passed=not problems)
    (run / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"codex exit status {status} after {elapsed:.0f} s; {len(posts)} POST /v1/responses; "
        f"answer: {stdout.strip()[:200]!r}")
    for problem in problems:
        log(f"FAIL: {problem}")
    log(("PASS" if not problems else "FAIL") + f" (files in {run})")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
