"""A request's ``type: mcp`` tool, parsed: the server it names and the rules that apply to it.

Owns ``parse_server`` (one request tool into an ``McpServer``: label, URL, the headers the calls
carry with ``authorization`` folded in as a bearer token, the ``allowed_tools`` filter and the
``require_approval`` mode or filters) and ``McpToolError`` (a ``ValueError`` naming the parameter)
for a malformed tool. Pure: no I/O and no MCP SDK; ``reference_impl.mcp`` lists and calls the
servers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["APPROVAL_MODES", "DEFAULT_APPROVAL", "McpServer", "McpToolError", "ToolFilter", "parse_server"]

APPROVAL_MODES = ("always", "never")
# OpenAI asks for approval unless told otherwise; tools matching no filter keep that default.
DEFAULT_APPROVAL = "always"


class McpToolError(ValueError):
    """A ``type: mcp`` tool in the request is malformed; ``param`` names the field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ToolFilter:
    """``tool_names`` and/or ``read_only`` (OpenAI's MCP tool filter); empty matches nothing."""

    names: frozenset[str] | None = None
    read_only: bool | None = None

    def matches(self, name: str, annotations: dict | None) -> bool:
        if self.names is None and self.read_only is None:
            return False
        if self.names is not None and name not in self.names:
            return False
        if self.read_only is not None:
            return bool((annotations or {}).get("readOnlyHint")) == self.read_only
        return True


def _parse_filter(value: Any, param: str) -> ToolFilter:
    if isinstance(value, list):
        value = {"tool_names": value}
    if not isinstance(value, dict):
        raise McpToolError(f"'{param}' must be a list of tool names or a filter object", param)
    names = value.get("tool_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise McpToolError(f"'{param}.tool_names' must be a list of strings", f"{param}.tool_names")
    read_only = value.get("read_only")
    if read_only is not None and not isinstance(read_only, bool):
        raise McpToolError(f"'{param}.read_only' must be a boolean", f"{param}.read_only")
    return ToolFilter(frozenset(names) if names is not None else None, read_only)


@dataclass
class McpServer:
    """One ``type: mcp`` request tool, parsed, plus what listing found."""

    label: str
    url: str
    headers: dict[str, str]
    allowed: ToolFilter | None  # None: every tool
    approval_mode: str | None  # "always" | "never" | None when per-tool filters are given
    approval_always: ToolFilter = field(default_factory=ToolFilter)
    approval_never: ToolFilter = field(default_factory=ToolFilter)
    tools: list[dict] = field(default_factory=list)  # listed and allowed, in mcp_list_tools shape

    def allows(self, name: str, annotations: dict | None) -> bool:
        return self.allowed is None or self.allowed.matches(name, annotations)

    def needs_approval(self, name: str, annotations: dict | None) -> bool:
        if self.approval_mode is not None:
            return self.approval_mode == "always"
        if self.approval_always.matches(name, annotations):
            return True
        if self.approval_never.matches(name, annotations):
            return False
        return DEFAULT_APPROVAL == "always"

    def annotations_of(self, name: str) -> dict | None:
        return next((t.get("annotations") for t in self.tools if t["name"] == name), None)


def parse_server(tool: dict, index: int) -> McpServer:
    param = f"tools[{index}]"
    label, url = tool.get("server_label"), tool.get("server_url")
    if not isinstance(label, str) or not label:
        raise McpToolError(f"Missing required parameter: '{param}.server_label'", f"{param}.server_label")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise McpToolError(f"'{param}.server_url' must be an http(s) URL", f"{param}.server_url")
    headers = tool.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise McpToolError(f"'{param}.headers' must map strings to strings", f"{param}.headers")
    headers = dict(headers)
    token = tool.get("authorization")
    if token is not None:
        if not isinstance(token, str):
            raise McpToolError(f"'{param}.authorization' must be a string", f"{param}.authorization")
        # An explicit authorization wins over an Authorization header given in any letter case.
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {token}"
    allowed = tool.get("allowed_tools")
    server = McpServer(
        label=label,
        url=url,
        headers=headers,
        allowed=None if allowed is None else _parse_filter(allowed, f"{param}.allowed_tools"),
        approval_mode=DEFAULT_APPROVAL,
    )
    approval = tool.get("require_approval")
    if isinstance(approval, str):
        if approval not in APPROVAL_MODES:
            raise McpToolError(
                f"'{param}.require_approval' must be one of {APPROVAL_MODES}", f"{param}.require_approval"
            )
        server.approval_mode = approval
    elif isinstance(approval, dict):
        server.approval_mode = None
        for mode in APPROVAL_MODES:
            if approval.get(mode) is not None:
                parsed = _parse_filter(approval[mode], f"{param}.require_approval.{mode}")
                setattr(server, f"approval_{mode}", parsed)
    elif approval is not None:
        raise McpToolError(
            f"'{param}.require_approval' must be a string or an object", f"{param}.require_approval"
        )
    return server
