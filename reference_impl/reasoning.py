"""Reasoning state that a client carries between ``store: false`` turns.

Out: with ``include: ["reasoning.encrypted_content"]`` every reasoning item gets an
``encrypted_content`` sealed by the router (sealing.py, AES-256-GCM with the server key) holding
its text. In: a reasoning item sent back is opened again and its text handed to the backend with
the assistant turn that followed it (translate_items.py, ``reasoning_content``), so a stateless
chain keeps its reasoning. A blob that does not open (tampered, another server's, another item kind) is
a 400 naming ``input[i].encrypted_content``. A reasoning item without ``encrypted_content`` is
accepted; its content or summary text, if any, is used the same way.
"""
from __future__ import annotations

from collections.abc import Callable

from .errors import ApiError
from .sealing import Sealer, SealError

KIND = "reasoning"  # the sealing kind (bound into the ciphertext)
ENCRYPTED_INCLUDE = "reasoning.encrypted_content"
SUMMARY_MODES = frozenset({"auto", "concise", "detailed"})
INVALID_CODE = "invalid_encrypted_content"


def wants_summary(request: dict) -> bool:
    """Whether the request asks for reasoning summaries."""
    settings = request.get("reasoning")
    return isinstance(settings, dict) and settings.get("summary") in SUMMARY_MODES


def sealing(request: dict, sealer: Sealer) -> Callable[[str], str] | None:
    """Reasoning text -> encrypted_content, when the request includes it (else None)."""
    if ENCRYPTED_INCLUDE not in (request.get("include") or []):
        return None
    return lambda text: sealer.seal(KIND, {"text": text})


def open_items(items: list[dict], sealer: Sealer) -> list[dict]:
    """``items`` with each sealed reasoning item's text restored as its ``reasoning_text``
    content (for the backend only: the stored input keeps the blob); `ApiError` if one is bad."""
    opened: list[dict] = []
    for position, item in enumerate(items):
        blob = item.get("encrypted_content") if item.get("type") == KIND else None
        if blob is None:
            opened.append(item)
            continue
        try:
            value = sealer.open(KIND, blob)
        except SealError as exc:
            raise ApiError(400, f"The encrypted content of input[{position}] could not be verified "
                                f"or decrypted: {exc}.", param=f"input[{position}].encrypted_content",
                           code=INVALID_CODE) from exc
        text = value.get("text") if isinstance(value, dict) else None
        if isinstance(text, str) and text:
            item = {**item, "content": [{"type": "reasoning_text", "text": text}]}
        opened.append(item)
    return opened
