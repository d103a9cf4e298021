"""Identifiers for responses and items."""
from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``resp_3f9a…``: the prefix, an underscore and 48 hex digits."""
    return f"{prefix}_{secrets.token_hex(24)}"
