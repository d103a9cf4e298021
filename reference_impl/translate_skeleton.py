"""The Response skeleton a request starts (pure): the request's settings echoed into a Response
with empty ``output`` and no usage, as every create answers and every event stream begins.

Separate from translate.py because it faces the client, not the backend: what the Response
reports (OpenAI's defaults where a field was left out, fields echoed only when sent, resolved
settings) is its own set of rules, and ``ResponseStream`` takes the skeleton from here.
"""
from __future__ import annotations

from typing import Any

from reference_impl.credentials import strip_credentials
from reference_impl.jsoncodec import copy_json

# Defaults OpenAI reports when a request leaves a field out (never null where OpenAI is never null).
RESPONSE_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "truncation": "disabled",
    "store": True,
    "background": False,
    "top_logprobs": 0,
    "service_tier": "default",
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}
# Request fields echoed verbatim (null when absent).
ECHOED_FIELDS = (
    "instructions", "max_output_tokens", "max_tool_calls", "previous_response_id",
    "prompt_cache_key", "safety_identifier", "user",
)
# Request fields the Response has, echoed verbatim only when the request sent them. Two are not
# verbatim: Response.image.context_compression is the resolved setting (``enabled``/``disabled``,
# so a sent ``auto`` is reported as ``disabled``: the router compresses nothing), and
# Response.moderation is a moderation *result* (``input``/``output``), which the router never
# produces, so the request's ``moderation`` is accepted and not echoed.
ECHOED_WHEN_SENT = ("prompt_cache_retention", "prompt_cache_options", "access_programs")
RESOLVED_IMAGE_COMPRESSION = {"auto": "disabled"}


def response_object(
    request: dict, *, response_id: str, created_at: int, model: str, status: str
) -> dict:
    """Return the Response skeleton echoing ``request``, with empty output and no usage yet."""
    text = request.get("text") or {}
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": model,
        "output": [],
        "reasoning": copy_json(request.get("reasoning")) or {"effort": None, "summary": None},
        "text": {
            **copy_json(text),
            "format": copy_json(text.get("format") or {"type": "text"}),
            "verbosity": text.get("verbosity") or "medium",
        },
        "tools": strip_credentials(request.get("tools")) or [],
        "usage": None,
        "metadata": dict(request.get("metadata") or {}),
        "completed_at": None,
    }
    for field in ECHOED_FIELDS:
        response[field] = copy_json(request.get(field))
    for field in ECHOED_WHEN_SENT:
        if request.get(field) is not None:
            response[field] = copy_json(request[field])
    image = request.get("image")
    if isinstance(image, dict):
        response["image"] = copy_json(image)
        compression = image.get("context_compression")
        if compression in RESOLVED_IMAGE_COMPRESSION:
            response["image"]["context_compression"] = RESOLVED_IMAGE_COMPRESSION[compression]
    for field, default in RESPONSE_DEFAULTS.items():
        value = request.get(field)
        response[field] = default if value is None else copy_json(value)
    return response
