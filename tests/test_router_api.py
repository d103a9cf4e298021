"""Router endpoints: sync and streamed creates, retrieval, delete, models, health, error shapes."""
from __future__ import annotations

import json

import pytest

from upstream import DEFAULT_MODEL, Reply, ServerThread, stream_events


def _assert_error(resp, status: int, param: str | None = None, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def test_sync_create_then_get(router, upstream):
    upstream.script(Reply(text="Hello there, Earth"))
    resp = router.create(input="hi", instructions="be brief", metadata={"k": "v"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "Hello there, Earth"
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
    assert body["metadata"] == {"k": "v"} and body["instructions"] == "be brief"
    sent = upstream.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "be brief"} and sent["stream"] is True
    assert router.client.get(f"/v1/responses/{body['id']}").json() == body


def test_stream_create_matches_stored(router, upstream):
    upstream.script(Reply(text="one two three four", pieces=4))
    resp = router.create(input="count", stream=True)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = stream_events(resp.content)
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "one two three four"
    final = events[-1]["response"]
    assert router.client.get(f"/v1/responses/{final['id']}").json()["output"] == final["output"]


def test_function_tool_call_round_trip(router, upstream):
    upstream.script(Reply(tool_calls=[("get_weather", '{"city": "Paris"}')]), Reply(text="Sunny"))
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}}}]
    first = router.create(input="weather?", tools=tools, stream=True)
    events = stream_events(first.content)
    call = events[-1]["response"]["output"][0]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"} and call["id"] != call["call_id"]
    second = router.create(previous_response_id=events[-1]["response"]["id"], tools=tools,
                           input=[{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}])
    assert second.json()["output"][0]["content"][0]["text"] == "Sunny"
    messages = upstream.requests[-1]["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert messages[-1] == {"role": "tool", "tool_call_id": call["call_id"], "content": "sunny"}


def test_delete_then_404(router):
    rid = router.create(input="x").json()["id"]
    resp = router.client.delete(f"/v1/responses/{rid}")
    assert resp.json() == {"id": rid, "object": "response.deleted", "deleted": True}
    _assert_error(router.client.get(f"/v1/responses/{rid}"), 404, code="not_found")
    _assert_error(router.client.delete(f"/v1/responses/{rid}"), 404, code="not_found")
    _assert_error(router.client.get(f"/v1/responses/{rid}/input_items"), 404, code="not_found")


def test_input_items_list_shape_and_paging(router):
    items = [{"role": "user", "content": f"m{n}"} for n in range(3)]
    rid = router.create(input=items).json()["id"]
    page = router.client.get(f"/v1/responses/{rid}/input_items", params={"limit": 2}).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [d["content"][0]["text"] for d in page["data"]] == ["m2", "m1"]
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][1]["id"]
    rest = router.client.get(f"/v1/responses/{rid}/input_items", params={"after": page["last_id"]}).json()
    assert [d["content"][0]["text"] for d in rest["data"]] == ["m0"] and rest["has_more"] is False
    asc = router.client.get(f"/v1/responses/{rid}/input_items", params={"order": "asc"}).json()
    assert [d["content"][0]["text"] for d in asc["data"]] == ["m0", "m1", "m2"]
    _assert_error(router.client.get(f"/v1/responses/{rid}/input_items", params={"limit": 0}), 400, "limit")
    _assert_error(router.client.get(f"/v1/responses/{rid}/input_items", params={"order": "up"}), 400, "order")


def test_models_and_health(router):
    models = router.client.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == [DEFAULT_MODEL]
    assert router.client.get("/health").json() == {"status": "ok"}


def test_routing_errors_have_error_shape(router):
    _assert_error(router.client.get("/nope"), 404)
    _assert_error(router.client.put("/v1/responses"), 405)
    _assert_error(router.client.post("/v1/responses", content=b"{not json"), 400, code="invalid_json")
    _assert_error(router.create(model="no-such-model", input="x"), 404, "model", "model_not_found")


def test_unknown_previous_response_id(router):
    _assert_error(router.create(input="x", previous_response_id="resp_missing"), 400,
                  "previous_response_id", "previous_response_not_found")


@pytest.mark.parametrize(("patch", "param", "code"), [
    ({"model": None}, "model", "missing_required_parameter"),
    ({"model": 3}, "model", "invalid_type"),
    ({"input": 5}, "input", "invalid_type"),
    ({"input": [7]}, "input[0]", "invalid_type"),
    ({"instructions": ["x"]}, "instructions", "invalid_type"),
    ({"metadata": {f"k{n}": "v" for n in range(17)}}, "metadata", None),
    ({"metadata": {"k": 1}}, "metadata.k", "invalid_type"),
    ({"temperature": 2.5}, "temperature", None),
    ({"temperature": "hot"}, "temperature", "invalid_type"),
    ({"top_p": -0.1}, "top_p", None),
    ({"max_output_tokens": 15}, "max_output_tokens", "integer_below_min_value"),
    ({"max_output_tokens": 20.5}, "max_output_tokens", "invalid_type"),
    ({"stream": "yes"}, "stream", "invalid_type"),
    ({"store": 1}, "store", "invalid_type"),
    ({"background": True, "store": False}, "background", None),
    ({"tools": {"type": "function"}}, "tools", "invalid_type"),
    ({"tools": [{"type": "function"}]}, "tools[0].name", "missing_required_parameter"),
    ({"tool_choice": "sometimes"}, "tool_choice", None),
    ({"tool_choice": {"type": "function", "name": "ghost"}}, "tool_choice.name", None),
    ({"text": {"format": {"type": "yaml"}}}, "text.format.type", None),
    ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", None),
    ({"previous_response_id": 12}, "previous_response_id", "invalid_type"),
    ({"frobnicate": True}, "frobnicate", "unknown_parameter"),
    ({"x_cache": "please"}, "x_cache", "invalid_type"),
])
def test_validation_errors_name_the_param(router, upstream, patch, param, code):
    body = {"model": DEFAULT_MODEL, "input": "hi", **patch}
    if patch.get("model", 0) is None:
        del body["model"]
    before = len(upstream.requests)
    error = _assert_error(router.client.post("/v1/responses", json=body), 400, param, code)
    assert error["type"] == "invalid_request_error"
    assert len(upstream.requests) == before


@pytest.mark.parametrize("profile", ["openai", "openresponses"])
def test_router_output_matches_schemas(router, upstream, profile):
    from fixtures.schemas import validate_error, validate_event, validate_input_items, validate_response

    def errors(issues):
        return [str(i) for i in issues if i.severity == "error"]

    upstream.script(Reply(text="hello"), Reply(tool_calls=[("f", '{"a": 1}')]))
    body = router.create(input="x", metadata={"a": "b"}).json()
    assert errors(validate_response(body, profile)) == []
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
    for event in stream_events(router.create(input="x", tools=tools, stream=True).content):
        assert errors(validate_event(event, profile)) == [], event["type"]
    assert errors(validate_error(router.client.get("/v1/responses/resp_nope").json())) == []
    items = router.client.get(f"/v1/responses/{body['id']}/input_items").json()
    assert errors(validate_input_items(items, profile)) == []


def test_unexpected_exception_is_500_server_error():
    import httpx2
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    from reference_impl.errors import EXCEPTION_HANDLERS, CatchAllMiddleware

    async def boom(request):
        raise RuntimeError("internal detail")

    app = Starlette(routes=[Route("/boom", boom)], exception_handlers=EXCEPTION_HANDLERS,
                    middleware=[Middleware(CatchAllMiddleware)])
    with ServerThread(app) as server:
        resp = httpx2.get(server.url + "/boom")
    error = _assert_error(resp, 500)
    assert error["type"] == "server_error" and "internal detail" not in resp.text
