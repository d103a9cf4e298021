"""Tools in the forms clients send them, reduced to what a Chat Completions backend knows (pure).

Owns, for translate.py, translate_items.py, engine.py and stream.py:

- Hosted tools (`HOSTED_TOOL_TYPES`): tools that OpenAI runs itself and this router cannot.
  `hosted_tools` finds them; the engine refuses them (400 ``unsupported_tool`` naming
  ``tools[i]``) or drops them, as the deployment says (``--hosted-tools``, docs/parameters.md).
- Namespace tools (``{type: namespace, name, tools: [function | custom …]}``, sent by Codex):
  flattened to chat functions named ``<namespace>__<name>`` (`chat_name`); `flat_tools` lists
  every function and custom tool with its namespace, and `tool_names` maps a chat name back to
  ``(namespace, name)`` so the call items carry both.
- Custom tools with a ``grammar`` format: a ``regex`` grammar becomes a JSON Schema ``pattern``
  on the chat function's ``input`` string (`custom_parameters`), which llama.cpp enforces as a
  grammar whenever it constrains the arguments (the forced-call adapter always does). A ``lark``
  grammar is accepted and not enforced: no chat backend takes Lark.
- Tool outputs that name their tool instead of a ``call_id`` (`OpenCalls`): matched to the most
  recent unanswered call of that tool in the history.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Tool types of the pinned SDK's tools union that only OpenAI's own platform runs.
HOSTED_TOOL_TYPES = frozenset({
    "web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11",
    "file_search", "code_interpreter", "image_generation", "computer", "computer_use_preview",
    "local_shell", "shell", "apply_patch", "tool_search", "programmatic_tool_calling",
})
# Tool types the router serves itself (mcp through mcp.py).
CLIENT_TOOL_TYPES = ("function", "custom")
NAMESPACE = "namespace"
NAMESPACE_SEPARATOR = "__"
HOSTED_POLICIES = ("reject", "drop")
UNSUPPORTED_TOOL_CODE = "unsupported_tool"
# A custom tool is exposed to chat as a function with a single free-form string parameter.
CUSTOM_TOOL_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The raw input for the tool."}},
    "required": ["input"],
    "additionalProperties": False,
}


def hosted_tools(tools: list[dict] | None) -> list[tuple[int, str]]:
    """``(index, type)`` of each hosted tool in ``tools``."""
    return [(i, t["type"]) for i, t in enumerate(tools or [])
            if isinstance(t, dict) and t.get("type") in HOSTED_TOOL_TYPES]


def hosted_tool_message(kind: str) -> str:
    """The message of the 400 that refuses a hosted tool."""
    return (f"The '{kind}' tool is not supported by this server: it is a hosted tool that only "
            f"OpenAI runs. Remove it from 'tools' and try again.")


def chat_name(namespace: str | None, name: str) -> str:
    """The chat function name of a tool, ``<namespace>__<name>`` inside a namespace."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


@dataclass(frozen=True)
class FlatTool:
    """One function or custom tool, possibly from inside a namespace tool."""

    param: str          # where it is in the request (``tools[0].tools[1]``)
    tool: dict
    namespace: str | None = None

    @property
    def kind(self) -> str:
        return self.tool["type"]

    @property
    def name(self) -> Any:
        return self.tool.get("name")

    @property
    def chat_name(self) -> str:
        return chat_name(self.namespace, self.name)


def flat_tools(tools: list[dict] | None) -> Iterator[FlatTool]:
    """Every function and custom tool in ``tools``, namespaces expanded, in order.

    MCP tools are not yielded (mcp.py serves them); any other type, hosted tools included, is
    yielded for the caller to reject with its param.
    """
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == NAMESPACE:
            for j, inner in enumerate(tool.get("tools") or []):
                if isinstance(inner, dict):
                    yield FlatTool(f"tools[{i}].tools[{j}]", inner, tool.get("name"))
        elif tool.get("type") != "mcp":
            yield FlatTool(f"tools[{i}]", tool)


def tool_names(tools: list[dict] | None) -> dict[str, tuple[str, str]]:
    """Chat name -> ``(namespace, name)`` for each tool inside a namespace."""
    return {t.chat_name: (t.namespace, t.name) for t in flat_tools(tools)
            if t.namespace and t.kind in CLIENT_TOOL_TYPES}


def find_tool(tools: list[dict] | None, name: str, namespace: str | None = None) -> FlatTool | None:
    """The tool a choice or an item names: by namespace and name, else by name alone."""
    flat = [t for t in flat_tools(tools) if t.kind in CLIENT_TOOL_TYPES]
    for tool in flat:
        if tool.name == name and (namespace is None or tool.namespace == namespace):
            return tool
    return None


def custom_parameters(tool: dict) -> dict:
    """The chat parameters schema of a custom tool: a regex grammar patterns its input."""
    parameters = copy.deepcopy(CUSTOM_TOOL_PARAMETERS)
    fmt = tool.get("format")
    if (isinstance(fmt, dict) and fmt.get("type") == "grammar" and fmt.get("syntax") == "regex"
            and isinstance(fmt.get("definition"), str)):
        # Anchored and grouped: JSON Schema patterns match anywhere, and llama.cpp requires ^…$.
        parameters["properties"]["input"]["pattern"] = f"^({fmt['definition']})$"
    return parameters


@dataclass
class OpenCalls:
    """Tool calls seen so far in a history that no output has answered yet (in call order)."""

    calls: list[tuple[str, str | None, str]] = field(default_factory=list)  # call_id, namespace, name

    def add(self, call_id: str, namespace: str | None, name: str) -> None:
        self.calls.append((call_id, namespace, name))

    def answer(self, call_id: str) -> None:
        self.calls = [c for c in self.calls if c[0] != call_id]

    def match(self, name: str, namespace: str | None) -> str | None:
        """The call id of the most recent unanswered call of that tool (then answered), or None."""
        for call_id, ns, called in reversed(self.calls):
            if called == name and (namespace is None or ns == namespace):
                self.answer(call_id)
                return call_id
        return None
