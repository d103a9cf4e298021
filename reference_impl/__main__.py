"""Command line: ``python -m reference_impl --backend URL … --db sqlite:///… --port 8080``."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import uvicorn
import uvloop

from .app import DEFAULT_DB, RouterConfig, create_app
from .launcher import DEFAULT_CONTEXT_TOKENS
from .translate_tools import HOSTED_POLICIES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# The server stack, stated rather than left to uvicorn's "auto": libuv's event loop (main runs
# the server on it) and the compiled HTTP/1.1 parser, both measured on the router's hot path
# (docs/benchmarks.md).
SERVER_HTTP = "httptools"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line (exits with a usage error naming the problem)."""
    parser = argparse.ArgumentParser(prog="python -m reference_impl",
                                     description="Responses API router over Chat Completions backends")
    parser.add_argument("--backend", action="append", default=[], metavar="URL",
                        help="Chat Completions base URL (repeatable)")
    parser.add_argument("--native-backend", action="append", default=[], metavar="URL",
                        help="a backend that speaks the Responses API itself (repeatable)")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"store URL (default {DEFAULT_DB})")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--embedded", action="store_true", help="start the embedded local model as a backend")
    parser.add_argument("--context-tokens", type=int, default=DEFAULT_CONTEXT_TOKENS, metavar="N",
                        help="context of the embedded model (default %(default)s; Codex CLI's first prompt "
                             "needs about 9.2k, so `make codex` asks for 16384: above the model's "
                             "trained 8192 it is served with scaled RoPE)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--backend-record", metavar="DIR", help="record every backend exchange to DIR")
    mode.add_argument("--backend-replay", metavar="DIR", help="serve backend exchanges from DIR, no network")
    parser.add_argument("--cache", action="store_true", help="cache identical requests")
    parser.add_argument("--hosted-tools", choices=HOSTED_POLICIES, default="reject",
                        help="hosted tools the router cannot run (web_search, file_search, …): "
                             "reject with a 400 naming the tool (default), or drop them and serve "
                             "the request without them")
    parser.add_argument("--max-background", type=int, default=4, help="concurrent background responses")
    parser.add_argument("--sealing-key", metavar="BASE64",
                        help="key for encrypted_content (base64 of 32 bytes; default: "
                             "$RESPONSES_SEALING_KEY, else a random key per process)")
    args = parser.parse_args(argv)
    if not (args.backend or args.native_backend or args.embedded or args.backend_replay):
        parser.error("give at least one --backend URL, --embedded, or --backend-replay DIR")
    if args.context_tokens < 1:
        parser.error("--context-tokens must be positive")
    if args.sealing_key:
        from .sealing import key_from

        try:
            key_from(args.sealing_key)
        except ValueError as exc:
            parser.error(f"--sealing-key: {exc}")
    return args


async def _serve(args: argparse.Namespace) -> int:
    embedded: Any = None
    backends = list(args.backend)
    if args.embedded:
        from .launcher import start_embedded  # lazy: loads xllamacpp and the model

        embedded = await asyncio.to_thread(start_embedded, context_tokens=args.context_tokens)
        backends.append(embedded.base_url)
    try:
        config = RouterConfig(backends=backends, native_backends=args.native_backend, db=args.db,
                              record_dir=args.backend_record, replay_dir=args.backend_replay,
                              cache=args.cache, max_background=args.max_background,
                              hosted_tools=args.hosted_tools,
                              sealing_key=args.sealing_key)
        server = uvicorn.Server(uvicorn.Config(create_app(config), host=args.host, port=args.port,
                                               log_level="warning", lifespan="on", http=SERVER_HTTP))
        # uvicorn installs its own SIGINT/SIGTERM handlers; both end serve() cleanly.
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1] if server.servers else args.port
            print(f"router listening on http://{args.host}:{port}", flush=True)
        await task
        return 0 if server.started else 1
    finally:
        if embedded is not None:
            embedded.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the router until SIGTERM/SIGINT."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return uvloop.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
