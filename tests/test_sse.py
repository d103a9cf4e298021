"""Unit tests for fixtures.sse: line ends, fields, incremental feeding, truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.sse import Frame, SSEDataError, SSEDecoder, parse_frames

VECTORS = Path(__file__).parent / "vectors" / "openai"


def feed_in_pieces(body: bytes, size: int) -> list[Frame]:
    decoder = SSEDecoder()
    frames: list[Frame] = []
    for start in range(0, len(body), size):
        frames += decoder.feed(body[start:start + size])
    return frames + decoder.flush()


def test_event_and_data_fields() -> None:
    frames = parse_frames(b'event: response.created\ndata: {"a": 1}\n\n')
    assert [(f.event, f.data, f.truncated) for f in frames] == [("response.created", '{"a": 1}', False)]
    assert frames[0].json() == {"a": 1}


def test_multiline_data_joined_with_lf() -> None:
    frames = parse_frames(b"data: first\ndata:second\ndata:  third\n\n")
    assert frames[0].data == "first\nsecond\n third"


def test_only_one_leading_space_is_removed_and_no_colon_means_empty_value() -> None:
    frames = parse_frames(b"event:x\ndata\n\n")
    assert (frames[0].event, frames[0].data) == ("x", "")


def test_id_retry_and_comments_are_recorded() -> None:
    frames = parse_frames(b": keep-alive\nid: 7\nretry: 1500\ndata: {}\n\n")
    assert (frames[0].id, frames[0].retry, frames[0].comments) == ("7", 1500, (" keep-alive",))


def test_comment_only_block_is_not_a_frame() -> None:
    assert [f.data for f in parse_frames(b": ping\n\n: ping\n\ndata: 1\n\n")] == ["1"]


def test_event_without_data_is_still_a_frame() -> None:
    frames = parse_frames(b"event: response.created\n\n")
    assert len(frames) == 1 and frames[0].data == ""
    with pytest.raises(SSEDataError, match="response.created"):
        frames[0].json()


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"], ids=["lf", "cr", "crlf"])
def test_each_line_ending(ending: bytes) -> None:
    body = b"event: e" + ending + b"data: 1" + ending + ending + b"data: 2" + ending + ending
    assert [(f.event, f.data) for f in parse_frames(body)] == [("e", "1"), (None, "2")]


def test_u2028_inside_json_is_not_a_line_end() -> None:
    payload = {"type": "response.output_text.delta", "delta": "a\u2028b\u2029c\x85d\x0ce"}
    body = b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"
    frames = parse_frames(body)
    assert len(frames) == 1
    assert frames[0].json() == payload


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    first = decoder.feed(b"data: 1\r")
    second = decoder.feed(b"\n\r")
    third = decoder.feed(b"\ndata: 2\r\n\r\n")
    frames = first + second + third + decoder.flush()
    assert [f.data for f in frames] == ["1", "2"]
    assert second[0].raw == b"data: 1\r\n\r"


def test_byte_by_byte_feeding_equals_whole_body_on_real_vector() -> None:
    body = (VECTORS / "mcp-list-and-calls-gpt4omini.sse").read_bytes()
    whole = parse_frames(body)
    assert [f.data for f in feed_in_pieces(body, 1)] == [f.data for f in whole]
    assert len(whole) == 106


def test_raw_bytes_round_trip() -> None:
    body = (VECTORS / "text-gpt4omini.sse").read_bytes()
    assert b"".join(f.raw for f in parse_frames(body)) == body


def test_truncated_last_frame_is_returned_and_marked() -> None:
    frames = parse_frames(b"data: 1\n\nevent: response.completed\ndata: {\"x\"")
    assert [(f.data, f.truncated) for f in frames] == [("1", False), ('{"x"', True)]
    with pytest.raises(SSEDataError, match="not valid JSON"):
        frames[1].json()


def test_last_frame_missing_only_its_blank_line_is_truncated_but_complete() -> None:
    frames = parse_frames(b"data: {}\n")
    assert frames[0].truncated and frames[0].json() == {}


def test_flush_with_nothing_pending_returns_nothing() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: 1\n\n")
    assert decoder.flush() == []


def test_bom_split_at_start_is_dropped() -> None:
    decoder = SSEDecoder()
    frames = decoder.feed(b"\xef\xbb") + decoder.feed(b"\xbfdata: 1\n\n")
    assert [f.data for f in frames] == ["1"]


def test_received_at_is_the_completing_chunk_time() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n", received_at=1.0) == []
    frames = decoder.feed(b"\n", received_at=2.5)
    assert frames[0].received_at == 2.5


def test_frame_is_frozen() -> None:
    frame = parse_frames(b"data: 1\n\n")[0]
    with pytest.raises(AttributeError):
        frame.data = "2"  # type: ignore[misc]
