"""Unit tests for fixtures.schemas and the committed schema files (including the drift test)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from fixtures.schemas import (
    OBJECTS,
    DIALECTS,
    SCHEMA_ROOT,
    errors_only,
    event_schema_types,
    validate_error,
    validate_event,
    validate_input_items,
    validate_object,
    validate_response,
)
from fixtures.sse import parse_frames

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).parent / "vectors" / "openai"


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_schemas", ROOT / "scripts" / "generate_schemas.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def completed_response() -> dict:
    frames = parse_frames((VECTORS / "text-gpt4omini.sse").read_bytes())
    return copy.deepcopy(frames[-1].json()["response"])


@pytest.mark.parametrize("profile", DIALECTS)
def test_committed_schemas_match_installed_sdk(profile: str) -> None:
    generator = load_generator()
    fresh = {name: generator.dump(schema) for name, schema in generator.build(profile).items()}
    directory = SCHEMA_ROOT / profile
    committed = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.json")}
    stale = sorted(set(committed) ^ set(fresh)) + sorted(n for n in fresh if committed.get(n, fresh[n]) != fresh[n])
    assert not stale, (
        f"fixtures/schemas/{profile} drifted from the installed openai SDK ({', '.join(stale[:5])}…); "
        "run `python scripts/generate_schemas.py` and commit the result"
    )


def test_every_sdk_event_type_has_a_schema() -> None:
    generator = load_generator()
    events, _ = generator.sdk_models()
    # Plus the event types the live API sends beyond the SDK (the openai dialect follows it).
    assert event_schema_types("openai") == frozenset(events) | frozenset(generator.OPENAI_LIVE_EVENTS)
    assert "response.mcp_call_arguments.delta" in events


def test_real_completed_response_is_valid() -> None:
    assert validate_response(completed_response()) == []


def test_null_status_is_an_error_in_openai_profile() -> None:
    response = completed_response()
    response["status"] = None
    assert [i.path for i in errors_only(validate_response(response))] == ["$.status"]


@pytest.mark.parametrize("field", ["temperature", "top_p", "truncation", "store"])
def test_openresponses_profile_rejects_null_fields_openai_allows(field: str) -> None:
    response = completed_response()
    response.update(completed_at=1, presence_penalty=0.0, frequency_penalty=0.0)
    assert errors_only(validate_response(response, "openresponses")) == []
    response[field] = None
    assert [i.path for i in errors_only(validate_response(response, "openresponses"))] == [f"$.{field}"]
    if field != "store":  # store is declared non-null in the openai profile too
        assert errors_only(validate_response(response, "openai")) == []


@pytest.mark.parametrize("field", ["presence_penalty", "completed_at"])
def test_openresponses_profile_requires_spec_fields(field: str) -> None:
    response = completed_response()
    response.update(completed_at=1, presence_penalty=0.0, frequency_penalty=0.0)
    del response[field]
    assert errors_only(validate_response(response, "openai")) == []
    assert [i.message for i in errors_only(validate_response(response, "openresponses"))] == [f"'{field}' is a required property"]


def test_unknown_field_is_a_warning_not_an_error() -> None:
    response = completed_response()
    response["vendor_extension"] = {"x": 1}
    issues = validate_response(response)
    assert [(i.severity, i.path) for i in issues] == [("warning", "$")]
    assert "vendor_extension" in issues[0].message


def test_unknown_field_in_a_union_branch_is_reported_on_its_item() -> None:
    response = completed_response()
    response["output"][0]["extra"] = True
    assert [(i.severity, i.path) for i in validate_response(response)] == [("warning", "$.output[0]")]


def test_unknown_output_item_type_is_an_error() -> None:
    response = completed_response()
    response["output"][0]["type"] = "assistant_message"
    assert [i.path for i in validate_response(response)] == ["$.output[0].type"]


def test_usage_is_required_on_completed_event() -> None:
    event = {"type": "response.completed", "sequence_number": 3, "response": completed_response()}
    assert validate_event(event) == []
    event["response"]["usage"] = None
    assert [i.path for i in validate_event(event)] == ["$.response.usage"]


def test_missing_sequence_number_is_an_error_unless_legacy() -> None:
    event = {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": "{"}
    assert any("sequence_number" in i.message for i in validate_event(event))
    assert validate_event(event, legacy=True) == []


def test_unknown_event_type_is_an_error() -> None:
    issues = validate_event({"type": "response.mcp_call.arguments.delta", "sequence_number": 1})
    assert [(i.path, i.severity) for i in issues] == [("$.type", "error")]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "error", "sequence_number": 2, "code": "server_error", "message": "boom", "param": None},
        {"type": "error", "sequence_number": 2,
         "error": {"type": "server_error", "code": "server_error", "message": "boom", "param": None}},
    ],
    ids=["sdk-flat-shape", "openai-nested-shape"],
)
def test_error_event_accepts_both_observed_shapes(event: dict) -> None:
    assert validate_event(event) == []


def test_error_body_must_be_wrapped() -> None:
    body = {"message": "not found", "type": "invalid_request_error", "param": None, "code": None}
    assert validate_error({"error": body}) == []
    assert [i.message for i in errors_only(validate_error(body))] == ["'error' is a required property"]


def test_error_body_needs_all_four_keys() -> None:
    issues = validate_error({"error": {"message": "x", "type": "server_error"}})
    assert [i.path for i in issues] == ["$.error"]
    assert "'param' is a required property" in issues[0].message
    assert "'code' is a required property" in issues[0].message


def test_input_items_page() -> None:
    page = {
        "object": "list", "first_id": "msg_1", "last_id": "msg_1", "has_more": False,
        "data": [{"type": "message", "id": "msg_1", "role": "user", "status": "completed",
                  "content": [{"type": "input_text", "text": "hi"}]}],
    }
    assert validate_input_items(page) == []
    del page["has_more"]
    assert [i.message for i in validate_input_items(page)] == ["'has_more' is a required property"]


@pytest.mark.parametrize("name", OBJECTS)
def test_a_conversation_object_missing_its_id_is_a_finding_of_its_own_rule(name: str) -> None:
    """Each Conversations API body has a schema; a body without ``id`` (or ``data``) breaks it."""
    findings = errors_only(validate_object(name, {"object": "nothing"}))
    assert findings and {f.rule for f in findings} == {f"schema.{name}"}
    assert all(str(f).startswith(f"schema {name}: ") for f in findings)


def test_unknown_dialect_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown schema dialect 'strict'"):
        validate_response({}, "strict")


def test_schema_files_are_valid_json_with_ids() -> None:
    for path in SCHEMA_ROOT.glob("*/*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["$id"].endswith(f"/{path.parent.name}/{path.name}")
