"""The text a model writes in one backend turn, as Responses events: the assistant message
(``output_text`` parts with their logprobs, ``refusal`` parts) and the reasoning item.

Separate from stream.py because it is one kind of item with its own rules (parts open and close
inside an item, logprobs in two shapes, a reasoning summary that is the reasoning text itself),
while stream.py owns what every item shares: sequence numbers, output indices, turns and the
terminal event. :class:`TextEvents` is a mixin of :class:`~reference_impl.stream.ResponseStream`
and only that: its methods are the stream's own (``ResponseStream.feed`` calls them directly, no
extra call on the per-chunk path), and they use the host's state and event makers declared below.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reference_impl.ids import new_id
from reference_impl.jsoncodec import copy_json

# Message content kinds: part type, delta event, done event, the part's text field.
PART_KINDS = {
    "text": ("output_text", "response.output_text.delta", "response.output_text.done", "text"),
    "refusal": ("refusal", "response.refusal.delta", "response.refusal.done", "refusal"),
}


def _logprob(entry: dict) -> dict:
    """A chat ``logprobs.content[]`` entry -> an ``output_text`` part's logprob (with bytes)."""
    def one(e: dict) -> dict:
        token = str(e.get("token", ""))
        raw = e.get("bytes")
        return {"token": token, "logprob": float(e.get("logprob") or 0.0),
                "bytes": list(raw) if isinstance(raw, list) else list(token.encode("utf-8"))}
    return {**one(entry), "top_logprobs": [one(t) for t in entry.get("top_logprobs") or []
                                           if isinstance(t, dict)]}


def _event_logprob(entry: dict) -> dict:
    """The same logprob as ``output_text.delta``/``.done`` events carry it (no bytes)."""
    return {"token": entry["token"], "logprob": entry["logprob"],
            "top_logprobs": [{"token": t["token"], "logprob": t["logprob"]} for t in entry["top_logprobs"]]}


class TextEvents:
    """The message and reasoning methods of :class:`~reference_impl.stream.ResponseStream`."""

    # Set by ResponseStream.__init__: the open message and reasoning item of this turn, the open
    # items by output_index, and what the request asked of reasoning items.
    _message: dict | None
    _reasoning: dict | None
    _open: dict[int, Any]
    _reasoning_summary: bool
    _seal: Callable[[str], str] | None
    # ResponseStream's event makers.
    _event: Callable[..., dict]
    _add: Callable[[dict], tuple[int, list[dict]]]
    _done: Callable[[int, dict], dict]

    def _message_delta(self, kind: str, fragment: str, logprobs: list[dict]) -> list[dict]:
        events: list[dict] = []
        message = self._message
        if message is None:
            events += self._end_reasoning()
            item = {"id": new_id("msg"), "type": "message", "status": "in_progress",
                    "content": [], "role": "assistant"}
            index, added = self._add(item)
            events += added
            message = self._message = {"item": item, "index": index, "part": None}
            self._open[index] = message
        part = message["part"]
        if part is not None and part["kind"] != kind:
            events += self._close_part(message)
            part = None
        ids = {"item_id": message["item"]["id"], "output_index": message["index"]}
        if part is None:
            part = message["part"] = {"kind": kind, "text": "", "logprobs": [],
                                      "content_index": len(message["item"]["content"])}
            events.append(self._event("response.content_part.added", **ids,
                                      content_index=part["content_index"],
                                      part=self._part(kind, "")))
        part["text"] += fragment
        entries = [_logprob(entry) for entry in logprobs if isinstance(entry, dict)]
        part["logprobs"] += entries
        delta_type = PART_KINDS[kind][1]
        extra = {"logprobs": [_event_logprob(e) for e in entries]} if kind == "text" else {}
        events.append(self._event(delta_type, **ids, content_index=part["content_index"],
                                  delta=fragment, **extra))
        return events

    @staticmethod
    def _part(kind: str, text: str, logprobs: list[dict] | None = None) -> dict:
        if kind == "text":
            return {"type": "output_text", "annotations": [], "logprobs": copy_json(logprobs or []),
                    "text": text}
        return {"type": "refusal", "refusal": text}

    def _close_part(self, message: dict) -> list[dict]:
        part = message["part"]
        message["part"] = None
        _, _, done_type, field = PART_KINDS[part["kind"]]
        ids = {"item_id": message["item"]["id"], "output_index": message["index"],
               "content_index": part["content_index"]}
        extra = ({"logprobs": [_event_logprob(e) for e in part["logprobs"]]}
                 if part["kind"] == "text" else {})
        final = self._part(part["kind"], part["text"], part["logprobs"])
        message["item"]["content"].append(final)
        return [self._event(done_type, **ids, **{field: part["text"]}, **extra),
                self._event("response.content_part.done", **ids, part=copy_json(final))]

    def _close_message(self, message: dict, status: str) -> list[dict]:
        events = self._close_part(message) if message["part"] is not None else []
        message["item"]["status"] = status
        events.append(self._done(message["index"], message["item"]))
        return events

    # ------------------------------------------------------------ reasoning

    def _reasoning_delta(self, fragment: str) -> list[dict]:
        """Reasoning text (chat ``reasoning_content``): one ``reasoning`` item per turn, with a
        ``reasoning_text`` part, and a ``summary_text`` part when a summary was asked for.

        The router has no separate summariser: the summary is the reasoning text itself.
        """
        events: list[dict] = []
        entry = self._reasoning
        if entry is None:
            item = {"id": new_id("rs"), "type": "reasoning", "summary": [], "content": []}
            index, events = self._add(item)
            entry = self._reasoning = {"item": item, "index": index, "text": "", "reasoning": True}
            self._open[index] = entry
            ids = {"item_id": item["id"], "output_index": index}
            events.append(self._event("response.content_part.added", **ids, content_index=0,
                                      part={"type": "reasoning_text", "text": ""}))
            if self._reasoning_summary:
                events.append(self._event("response.reasoning_summary_part.added", **ids,
                                          summary_index=0, part={"type": "summary_text", "text": ""}))
        ids = {"item_id": entry["item"]["id"], "output_index": entry["index"]}
        entry["text"] += fragment
        events.append(self._event("response.reasoning_text.delta", **ids, content_index=0,
                                  delta=fragment))
        if self._reasoning_summary:
            events.append(self._event("response.reasoning_summary_text.delta", **ids,
                                      summary_index=0, delta=fragment))
        return events

    def _end_reasoning(self) -> list[dict]:
        """Close the open reasoning item: the answer that follows it starts its own item."""
        entry, self._reasoning = self._reasoning, None
        if entry is None:
            return []
        self._open.pop(entry["index"], None)
        return self._close_reasoning(entry)

    def _close_reasoning(self, entry: dict) -> list[dict]:
        item, text = entry["item"], entry["text"]
        ids = {"item_id": item["id"], "output_index": entry["index"]}
        part = {"type": "reasoning_text", "text": text}
        events = [self._event("response.reasoning_text.done", **ids, content_index=0, text=text),
                  self._event("response.content_part.done", **ids, content_index=0,
                              part=dict(part))]
        item["content"] = [part]
        if self._reasoning_summary:
            summary = {"type": "summary_text", "text": text}
            events += [self._event("response.reasoning_summary_text.done", **ids, summary_index=0,
                                   text=text),
                       self._event("response.reasoning_summary_part.done", **ids, summary_index=0,
                                   part=dict(summary))]
            item["summary"] = [summary]
        if self._seal is not None:
            item["encrypted_content"] = self._seal(text)
        events.append(self._done(entry["index"], item))
        return events
