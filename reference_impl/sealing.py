"""Opaque ``encrypted_content``: what the router hands out and alone can read back.

Reasoning items (and, later, compaction items) carry state a client must send back verbatim
with ``store: false``. The router seals that state with AES-256-GCM (``cryptography``), keyed by
a server secret, so that a client can neither read nor alter it: any change to a sealed blob
fails authentication, and the request is a 400 (never a 500). The item type is bound in as
associated data, so a blob sealed for one kind of item cannot be replayed as another.

The key comes from ``--sealing-key`` / ``RESPONSES_SEALING_KEY`` (base64 of 32 bytes) so that
several replicas and restarts agree; without one, a random key lives as long as the process.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = b"r1"  # a prefix byte string, so that a future format can be told apart
KEY_ENV = "RESPONSES_SEALING_KEY"


class SealError(ValueError):
    """A sealed blob is malformed, tampered with, or sealed by another key or for another kind."""


def key_from(text: str | None) -> bytes:
    """A sealing key from its base64 text, or a fresh random key when ``text`` is empty."""
    if not text:
        return AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{KEY_ENV}: not base64 ({exc})") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"{KEY_ENV}: expected {KEY_BYTES} bytes after base64 decoding, got {len(key)}")
    return key


class Sealer:
    """Seals JSON values into URL-safe text and opens them again, for one item kind at a time."""

    def __init__(self, key: bytes | None = None) -> None:
        self._aead = AESGCM(key if key is not None else key_from(os.environ.get(KEY_ENV)))

    def seal(self, kind: str, value: Any) -> str:
        """``value`` (JSON-serialisable) encrypted and authenticated for items of ``kind``."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        sealed = self._aead.encrypt(nonce, plain, VERSION + kind.encode())
        return base64.urlsafe_b64encode(VERSION + nonce + sealed).decode("ascii")

    def open(self, kind: str, text: Any) -> Any:
        """The value sealed in ``text`` for ``kind``; ``SealError`` if it is not exactly that."""
        if not isinstance(text, str) or not text:
            raise SealError("encrypted_content must be a non-empty string")
        try:
            raw = base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise SealError("encrypted_content is not valid base64") from None
        head, nonce, sealed = raw[:len(VERSION)], raw[len(VERSION):len(VERSION) + NONCE_BYTES], raw[len(VERSION) + NONCE_BYTES:]
        if head != VERSION or len(nonce) != NONCE_BYTES or not sealed:
            raise SealError("encrypted_content was not issued by this server")
        try:
            plain = self._aead.decrypt(nonce, sealed, VERSION + kind.encode())
        except InvalidTag:
            raise SealError("encrypted_content could not be verified: it was altered, or sealed by "
                            "another server key or for another item type") from None
        return json.loads(plain)
