"""`Turn`: a validated create request, ready to run.

The value `Engine.prepare` makes and every transport hands back (`Engine.events`, `run`,
`persist`; the background runner queues it, the WebSocket connection remembers it). Its own
module so the transports and the backend-turn code (backend_turn.py) use it without importing
the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .backend import Backend

if TYPE_CHECKING:
    from .mcp import McpToolset


@dataclass
class Turn:
    """A validated create request, ready to run."""

    request: dict
    response: dict  # skeleton (status in_progress, or queued in background mode)
    input_items: list[dict]
    history: list[dict]
    backend: Backend
    toolset: McpToolset | None = None  # the request's MCP tools
    chat_inputs: list[dict] | None = None  # input_items as the backend sees them (reasoning opened)
    events: list[dict] = field(default_factory=list)  # everything events() yielded, in order

    @property
    def stored(self) -> bool:
        """Whether this response is persisted."""
        return self.request.get("store") is not False

    @property
    def background(self) -> bool:
        """Whether this is a background response."""
        return bool(self.request.get("background"))
