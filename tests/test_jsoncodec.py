"""The router's JSON decoding (reference_impl/jsoncodec.py) and its backend SSE decoder on raw bytes."""
from __future__ import annotations

import json
import math

import pytest

from reference_impl.jsoncodec import loads
from reference_impl.sse import SSEDataDecoder


@pytest.mark.parametrize("text", [
    '{"a":[1,2.5,"\\u2028",null,true],"b":{"c":"é"}}',
    '{"big":123456789012345678901234567890}',   # beyond 64 bits: orjson reads a float, json an int
    '[-123456789012345678901234567890, 1]',
    ' 123456789012345678901234567890',
    '{"s":":123456789012345678901234567890"}',  # the same digits in a string
    '{"x":1e-05,"y":-0.0}',
])
def test_loads_gives_what_json_loads_gives(text):
    assert loads(text) == json.loads(text) and loads(text.encode()) == json.loads(text)


def test_loads_accepts_nan_as_json_does():
    assert math.isnan(loads('{"t":NaN}')["t"]) and loads('[Infinity]') == [math.inf]


def test_loads_refuses_what_json_refuses():
    with pytest.raises(json.JSONDecodeError):
        loads('{"a":')


def test_sse_decoder_on_bytes_split_anywhere():
    body = 'data: {"t":"é€😀"}\r\n\r\ndata: 2\rdata: 3\n\n'.encode("utf-8")
    for cut in range(1, len(body)):
        decoder = SSEDataDecoder()
        out = decoder.feed(body[:cut]) + decoder.feed(body[cut:]) + decoder.flush()
        assert out == ['{"t":"é€😀"}', "2\n3"], cut


def test_loads_many_parses_each_document():
    from reference_impl.jsoncodec import loads_many

    texts = ['{"id":"msg_12345678901234567890123abc"}', '[1,2]', 'null', '{"n":123456789012345678901234567890}']
    assert loads_many(texts) == [json.loads(t) for t in texts] and loads_many([]) == []


def test_has_long_number_finds_numbers_not_digit_runs_inside_words():
    from reference_impl.jsoncodec import has_long_number

    assert has_long_number('{"n":123456789012345678901}') and has_long_number("[-12345678901234567890]")
    assert has_long_number('{"x":[1,2],"é":99999999999999999999}')
    assert not has_long_number('{"id":"msg_' + "1234567890" * 4 + '","n":1234567890123456789}')
