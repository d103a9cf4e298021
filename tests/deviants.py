"""Deviant routers: the reference router with exactly one DESIGN.md §5 deviation injected.

In the manner of Bowtie's "miniatures": the starting point is correct by construction (the real
``reference_impl`` app, usually over recorded model traffic), and each deviation is one small ASGI
layer that changes only what the client sees, the way a real gateway or server gets it wrong
(echoing ``previous_response_id`` as null, keeping ``store=false`` responses, a raw error body…).
``tests/test_deviations.py`` runs the real suite against each and requires it to fail, naming the
problem.

Each deviation is a handler over the exchange (tests/deviant_http.py). Only plain JSON answers are
rewritten; streams (``text/event-stream``) pass through untouched, so each deviation is caught by a
non-streamed case. Streaming deviations are proven by the grammar's own unit tests
(tests/test_grammar.py).

``MODEL_DEVIATIONS`` (tests/model_deviants.py) change what reaches the model, not what the client
sees (a chain's context dropped, images dropped): only the model's answer shows them, so they need a
live, content-aware backend rather than recordings (tests/test_deviations_context.py). What broke
Codex on its first request is in tests/codex_deviants.py. ``CLIENT_DEVIATIONS``
(tests/client_deviants.py) break real clients, and the clients profile catches them
(tests/test_deviations_clients.py).

Run one: ``python tests/deviants.py --deviation NAME --port N --replay DIR --db sqlite:///F``
(``--deviation none`` serves the router unchanged, as the control; ``--list`` names them all).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from tests/: make the repo importable
    sys.path.insert(0, str(REPO))

import uvicorn  # noqa: E402

from reference_impl.app import RouterConfig, create_app  # noqa: E402
from reference_impl.ids import new_id  # noqa: E402
from client_deviants import CLIENT_DEVIATIONS  # noqa: E402
from codex_deviants import (client_metadata_rejected, context_overflow_as_failed,  # noqa: E402
                            function_output_by_name_refused, hosted_tool_unnamed, logprobs_empty,
                            namespace_tool_rejected)
from conversation_deviants import CONVERSATION_DEVIATIONS  # noqa: E402
from deviant_http import (ASGIApp, Answer, Call, Forward, Handler, edit_response, is_create,  # noqa: E402
                          on_errors, on_responses, wrapper)
from model_deviants import MODEL_DEVIATIONS  # noqa: E402
from ws_deviants import WS_DEVIATIONS  # noqa: E402

NO_DEVIATION = "none"
ONE = re.compile(r"^(?:/v1)?/responses/(?P<id>[^/]+)$")
CANCEL = re.compile(r"^(?:/v1)?/responses/(?P<id>[^/]+)/cancel$")
INPUT_TOKENS = re.compile(r"^(?:/v1)?/responses/input_tokens$")
CHARS_PER_TOKEN = 4  # the usual character estimate of a server without the model's tokenizer
# What a server that ignores text.format answers: a sentence, not JSON.
PROSE = "The capital of France is Paris, and Paris is in France."
# What a server that ignores tool_choice=required answers instead of a call.
MESSAGE_INSTEAD_OF_CALL = "I do not need a tool for that; it is probably sunny."
# The output a server that ignores require_approval reports for the call it ran anyway.
UNAPPROVED_OUTPUT = "2"
NULLED_SAMPLING = ("temperature", "top_p")
NULLED_TOOLING = ("tools", "tool_choice")
ALREADY_CANCELLED = "Response {id} was already cancelled."


# -- the deviations ------------------------------------------------------------------------------
def previous_response_id_null() -> Handler:
    """previous_response_id is ignored: every response echoes it as null."""
    return on_responses(lambda call, response: response.update(previous_response_id=None))


def _store_false_ignored(when: Callable[[dict[str, Any]], bool]) -> Handler:
    """A handler storing a store=false create anyway (when ``when`` says so), echoing store false."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        if is_create(call) and call.body.get("store") is False and when(call.body):
            kept = {k: v for k, v in call.body.items() if k != "store"}
            return edit_response(await forward(body=kept), lambda r: r.update(store=False))
        return await forward()
    return handler


def store_ignored() -> Handler:
    """store=false is ignored: the response echoes store false but is kept and retrievable."""
    return _store_false_ignored(lambda body: True)


def instructions_carried_over() -> Handler:
    """instructions are carried over a chain: a follow-up without any echoes the previous turn's."""
    seen: dict[str, Any] = {}

    def change(call: Call, response: dict[str, Any]) -> None:
        previous = response.get("previous_response_id")
        if response.get("instructions") is None and previous in seen:
            response["instructions"] = seen[previous]
        seen[response["id"]] = response.get("instructions")
    return on_responses(change)


def delete_not_deleting() -> Handler:
    """DELETE answers deleted true but the response stays retrievable."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        match = ONE.match(call.path)
        if call.method == "DELETE" and match:
            return Answer.of_json(200, {"id": match["id"], "object": "response.deleted", "deleted": True})
        return await forward()
    return handler


def unknown_id_500() -> Handler:
    """An unknown id is a 500 instead of a 404 (same error body)."""
    return on_errors(lambda answer, body: answer.with_json(body, 500) if answer.status == 404 else answer)


def error_raw_shape() -> Handler:
    """Errors come as the raw inner object instead of {"error": {...}}."""
    def change(answer: Answer, body: Any) -> Answer:
        return answer.with_json(body["error"]) if isinstance(body, dict) and "error" in body else answer
    return on_errors(change)


def error_param_dropped() -> Handler:
    """Error objects never name the offending parameter (param is null)."""
    def change(answer: Answer, body: Any) -> Answer:
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body["error"]["param"] = None
            return answer.with_json(body)
        return answer
    return on_errors(change)


def null_sampling_fields() -> Handler:
    """temperature and top_p are returned as null whatever the request sent."""
    return on_responses(lambda call, response: response.update(dict.fromkeys(NULLED_SAMPLING)))


def null_tool_fields() -> Handler:
    """tools and tool_choice, never null in the API, are returned as null."""
    return on_responses(lambda call, response: response.update(dict.fromkeys(NULLED_TOOLING)))


def usage_chat_names() -> Handler:
    """usage keeps the Chat Completions names (prompt_tokens, completion_tokens)."""
    def change(call: Call, response: dict[str, Any]) -> None:
        usage = response.get("usage")
        if isinstance(usage, dict):
            response["usage"] = {"prompt_tokens": usage.get("input_tokens"),
                                 "completion_tokens": usage.get("output_tokens"),
                                 "total_tokens": usage.get("total_tokens")}
    return on_responses(change)


def incomplete_reason_length() -> Handler:
    """incomplete_details.reason is the chat finish_reason "length", outside the enum."""
    def change(call: Call, response: dict[str, Any]) -> None:
        details = response.get("incomplete_details")
        if isinstance(details, dict) and details.get("reason") == "max_output_tokens":
            details["reason"] = "length"
    return on_responses(change)


def text_format_ignored() -> Handler:
    """text.format is ignored: a JSON format is echoed but the answer is prose."""
    def change(call: Call, response: dict[str, Any]) -> None:
        kind = ((response.get("text") or {}).get("format") or {}).get("type")
        if kind not in ("json_schema", "json_object"):
            return
        messages = [i for i in response.get("output") or [] if i.get("type") == "message"]
        for part in [p for m in messages for p in m.get("content") or []]:
            if part.get("type") == "output_text":
                part["text"] = PROSE
    return on_responses(change)


def tool_choice_ignored() -> Handler:
    """A forcing tool_choice (required or named) is ignored: a message comes instead of the call."""
    def change(call: Call, response: dict[str, Any]) -> None:
        if response.get("tool_choice") in (None, "auto", "none"):
            return
        output = [i for i in response.get("output") or [] if i.get("type") != "function_call"]
        if len(output) == len(response.get("output") or []):
            return
        message = {"id": new_id("msg"), "type": "message", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": MESSAGE_INSTEAD_OF_CALL, "annotations": []}]}
        response["output"] = [*output, message]
    return on_responses(change)


def mcp_approval_ignored() -> Handler:
    """require_approval is ignored: the MCP tool runs and no approval request is made."""
    def change(call: Call, response: dict[str, Any]) -> None:
        response["output"] = [
            {"type": "mcp_call", "id": new_id("mcp"), "server_label": item.get("server_label"),
             "name": item.get("name"), "arguments": item.get("arguments"), "approval_request_id": None,
             "output": UNAPPROVED_OUTPUT, "error": None, "status": "completed"}
            if item.get("type") == "mcp_approval_request" else item
            for item in response.get("output") or []]
    return on_responses(change)


def credentials_echoed() -> Handler:
    """MCP credentials (authorization, headers) are kept in the returned tools."""
    def change(call: Call, response: dict[str, Any]) -> None:
        if not is_create(call):
            return
        sent = {t.get("server_label"): t for t in call.body.get("tools") or []
                if isinstance(t, dict) and t.get("type") == "mcp"}
        for tool in response.get("tools") or []:
            original = sent.get(tool.get("server_label")) if tool.get("type") == "mcp" else None
            for secret in ("authorization", "headers"):
                if original and original.get(secret):
                    tool[secret] = original[secret]
    return on_responses(change)


def cancel_anything_accepted() -> Handler:
    """Cancel of a finished or foreground response is accepted: 200 with the response as it is."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        match = CANCEL.match(call.path)
        answer = await forward()
        if call.method != "POST" or not match or answer is None or answer.status in (200, 404):
            return answer
        return await forward(method="GET", path=call.path.removesuffix("/cancel"), body=None)
    return handler


def cancel_not_idempotent() -> Handler:
    """A second cancel of a cancelled response is a 400 error instead of the same answer."""
    cancelled: set[str] = set()

    async def handler(call: Call, forward: Forward) -> Answer | None:
        match = CANCEL.match(call.path)
        if call.method != "POST" or not match:
            return await forward()
        if match["id"] in cancelled:
            return Answer.of_json(400, {"error": {"message": ALREADY_CANCELLED.format(id=match["id"]),
                                                  "type": "invalid_request_error", "param": None,
                                                  "code": None}})
        answer = await forward()
        if answer is not None and answer.status == 200:
            cancelled.add(match["id"])
        return answer
    return handler


def background_without_store_accepted() -> Handler:
    """background=true with store=false is accepted (and quietly stored) instead of a 400."""
    return _store_false_ignored(lambda body: body.get("background") is True)


def compaction_dropped() -> Handler:
    """Compaction items sent back as input are dropped before the model sees them."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        items = call.body.get("input") if is_create(call) else None
        if not isinstance(items, list) or not any(isinstance(i, dict) and i.get("type") == "compaction" for i in items):
            return await forward()
        kept = [i for i in items if not (isinstance(i, dict) and i.get("type") == "compaction")]
        return await forward(body={**call.body, "input": kept})
    return handler


def input_tokens_estimated() -> Handler:
    """Input tokens are counted as characters / 4, not with the model's tokenizer."""
    async def handler(call: Call, forward: Forward) -> Answer | None:
        answer = await forward()
        body = answer.json() if answer is not None else None
        if not (INPUT_TOKENS.match(call.path) and isinstance(body, dict) and "input_tokens" in body):
            return answer
        return answer.with_json({**body, "input_tokens": len(json.dumps(call.body)) // CHARS_PER_TOKEN})  # type: ignore[union-attr]
    return handler


_FACTORIES: tuple[Callable[[], Handler], ...] = (
    previous_response_id_null, store_ignored, instructions_carried_over, delete_not_deleting,
    unknown_id_500, error_raw_shape, error_param_dropped, null_sampling_fields, null_tool_fields,
    usage_chat_names, incomplete_reason_length, text_format_ignored, tool_choice_ignored,
    mcp_approval_ignored, credentials_echoed, cancel_anything_accepted, cancel_not_idempotent,
    background_without_store_accepted, client_metadata_rejected, namespace_tool_rejected,
    hosted_tool_unnamed, function_output_by_name_refused, context_overflow_as_failed, logprobs_empty,
    compaction_dropped, input_tokens_estimated,
)


# name -> (one-line docstring, wrapper turning the correct app into the deviant one)
DEVIATIONS: dict[str, tuple[str, Callable[[ASGIApp], ASGIApp]]] = {
    **{f.__name__: ((f.__doc__ or "").strip(), wrapper(f)) for f in _FACTORIES},
    **WS_DEVIATIONS,  # WebSocket mode (tests/ws_deviants.py): the socket's messages, not HTTP
    **CONVERSATION_DEVIATIONS,  # the store under parallel creates (tests/conversation_deviants.py)
}
# The clients profile catches CLIENT_DEVIATIONS (tests/client_deviants.py), each with a real client.
_ALL = {**DEVIATIONS, **MODEL_DEVIATIONS, **CLIENT_DEVIATIONS}


def build_app(deviation: str, config: RouterConfig) -> ASGIApp:
    """The reference router built from ``config``, with ``deviation`` (or none) injected."""
    app: ASGIApp = create_app(config)
    return app if deviation == NO_DEVIATION else _ALL[deviation][1](app)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (usage errors name the problem)."""
    parser = argparse.ArgumentParser(prog="python tests/deviants.py", description=__doc__.splitlines()[0])
    parser.add_argument("--deviation", choices=[NO_DEVIATION, *_ALL], default=NO_DEVIATION)
    parser.add_argument("--list", action="store_true", help="print every deviation with its docstring")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--replay", metavar="DIR", help="recorded model traffic (--backend-replay)")
    parser.add_argument("--backend", action="append", default=[], metavar="URL", help="a live backend")
    parser.add_argument("--db", default="sqlite:///deviant.sqlite", help="store URL")
    args = parser.parse_args(argv)
    if not args.list and not (args.replay or args.backend):
        parser.error("give --replay DIR or --backend URL")
    return args


def main(argv: list[str] | None = None) -> int:
    """Serve one deviant router until SIGTERM/SIGINT."""
    args = parse_args(argv)
    if args.list:
        for name, (doc, _) in _ALL.items():
            print(f"{name}: {doc}")
        return 0
    config = RouterConfig(backends=args.backend, db=args.db, replay_dir=args.replay)
    uvicorn.run(build_app(args.deviation, config), host=args.host, port=args.port,
                log_level="warning", lifespan="on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
