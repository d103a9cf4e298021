"""Generate the committed JSON Schemas in fixtures/schemas/<profile>/ from the pinned openai SDK.

Run `python scripts/generate_schemas.py` after upgrading `openai`; `--check` only reports drift.
tests/test_schemas.py regenerates in memory with `build()` and fails when the files differ.

What one profile directory holds:
- `_defs.json`: every pydantic model the files below need, under `$defs` (one copy, shared).
- `response.json`, `error.json` (the `{"error": {...}}` body), `input_items.json` (list page).
- `conversation.json`, `conversation_items.json` (list page), `conversation_item.json`,
  `conversation_deleted.json`: the Conversations API's objects.
- `compacted_response.json` (POST /responses/compact), `input_token_count.json` (POST
  /responses/input_tokens).
- `event.<type>.json`: one file per `ResponseStreamEvent` member, named by its `type` literal.

Transforms applied to pydantic's output, in order (each a function below, each says why):
1. titles dropped (noise in messages and diffs);
2. `additionalProperties: true` on SDK models becomes `x-unknown-fields: warn`, which
   `fixtures.schemas` reports as a warning instead of silently accepting the field;
3. unions discriminated by a `type` const become an `if`/`then` dispatch, so an output item is
   checked against its own schema only (clear messages, and no trial of 30 branches);
4. profile overlays (`OPENAI_*`, `OPENRESPONSES_*` below).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_ROOT = ROOT / "fixtures" / "schemas"
PROFILES = ("openai", "openresponses")
DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_URI = "https://schemas.responses-conformance.invalid/{profile}/"
DEFS_FILE = "_defs.json"
REF_TEMPLATE = DEFS_FILE + "#/$defs/{model}"
UNKNOWN_FIELDS_KEYWORD = "x-unknown-fields"
# Keys whose values are maps of name -> schema (not schemas themselves).
SCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")

# --- profile policy -------------------------------------------------------------------------
# openai: what the SDK requires plus what api.openai.com always sends (see tests/vectors).
OPENAI_RESPONSE_REQUIRED_NON_NULL = ("status",)
# Terminal events whose response must carry a usage object (failed streams send usage: null).
OPENAI_USAGE_REQUIRED = ("response.completed", "response.incomplete")
OPENAI_USAGE_PRESENT = ("response.failed",)
# The error body always has all four keys; code and param may be null.
OPENAI_ERROR_OBJECT_REQUIRED = ("message", "type", "param", "code")
# Fields api.openai.com sends that the SDK models lack: declared, so they are not "unknown".
# `store` is echoed as a boolean by api.openai.com, but neither the SDK's Response nor OpenAI's API
# reference has the field, so nothing a client types breaks on null (LiteLLM echoes an unset
# `store` as null): null is not judged.
OPENAI_RESPONSE_EXTRA_PROPERTIES = {
    "store": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
    "presence_penalty": {"type": "number"},
    "frequency_penalty": {"type": "number"},
}
# Random padding on every `*.delta` event since about Aug 2025 (tests/vectors/README.md).
OPENAI_DELTA_EXTRA_PROPERTIES = {"obfuscation": {"type": "string"}}
# SDK-required fields that recorded OpenAI streams (2025-2026) do not send.
OPENAI_NOT_REQUIRED = {
    "InputTokensDetails": ("cache_write_tokens",),
    # web_search_call items had no `action` until about Aug 2025 (tests/corpus: langchain-openai
    # test_web_search, June/July 2025 recordings, in responses and in streams).
    "ResponseFunctionWebSearch": ("action",),
}
# The same, for the top-level schema of one event type.
OPENAI_EVENT_NOT_REQUIRED = {
    # `logprobs` on text events arrived in mid-2025; earlier recordings omit the key (tests/corpus:
    # langchain-openai, 20 streams of May-July 2025).
    "response.output_text.delta": ("logprobs",),
    "response.output_text.done": ("logprobs",),
}
# Event types api.openai.com sends that the pinned SDK lacks (so no model to generate from): the
# schema written for the `openai` dialect. The grammar knows them too (grammar_rules.LIVE_EVENTS).
_ITEM_EVENT = {"item_id": {"type": "string"}, "output_index": {"type": "integer"},
               "sequence_number": {"type": "integer"}}
OPENAI_LIVE_EVENTS = {
    # apply_patch tool calls stream their diff (tests/corpus: langchain-openai test_apply_patch,
    # gpt-5.1, 2026); the SDK has the apply_patch_call item but not these two events.
    "response.apply_patch_call_operation_diff.delta": {
        "required": ["type", "item_id", "output_index", "sequence_number", "delta"],
        "properties": {**_ITEM_EVENT, "delta": {"type": "string"}},
    },
    "response.apply_patch_call_operation_diff.done": {
        "required": ["type", "item_id", "output_index", "sequence_number", "diff"],
        "properties": {**_ITEM_EVENT, "diff": {"type": "string"}},
    },
}
# openresponses: the Open Responses spec's ResponseResource required list (openresponses/
# openresponses schema/components/schemas/ResponseResource.json); the second list may not be null.
OPENRESPONSES_RESPONSE_REQUIRED = (
    "id", "object", "created_at", "completed_at", "status", "incomplete_details", "model",
    "previous_response_id", "instructions", "output", "error", "tools", "tool_choice",
    "truncation", "parallel_tool_calls", "text", "top_p", "presence_penalty",
    "frequency_penalty", "top_logprobs", "temperature", "reasoning", "user", "usage",
    "max_output_tokens", "max_tool_calls", "store", "background", "service_tier", "metadata",
    "safety_identifier", "prompt_cache_key",
)
OPENRESPONSES_RESPONSE_NON_NULL = (
    "status", "tools", "tool_choice", "truncation", "parallel_tool_calls", "text", "top_p",
    "presence_penalty", "frequency_penalty", "top_logprobs", "temperature", "store",
    "background", "service_tier", "metadata",
)


def sdk_models() -> tuple[dict[str, type], dict[str, type]]:
    """Return (event type literal -> event model, file stem -> other top-level model)."""
    from openai.types.conversations import Conversation, ConversationDeletedResource, ConversationItemList
    from openai.types.responses import (
        CompactedResponse, InputTokenCountResponse, Response, ResponseItemList, ResponseStreamEvent,
    )
    from openai.types.shared.error_object import ErrorObject

    union = typing.get_args(ResponseStreamEvent)[0]
    events: dict[str, type] = {}
    for model in typing.get_args(union):
        (literal,) = typing.get_args(model.model_fields["type"].annotation)
        events[literal] = model
    return events, {"response": Response, "input_items": ResponseItemList, "error": ErrorObject,
                    "conversation": Conversation, "conversation_items": ConversationItemList,
                    "conversation_deleted": ConversationDeletedResource,
                    "compacted_response": CompactedResponse, "input_token_count": InputTokenCountResponse}


def _walk(schema: Any, visit: typing.Callable[[dict], None]) -> None:
    """Call `visit` on every schema dict, bottom-up, knowing which keys hold name maps."""
    if isinstance(schema, list):
        for item in schema:
            _walk(item, visit)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            for sub in value.values():
                _walk(sub, visit)
        elif key not in ("const", "enum", "default", "examples"):
            _walk(value, visit)
    visit(schema)


def _drop_titles(schema: dict) -> None:
    if isinstance(schema.get("title"), str):
        del schema["title"]


def _mark_unknown_fields(schema: dict) -> None:
    if schema.get("additionalProperties") is True and "properties" in schema:
        del schema["additionalProperties"]
        schema[UNKNOWN_FIELDS_KEYWORD] = "warn"


def _type_const(branch: dict, defs: dict) -> str | None:
    if "$ref" in branch:
        branch = defs.get(branch["$ref"].rsplit("/", 1)[-1], {})
    type_schema = branch.get("properties", {}).get("type", {})
    if "const" in type_schema and "type" in branch.get("required", ()):
        return type_schema["const"]
    return None


def _dispatch_unions(defs: dict) -> typing.Callable[[dict], None]:
    def visit(schema: dict) -> None:
        branches = schema.get("anyOf")
        if not isinstance(branches, list) or len(branches) < 3:
            return
        objects = [b for b in branches if b != {"type": "null"}]
        consts = [_type_const(b, defs) for b in objects]
        if None in consts or len(set(consts)) != len(consts):
            return
        dispatch = {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": consts}},
            "allOf": [
                {"if": {"properties": {"type": {"const": c}}}, "then": b}
                for c, b in zip(consts, objects)
            ],
        }
        del schema["anyOf"]
        if len(objects) == len(branches):
            schema.update(dispatch)
        else:
            schema["anyOf"] = [dispatch, {"type": "null"}]
    return visit


def _non_null(prop: dict) -> dict:
    branches = [b for b in prop.get("anyOf", ()) if b != {"type": "null"}]
    if not branches or len(branches) == len(prop.get("anyOf", ())):
        return prop
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**rest, **branches[0]} if len(branches) == 1 else {**rest, "anyOf": branches}


def _require(schema: dict, fields: typing.Iterable[str], *, non_null: bool) -> None:
    required = schema.setdefault("required", [])
    for name in fields:
        if name not in required:
            required.append(name)
        if non_null and name in schema.get("properties", {}):
            schema["properties"][name] = _non_null(schema["properties"][name])


def _ref(model: str) -> dict:
    return {"$ref": REF_TEMPLATE.format(model=model)}


def _openai_overlay(defs: dict, events: dict[str, dict], names: dict[str, str]) -> None:
    _require(defs["Response"], OPENAI_RESPONSE_REQUIRED_NON_NULL, non_null=True)
    defs["Response"]["properties"].update(copy.deepcopy(OPENAI_RESPONSE_EXTRA_PROPERTIES))
    for name, fields in OPENAI_NOT_REQUIRED.items():
        defs[name]["required"] = [f for f in defs[name]["required"] if f not in fields]
    for event_type, fields in OPENAI_EVENT_NOT_REQUIRED.items():
        events[event_type]["required"] = [f for f in events[event_type]["required"] if f not in fields]
    for event_type, shape in OPENAI_LIVE_EVENTS.items():
        events[event_type] = {
            "$comment": "sent by api.openai.com, absent from the pinned SDK",
            "type": "object",
            "required": list(shape["required"]),
            "properties": {"type": {"const": event_type}, **copy.deepcopy(shape["properties"])},
            UNKNOWN_FIELDS_KEYWORD: "warn",
        }
    for event_type, schema in events.items():
        if event_type.endswith(".delta"):
            schema["properties"].update(copy.deepcopy(OPENAI_DELTA_EXTRA_PROPERTIES))
    _require(defs[names["error"]], OPENAI_ERROR_OBJECT_REQUIRED, non_null=False)
    _compacted_user_messages(defs, names)
    defs["ResponseError"]["properties"]["code"] = {
        "$comment": "open set: OpenAI sends codes outside the SDK enum (insufficient_quota)",
        "type": "string",
    }
    for event_type in OPENAI_USAGE_REQUIRED + OPENAI_USAGE_PRESENT:
        nullable = event_type in OPENAI_USAGE_PRESENT
        usage = {"anyOf": [_ref("ResponseUsage"), {"type": "null"}]} if nullable else _ref("ResponseUsage")
        events[event_type]["properties"]["response"] = {
            "allOf": [_ref("Response"), {"required": ["usage"], "properties": {"usage": usage}}]
        }
    # api.openai.com nests the error event's fields under "error" (tests/vectors/openai/
    # failed-insufficient-quota-gpt5.sse); the SDK models them flat. Accept both.
    sdk_shape = events["error"]
    events["error"] = {
        "description": sdk_shape.get("description", ""),
        "anyOf": [
            sdk_shape,
            {
                "type": "object",
                "required": ["type", "sequence_number", "error"],
                "properties": {
                    "type": {"const": "error"},
                    "sequence_number": {"type": "integer"},
                    "error": _ref(names["error"]),
                },
                UNKNOWN_FIELDS_KEYWORD: "warn",
            },
        ],
    }


def _compacted_user_messages(defs: dict, names: dict[str, str]) -> None:
    """A compacted output is "all user messages, followed by a single compaction item" (the SDK's own
    docstring), but the SDK types it as ResponseOutputItem, whose message is the assistant's. A
    message with role user is checked as the user message it is (ResponseInputMessageItem, the shape
    input_items lists it in); every other item keeps the output item schema."""
    output = defs[names["compacted_response"]]["properties"]["output"]
    output["items"] = {
        "if": {"type": "object", "required": ["type", "role"],
               "properties": {"type": {"const": "message"}, "role": {"const": "user"}}},
        "then": _ref("ResponseInputMessageItem"),
        "else": output["items"],
    }


def _openresponses_overlay(defs: dict, events: dict[str, dict], names: dict[str, str]) -> None:
    _openai_overlay(defs, events, names)
    _require(defs["Response"], OPENRESPONSES_RESPONSE_REQUIRED, non_null=False)
    _require(defs["Response"], OPENRESPONSES_RESPONSE_NON_NULL, non_null=True)


OVERLAYS = {"openai": _openai_overlay, "openresponses": _openresponses_overlay}


def build(profile: str) -> dict[str, dict]:
    """Return {file name: schema} for one profile, exactly as the committed files hold them."""
    from pydantic.json_schema import models_json_schema

    if profile not in OVERLAYS:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    event_models, other_models = sdk_models()
    models = list(other_models.values()) + list(event_models.values())
    key_map, top = models_json_schema([(m, "validation") for m in models], ref_template=REF_TEMPLATE)
    defs = top["$defs"]
    name_of = {m: key_map[(m, "validation")]["$ref"].rsplit("/", 1)[-1] for m in models}
    _walk(defs, _drop_titles)
    _walk(defs, _mark_unknown_fields)
    _walk(defs, _dispatch_unions(defs))

    events = {t: copy.deepcopy(defs[name_of[m]]) for t, m in event_models.items()}
    names = {stem: name_of[m] for stem, m in other_models.items()}
    OVERLAYS[profile](defs, events, names)

    base = BASE_URI.format(profile=profile)
    files: dict[str, dict] = {
        DEFS_FILE: {"$schema": DIALECT, "$id": base + DEFS_FILE, "$defs": dict(sorted(defs.items()))}
    }
    error_body = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": _ref(names["error"])},
        UNKNOWN_FIELDS_KEYWORD: "warn",
    }
    tops = {stem: _ref(name) for stem, name in names.items() if stem != "error"}
    tops["error"] = error_body
    # One item of a conversation (GET …/items/{id}): the SDK's ConversationItem union, which is
    # not a model of its own, so the file points into the list's schema.
    tops["conversation_item"] = {"$ref": DEFS_FILE + f"#/$defs/{names['conversation_items']}/properties/data/items"}
    for stem, schema in tops.items():
        files[f"{stem}.json"] = {"$schema": DIALECT, "$id": f"{base}{stem}.json", **schema}
    for event_type, schema in sorted(events.items()):
        name = f"event.{event_type}.json"
        files[name] = {"$schema": DIALECT, "$id": base + name, **schema}
    return files


def dump(schema: dict) -> str:
    """Serialise one schema the way the committed files are written (stable, diff-friendly)."""
    return json.dumps(schema, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) every profile's schema files; return an exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args(argv)
    drift: list[str] = []
    for profile in PROFILES:
        directory = SCHEMA_ROOT / profile
        files = build(profile)
        if not args.check:
            directory.mkdir(parents=True, exist_ok=True)
            for stale in set(p.name for p in directory.glob("*.json")) - set(files):
                (directory / stale).unlink()
        for name, schema in files.items():
            path = directory / name
            text = dump(schema)
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            drift.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(text, encoding="utf-8")
    verb = "differ from the installed SDK" if args.check else "written"
    print(f"{len(drift)} schema file(s) {verb}" + "".join(f"\n  {p}" for p in drift))
    return 1 if (args.check and drift) else 0


if __name__ == "__main__":
    sys.exit(main())
