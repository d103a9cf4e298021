"""Deviant routers that change what reaches the model, not what the client sees.

A chain's context dropped (``previous_response_id`` echoed but not followed) and ``input_image``
parts dropped: only the model's answer shows them, so they need a live, content-aware backend
rather than recordings (tests/test_deviations_context.py). ``MODEL_DEVIATIONS`` maps each name to
its one-line docstring and wrapper, as ``deviants.DEVIATIONS`` does; tests/deviants.py serves them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deviant_http import ASGIApp, Answer, Call, Forward, Handler, edit_response, is_create, wrapper

__all__ = ["MODEL_DEVIATIONS", "context_dropped", "images_dropped"]


def context_dropped() -> Handler:
    """previous_response_id is echoed but ignored: the model sees only the new turn, not the chain."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        previous = call.body.get("previous_response_id") if is_create(call) else None
        if not previous:
            return await forward()
        alone = {k: v for k, v in call.body.items() if k != "previous_response_id"}
        return edit_response(await forward(body=alone), lambda r: r.update(previous_response_id=previous))
    return handler


def images_dropped() -> Handler:
    """input_image parts are silently dropped before the model; the request is otherwise accepted."""
    def without_images(item: Any) -> Any:
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(content, list):
            return item
        kept = [p for p in content if not (isinstance(p, dict) and p.get("type") == "input_image")]
        return {**item, "content": kept}

    async def handler(call: Call, forward: Forward) -> Answer | None:
        if not (is_create(call) and isinstance(call.body.get("input"), list)):
            return await forward()
        return await forward(body={**call.body, "input": [without_images(i) for i in call.body["input"]]})
    return handler


# name -> (one-line docstring, wrapper turning the correct app into the deviant one), as in
# deviants.DEVIATIONS; only the model's answer shows these (they need a live backend).
MODEL_DEVIATIONS: dict[str, tuple[str, Callable[[ASGIApp], ASGIApp]]] = {
    f.__name__: ((f.__doc__ or "").strip(), wrapper(f)) for f in (context_dropped, images_dropped)
}
