"""Sealed encrypted_content: round trip, tampering, wrong key, wrong kind, bad keys."""
from __future__ import annotations

import base64

import pytest

from reference_impl.sealing import KEY_BYTES, SealError, Sealer, key_from

pytestmark = pytest.mark.unit


def test_a_sealed_value_opens_with_the_same_key_and_kind() -> None:
    sealer = Sealer()
    value = {"text": "seventeen times three is fifty-one", "summary": ["multiply"]}
    blob = sealer.seal("reasoning", value)
    # Opaque to the client. A long phrase: a short one (it was "51") turns up in random base64.
    assert "fifty-one" not in blob and "multiply" not in blob
    assert sealer.open("reasoning", blob) == value
    assert sealer.seal("reasoning", value) != blob  # a fresh nonce every time


@pytest.mark.parametrize("position", [0, 5, 20, -3])
def test_any_changed_character_is_refused(position: int) -> None:
    sealer = Sealer()
    blob = sealer.seal("reasoning", {"text": "secret thoughts"})
    chars = list(blob)
    chars[position] = "A" if chars[position] != "A" else "B"
    with pytest.raises(SealError):
        sealer.open("reasoning", "".join(chars))


def test_another_key_or_another_kind_cannot_open_it() -> None:
    sealer = Sealer()
    blob = sealer.seal("reasoning", "x")
    with pytest.raises(SealError, match="could not be verified"):
        Sealer().open("reasoning", blob)
    with pytest.raises(SealError, match="could not be verified"):
        sealer.open("compaction", blob)


@pytest.mark.parametrize("blob", ["", "not base64 !!", base64.urlsafe_b64encode(b"r1short").decode(), 42])
def test_garbage_is_refused_not_crashed(blob: object) -> None:
    with pytest.raises(SealError):
        Sealer().open("reasoning", blob)


def test_keys_come_from_base64_of_32_bytes() -> None:
    key = bytes(range(KEY_BYTES))
    text = base64.b64encode(key).decode()
    assert key_from(text) == key
    assert Sealer(key_from(text)).open("r", Sealer(key).seal("r", 1)) == 1
    with pytest.raises(ValueError, match="expected 32 bytes"):
        key_from(base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="not base64"):
        key_from("***")
    assert len(key_from(None)) == KEY_BYTES
