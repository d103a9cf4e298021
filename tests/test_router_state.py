"""Router state: previous_response_id chains, instructions per turn, store=false, deletes."""
from __future__ import annotations

import asyncio
import json

from upstream import DEFAULT_MODEL, Reply, stream_events


def _texts(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"] if isinstance(m["content"], str) else
             "".join(p.get("text", "") for p in m["content"])) for m in messages]


def test_three_turn_chain_carries_history_not_instructions(router, upstream):
    upstream.script(Reply(text="A1"), Reply(text="A2"), Reply(text="A3"))
    first = router.create(input="Q1", instructions="first rules").json()
    second = router.create(input="Q2", previous_response_id=first["id"]).json()
    third = router.create(input="Q3", previous_response_id=second["id"], instructions="third rules",
                          stream=True)
    final = stream_events(third.content)[-1]["response"]
    assert final["previous_response_id"] == second["id"]
    assert second["instructions"] is None
    assert _texts(upstream.requests[1]["messages"]) == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
    assert _texts(upstream.requests[2]["messages"]) == [
        ("system", "third rules"), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2"),
        ("user", "Q3")]
    assert router.client.get(f"/v1/responses/{final['id']}").json()["output"][0]["content"][0]["text"] == "A3"


def test_chain_from_a_non_completed_response_is_rejected(router, upstream):
    upstream.script(Reply(status=400))
    failed = router.create(input="x").json()
    assert failed["status"] == "failed"
    resp = router.create(input="y", previous_response_id=failed["id"])
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "previous_response_id"


def test_store_false_persists_nothing(router, upstream):
    body = router.create(input="secret", store=False).json()
    assert body["status"] == "completed" and body["store"] is False
    assert router.client.get(f"/v1/responses/{body['id']}").status_code == 404
    streamed = stream_events(router.create(input="secret", store=False, stream=True).content)[-1]["response"]
    assert router.client.get(f"/v1/responses/{streamed['id']}").status_code == 404
    chained = router.create(input="again", previous_response_id=body["id"])
    assert chained.status_code == 400


def test_deleted_response_cannot_be_continued(router):
    rid = router.create(input="x").json()["id"]
    router.client.delete(f"/v1/responses/{rid}")
    assert router.create(input="y", previous_response_id=rid).status_code == 400


def test_mcp_credentials_not_echoed_or_stored(router, upstream, tmp_path):
    # The MCP server is unreachable: the response fails, but credentials must not appear anywhere.
    tools = [{"type": "mcp", "server_label": "s", "server_url": "http://127.0.0.1:9/mcp",
              "headers": {"Authorization": "Bearer sekrit-token"}, "require_approval": "never"}]
    resp = router.create(input="x", tools=tools)
    assert "sekrit-token" not in resp.text
    rid = resp.json()["id"]
    assert "sekrit-token" not in router.client.get(f"/v1/responses/{rid}").text
    for path in tmp_path.glob("db.sqlite*"):  # the WAL file holds recent writes
        assert b"sekrit-token" not in path.read_bytes()


def test_a_streamed_response_is_stored_before_its_terminal_event(router, upstream, monkeypatch):
    # A slow store write stands in for a busy disk: a client that chains on (or fetches) the
    # response the moment it reads response.completed must still find it.
    from reference_impl.store_writer import StoreWriter

    write = StoreWriter.put_response

    async def slow_write(self, *args, **kwargs):
        await asyncio.sleep(0.5)
        await write(self, *args, **kwargs)

    monkeypatch.setattr(StoreWriter, "put_response", slow_write)
    upstream.script(Reply(text="A1"))
    with router.client.stream("POST", "/v1/responses",
                              json={"model": DEFAULT_MODEL, "input": "Q1", "stream": True}) as streamed:
        for line in streamed.iter_lines():
            if line.startswith("data:") and '"response.completed"' in line:
                rid = json.loads(line[5:])["response"]["id"]
                assert router.client.get(f"/v1/responses/{rid}").status_code == 200
                break
        else:
            raise AssertionError("the stream had no response.completed")
