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


def test_a_forked_child_mints_other_ids_than_its_parent() -> None:
    """The pool of random bytes is dropped in a child, or both would hand out the same ids."""
    import os

    new_id("resp")  # the parent's pool now holds bytes it has not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_id("resp", now=0).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    assert child != new_id("resp", now=0)
