"""The ASGI application factory: wires store, backends, engine, background runner and routes."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware

from .background import MAX_WORKERS, BackgroundRunner, recover_orphans
from .backend import READ_TIMEOUT, BackendPool
from . import compaction, conversations, input_tokens, openapi, websocket
from .cache import ResponseCache
from .engine import Engine
from .errors import EXCEPTION_HANDLERS, CatchAllMiddleware
from .recording import transport_for
from .routes import ROUTES
from .sealing import Sealer, key_from
from .store import store_for_url

DEFAULT_DB = "sqlite:///reference_impl.db"


@dataclass
class RouterConfig:
    """Everything `create_app` needs; __main__.py fills it from the command line."""

    backends: list[str] = field(default_factory=list)
    native_backends: list[str] = field(default_factory=list)
    db: str = DEFAULT_DB
    record_dir: str | None = None
    replay_dir: str | None = None
    cache: bool = False
    max_background: int = MAX_WORKERS
    read_timeout: float = READ_TIMEOUT
    hosted_tools: str = "reject"  # hosted tools (web_search, …): "reject" (400 naming them) or "drop"
    sealing_key: str | None = None  # base64 of 32 bytes; else RESPONSES_SEALING_KEY, else per process
    ws_max_message_bytes: int = websocket.MAX_MESSAGE_BYTES  # larger WebSocket messages: an error event


def create_app(config: RouterConfig) -> Starlette:
    """Build the router. Services start in the lifespan (orphan recovery first) and stop after it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = store_for_url(config.db)
        recover_orphans(store)
        transport = transport_for(record_dir=config.record_dir, replay_dir=config.replay_dir,
                                  read_timeout=config.read_timeout)
        pool = BackendPool(config.backends, native_urls=config.native_backends, transport=transport)
        await pool.start()
        sealer = Sealer(key_from(config.sealing_key)) if config.sealing_key else Sealer()
        engine = Engine(store, pool, cache=ResponseCache(enabled_by_default=config.cache),
                        hosted_tools=config.hosted_tools, sealer=sealer)
        runner = BackgroundRunner(engine, max_workers=config.max_background)
        app.state.store, app.state.pool, app.state.engine, app.state.runner = store, pool, engine, runner
        app.state.ws_max_message_bytes = config.ws_max_message_bytes
        try:
            yield
        finally:
            await runner.aclose()
            await engine.aclose()
            await pool.aclose()
            store.close()

    return Starlette(
        # compact and input_tokens first: /v1/responses/{response_id} would match their paths.
        routes=[*compaction.ROUTES, *input_tokens.ROUTES, *ROUTES, websocket.ROUTE, *conversations.ROUTES,
                openapi.ROUTE],  # GET /openapi.json
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(CatchAllMiddleware)],
        lifespan=lifespan,
    )
