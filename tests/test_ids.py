"""The ids the router mints: OpenAI's shape, unguessable, and in creation order."""
from __future__ import annotations

import re

from reference_impl.ids import new_id

SHAPE = re.compile(r"^resp_[0-9a-f]{48}$")


def test_an_id_is_the_prefix_and_48_hex_digits() -> None:
    assert SHAPE.match(new_id("resp"))


def test_the_first_digits_are_the_unix_time_as_in_openai_ids() -> None:
    # msg_6848d84c… in a recorded OpenAI stream: 0x6848d84c is 2025-06-11.
    assert new_id("msg", now=0x6848D84C + 0.5).startswith("msg_6848d84c8000")


def test_ids_made_later_sort_later() -> None:
    """What keeps the store's id-keyed b-trees appending at their right edge."""
    times = [1_796_400_000 + step / 1000 for step in range(50)]
    ids = [new_id("resp", now=t) for t in times]
    assert ids == sorted(ids)


def test_ids_of_one_tick_differ() -> None:
    assert len({new_id("resp", now=1_796_400_000.0) for _ in range(1000)}) == 1000
