"""Conformance: stream-stream (windowed) joins, as Kafka Streams defines them.

Source: the "Kafka Streams Join Semantics" page of the Apache Kafka wiki (the two streams
below, one key, every record in one window) and the join section of the Streams developer
guide (since 3.1, left/outer joins emit an unmatched record only once its window has closed;
a record with a null value is skipped; a result carries the later of the two times).
Shoal dead-letters the null-valued records instead of skipping them (docs/semantics.md).
"""

from __future__ import annotations

import pytest

from engine import Pipeline
from tests.helpers.conformance import Input, run, wiki_inputs, wiki_joiner


def _pipeline(how: str, within: int = 100, grace: int = 0) -> Pipeline:
    p = Pipeline("ss")
    left, right = p.stream("left", key="k"), p.stream("right", key="k")
    left.join(right, wiki_joiner, name="joined", how=how, within=within, grace=grace).to("out")
    return p


ALL_IN_ONE_WINDOW = [
    ("k", "[A, a]", 4), ("k", "[B, a]", 5), ("k", "[A, b]", 6), ("k", "[B, b]", 6),
    ("k", "[C, a]", 9), ("k", "[C, b]", 9), ("k", "[A, c]", 10), ("k", "[B, c]", 10),
    ("k", "[C, c]", 10), ("k", "[A, d]", 14), ("k", "[B, d]", 14), ("k", "[C, d]", 14),
    ("k", "[D, a]", 15), ("k", "[D, b]", 15), ("k", "[D, c]", 15), ("k", "[D, d]", 15),
]


@pytest.mark.parametrize("how", ["inner", "left", "outer"])
def test_wiki_streams_in_one_window(how: str) -> None:
    """Every non-null record meets every partner: inner, left and outer agree (left/outer
    have nothing unmatched to emit when the window closes); the 7 null values are
    dead-lettered with the reason."""
    out, driver = run(_pipeline(how), wiki_inputs("left", "right"), drain=True)
    assert out == ALL_IN_ONE_WINDOW
    letters = driver.dead_letters()
    assert len(letters) == 7
    assert all("needs a value" in d.error for d in letters)


def test_result_time_is_the_later_side() -> None:
    """A late-arriving partner: the result is stamped with the later record's time."""
    records: list[Input] = [("left", "k", {"k": "k", "v": "A"}, 10),
                            ("right", "k", {"k": "k", "v": "a"}, 20),
                            ("right", "k", {"k": "k", "v": "b"}, 5)]
    out, _ = run(_pipeline("inner", within=100), records)
    assert out == [("k", "[A, a]", 20), ("k", "[A, b]", 10)]


def test_left_join_emits_unmatched_when_the_window_closes() -> None:
    """within 10, grace 0: A@0 finds no partner; when stream time passes 0 + 10 (B@11) the
    left join emits [A, None] stamped with A's time; B itself is still open; an outer
    join also emits the unmatched right record x@1 after its window closes."""
    records: list[Input] = [("left", "k", {"k": "k", "v": "A"}, 0),
                            ("right", "j", {"k": "j", "v": "x"}, 1),
                            ("left", "k", {"k": "k", "v": "B"}, 11),
                            ("left", "k", {"k": "k", "v": "C"}, 12)]
    left, _ = run(_pipeline("left", within=10), records)
    assert left == [("k", "[A, None]", 0)]
    outer, _ = run(_pipeline("outer", within=10), records)
    assert outer == [("k", "[A, None]", 0), ("j", "[None, x]", 1)]


def test_unmatched_rows_in_time_then_right_then_key_order() -> None:
    """Unmatched rows that expire together come out by time, right before left, then key
    (the order of Kafka Streams' outer-join store), whatever record moved stream time."""
    records: list[Input] = [("left", "b", {"k": "b", "v": "B"}, 0),
                            ("left", "a", {"k": "a", "v": "A"}, 0),
                            ("right", "c", {"k": "c", "v": "x"}, 0),
                            ("right", "z", {"k": "z", "v": "y"}, 2),
                            ("left", "q", {"k": "q", "v": "Q"}, 30)]
    out, _ = run(_pipeline("outer", within=10), records)
    assert out == [("c", "[None, x]", 0), ("a", "[A, None]", 0), ("b", "[B, None]", 0),
                   ("z", "[None, y]", 2)]


def test_asymmetric_window_before_after() -> None:
    """before=5, after=0: a right record joins a left one at tl when tl - 5 <= tr <= tl."""
    p = Pipeline("ss")
    p.stream("left", key="k").join(p.stream("right", key="k"), wiki_joiner, name="joined",
                                   before=5, after=0).to("out")
    records: list[Input] = [("right", "k", {"k": "k", "v": "a"}, 10),
                            ("left", "k", {"k": "k", "v": "A"}, 12),
                            ("left", "k", {"k": "k", "v": "B"}, 16),
                            ("right", "k", {"k": "k", "v": "b"}, 13)]
    out, driver = run(p, records)
    assert out == [("k", "[A, a]", 12), ("k", "[B, b]", 16)]  # B is 6 after a
    assert driver.dead_letters() == []


def test_record_after_its_window_closed_is_late() -> None:
    """Shoal's choice (docs/semantics.md): a record whose own window (time + after +
    grace) is behind stream time is dead-lettered as late, not joined with whatever
    partners Kafka Streams' store would still happen to retain."""
    records: list[Input] = [("right", "k", {"k": "k", "v": "a"}, 10),
                            ("left", "k", {"k": "k", "v": "B"}, 30),
                            ("left", "k", {"k": "k", "v": "A"}, 12)]
    out, driver = run(_pipeline("inner", within=5), records)
    assert out == []
    assert [(d.stage, d.offset) for d in driver.dead_letters()] == [("late", 1)]
