"""The model's context window: telling an overflow apart, and ``truncation: "auto"``.

The router never counts tokens on the normal path. A backend rejects an over-long request before
it streams anything (llama.cpp: HTTP 400 ``request (N tokens) exceeds the available context size
(M tokens)``; vLLM: ``maximum context length is M tokens``; OpenAI-compatible servers: code
``context_length_exceeded``), so the engine opens the backend stream before its first event and
maps such a rejection to a 400 ``context_length_exceeded`` (`overflow_error`). Only then, and only
with ``truncation: "auto"``, does `fit` count tokens with the backend's own tokenizer (llama.cpp
``POST /apply-template`` + ``POST /tokenize``; context size from ``GET /props``
``default_generation_settings.n_ctx``) and drop the oldest messages until the prompt plus
``max_tokens`` fits. Without a tokenizer it estimates from the counts in the rejection.

What is never dropped: system messages (the instructions and any developer/system item) and the
last user message with everything after it (the current turn, its tool calls and outputs). An
assistant message is dropped together with the tool results that answer its calls.
"""
from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from .backend import BackendError
from .errors import ApiError

CODE = "context_length_exceeded"
# What backends say when a prompt does not fit (matched case-insensitively in the error message).
OVERFLOW_PATTERNS = re.compile(
    r"exceeds? the available context size|exceed_context_size_error|maximum context length"
    r"|context_length_exceeded|context window|prompt is too long|too many tokens",
    re.IGNORECASE,
)
# llama.cpp: "request (6020 tokens) exceeds the available context size (4096 tokens)" and the
# fields n_prompt_tokens/n_ctx; vLLM: "maximum context length is 4096 tokens ... resulted in 6020".
LLAMA_COUNTS = re.compile(r"\((\d+) tokens\) exceeds the available context size \((\d+) tokens\)")
VLLM_COUNTS = re.compile(r"maximum context length is (\d+) tokens.*?(\d+) (?:input )?tokens", re.S)
# Room kept for the answer when the request sets no max_output_tokens.
DEFAULT_ANSWER_TOKENS = 256
CHARS_PER_TOKEN = 4.0  # the estimate when neither a tokenizer nor the rejection gives counts
SAFETY_MARGIN = 0.9    # an estimated count must fit within this share of the window


class ContextOverflow(BackendError):
    """The backend (or `fit`) found that the request cannot fit the model's context window."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400, code=CODE)


def is_overflow(exc: BackendError) -> bool:
    """Whether a backend error is a context-window rejection (as against any other failure)."""
    if isinstance(exc, ContextOverflow):
        return True
    return exc.status in (400, 413, 422) and bool(OVERFLOW_PATTERNS.search(exc.message or ""))


def overflow_error(message: str | None = None) -> ApiError:
    """The 400 a client gets for a request beyond the context window (OpenAI's shape)."""
    return ApiError(400, message or "Your input exceeds the context window of this model. Please "
                    "adjust your input and try again.", param="input", code=CODE)


def counts_from(exc: BackendError) -> tuple[int, int] | None:
    """(prompt tokens, context size) stated in a rejection, when the backend says them."""
    text = exc.message or ""
    match = LLAMA_COUNTS.search(text)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = VLLM_COUNTS.search(text)
    if match:
        return int(match.group(2)), int(match.group(1))
    return None


def _units(messages: list[dict]) -> tuple[list[int], list[list[int]]]:
    """(protected indices, droppable units oldest first); a unit is a list of message indices."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages))
    protected = [i for i, m in enumerate(messages) if m.get("role") == "system" or i >= last_user]
    units: list[list[int]] = []
    for i, message in enumerate(messages[:last_user]):
        if message.get("role") == "system":
            continue
        if message.get("role") == "tool" and units and messages[units[-1][0]].get("tool_calls"):
            units[-1].append(i)  # a tool result goes with the call that asked for it
        else:
            units.append([i])
    return protected, units


def without_oldest(messages: list[dict], drop: int) -> list[dict]:
    """``messages`` with the ``drop`` oldest droppable units removed (pure)."""
    _, units = _units(messages)
    gone = {i for unit in units[:drop] for i in unit}
    kept = [m for i, m in enumerate(messages) if i not in gone]
    # A tool result whose call was dropped would be rejected by the backend's template.
    while True:
        calls = {c.get("id") for m in kept for c in m.get("tool_calls") or []}
        orphans = [m for m in kept if m.get("role") == "tool" and m.get("tool_call_id") not in calls]
        if not orphans:
            return kept
        kept = [m for m in kept if m not in orphans]


def droppable(messages: list[dict]) -> int:
    """How many units `without_oldest` can drop."""
    return len(_units(messages)[1])


# (chat body) -> its prompt size in tokens
Counter = Callable[[dict], Awaitable[int]]


async def fit(body: dict, *, count: Counter, window: int) -> dict:
    """``body`` with the fewest oldest units dropped so that prompt + answer fit ``window``.

    Binary search over the number of dropped units (each probe is one count); `ContextOverflow`
    when even the protected messages alone do not fit.
    """
    answer = int(body.get("max_tokens") or min(DEFAULT_ANSWER_TOKENS, window // 4))
    budget = window - answer
    messages = body["messages"]

    async def fits(drop: int) -> bool:
        return await count({**body, "messages": without_oldest(messages, drop)}) <= budget

    low, high = 1, droppable(messages)
    if high == 0 or not await fits(high):
        raise ContextOverflow(f"the instructions and the last user turn alone exceed the context "
                              f"window ({window} tokens, {answer} kept for the answer)")
    while low < high:
        middle = (low + high) // 2
        if await fits(middle):
            high = middle
        else:
            low = middle + 1
    return {**body, "messages": without_oldest(messages, low)}


def estimator(body: dict, exc: BackendError) -> tuple[Counter, int] | None:
    """A character-proportional token count calibrated on the rejection, and the window."""
    counts = counts_from(exc)
    if counts is None:
        return None
    tokens, window = counts
    chars = len(json.dumps(body["messages"], ensure_ascii=False)) or 1
    per_char = tokens / chars

    async def count(candidate: dict) -> int:
        size = len(json.dumps(candidate["messages"], ensure_ascii=False))
        return int(size * per_char / SAFETY_MARGIN)

    return count, window


def prompt_text(template_reply: Any) -> str | None:
    """The prompt string of a llama.cpp ``/apply-template`` reply."""
    return template_reply.get("prompt") if isinstance(template_reply, dict) else None


def window_from_props(props: Any) -> int | None:
    """The context size in a llama.cpp ``/props`` reply (``default_generation_settings.n_ctx``)."""
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings") or {}
    value = settings.get("n_ctx") if isinstance(settings, dict) else None
    return value if isinstance(value, int) and value > 0 else None
