"""Deviant routers for what broke Codex on its first request (DESIGN §5), as the router answered
before issue 11.

Each is one way the router answered Codex wrongly: something Codex sends refused
(``client_metadata``, a namespace tool, a function output named by its tool without a
``call_id``), a hosted tool refused without naming it, a context overflow reported as a 200
``failed`` (which clients retry forever), requested logprobs left empty. tests/deviants.py serves
them with the others, and tests/test_deviations.py requires the suite to fail each one.
"""
from __future__ import annotations

from typing import Any

from reference_impl.ids import new_id
from deviant_http import Answer, Call, Forward, Handler, on_responses, rejecting

__all__ = ["client_metadata_rejected", "context_overflow_as_failed", "function_output_by_name_refused",
           "hosted_tool_unnamed", "logprobs_empty", "namespace_tool_rejected"]


def client_metadata_rejected() -> Handler:
    """client_metadata, which Codex sends on every request, is a 400 unknown_parameter."""
    return rejecting(lambda body: ("client_metadata", "Unknown parameter: 'client_metadata'.")
                      if "client_metadata" in body else None, code="unknown_parameter")


def namespace_tool_rejected() -> Handler:
    """A namespace tool (in the SDK's tools union, sent by Codex) is a 400."""
    def when(body: dict[str, Any]) -> tuple[str, str] | None:
        for i, tool in enumerate(body.get("tools") or []):
            if isinstance(tool, dict) and tool.get("type") == "namespace":
                return f"tools[{i}].type", f"Invalid value: 'namespace' at tools[{i}].type."
        return None
    return rejecting(when, code="invalid_value")


def hosted_tool_unnamed() -> Handler:
    """A hosted tool it cannot run is a 400 that names neither the tool nor a param (code null)."""
    def when(body: dict[str, Any]) -> tuple[str, str] | None:
        hosted = [t for t in body.get("tools") or [] if isinstance(t, dict)
                  and t.get("type") not in ("function", "custom", "mcp", "namespace")]
        return (None, "Unsupported tool.") if hosted else None  # type: ignore[return-value]
    return rejecting(when, code=None)


def function_output_by_name_refused() -> Handler:
    """A function_call_output that names its tool without a call_id is a 400."""
    def when(body: dict[str, Any]) -> tuple[str, str] | None:
        items = body.get("input") if isinstance(body.get("input"), list) else []
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("type") == "function_call_output" and "call_id" not in item:
                return f"input[{i}].call_id", f"Missing required parameter: 'input[{i}].call_id'."
        return None
    return rejecting(when, code="missing_required_parameter")


def context_overflow_as_failed() -> Handler:
    """A context overflow is a 200 with status failed and server_error, which clients retry forever."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        answer = await forward()
        body = answer.json() if answer is not None else None
        error = body.get("error") if isinstance(body, dict) else None
        if not (answer and answer.status == 400 and isinstance(error, dict)
                and error.get("code") == "context_length_exceeded"):
            return answer
        failed = {"id": new_id("resp"), "object": "response", "created_at": 0, "status": "failed",
                  "model": call.body.get("model"), "output": [], "usage": None, "incomplete_details": None,
                  "error": {"code": "server_error", "message": f"backend HTTP 400: {error.get('message')}"}}
        return Answer.of_json(200, failed)
    return handler


def logprobs_empty() -> Handler:
    """Requested logprobs come back as empty lists."""
    def change(call: Call, response: dict[str, Any]) -> None:
        for item in response.get("output") or []:
            for part in item.get("content") or [] if isinstance(item, dict) else []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    part["logprobs"] = []
    return on_responses(change)
