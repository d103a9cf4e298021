"""MCP credentials: used for the calls to MCP servers, never echoed, stored or logged.

A ``type: mcp`` request tool may carry ``headers`` and ``authorization``. `strip_credentials` is
the one place that removes them; the echoed Response (translate_skeleton.py) and everything the stores
write (`without_credentials`) go through it.
"""
from __future__ import annotations

from typing import Any

MCP_SECRET_FIELDS = ("headers", "authorization")


def strip_credentials(tools: list[Any] | None) -> list[Any] | None:
    """``tools`` with the MCP tools' credentials removed; every tool object is a copy."""
    if tools is None:
        return None
    out: list[Any] = []
    for tool in tools:
        if isinstance(tool, dict):
            secret = MCP_SECRET_FIELDS if tool.get("type") == "mcp" else ()
            tool = {k: v for k, v in tool.items() if k not in secret}
        out.append(tool)
    return out


def without_credentials(response: dict) -> dict:
    """A copy of a Response object whose ``tools`` carry no MCP credentials."""
    tools = response.get("tools")
    if not isinstance(tools, list):
        return response
    return {**response, "tools": strip_credentials(tools)}
