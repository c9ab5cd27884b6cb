"""Conformance: table-table joins, as Kafka Streams defines them.

Source: the "Kafka Streams Join Semantics" page of the Apache Kafka wiki (both of its streams
read as changelogs: a null value deletes the key) and the KTable#join javadoc (a change on
either side recomputes the key's row; the result carries the later of the two rows' times;
a delete is sent only for a key that had a joined row).
"""

from __future__ import annotations

import pytest

from engine import Pipeline
from tests.helpers.conformance import Input, run, wiki_inputs, wiki_joiner


def _pipeline(how: str) -> Pipeline:
    p = Pipeline("tt")
    left = p.table("left", key="k", name="lefts")
    right = p.table("right", key="k", name="rights")
    left.join(right, wiki_joiner, how=how, name="joined").to("out")
    return p


WIKI = {
    "inner": [("k", "[A, a]", 4), ("k", "[B, a]", 5), ("k", "[B, b]", 6), ("k", None, 7),
              ("k", "[C, c]", 10), ("k", None, 11), ("k", "[D, d]", 15)],
    "left": [("k", "[A, None]", 3), ("k", "[A, a]", 4), ("k", "[B, a]", 5),
             ("k", "[B, b]", 6), ("k", None, 7), ("k", "[C, None]", 9),
             ("k", "[C, c]", 10), ("k", "[C, None]", 11), ("k", None, 12),
             ("k", "[D, d]", 15)],
    "outer": [("k", "[A, None]", 3), ("k", "[A, a]", 4), ("k", "[B, a]", 5),
              ("k", "[B, b]", 6), ("k", "[None, b]", 7), ("k", None, 8),
              ("k", "[C, None]", 9), ("k", "[C, c]", 10), ("k", "[C, None]", 11),
              ("k", None, 12), ("k", "[None, d]", 14), ("k", "[D, d]", 15)],
}


@pytest.mark.parametrize("how", ["inner", "left", "outer"])
def test_wiki_changelogs(how: str) -> None:
    """The wiki's table: no output for deletes of keys without a joined row (1, 2, 8 and
    13 inner; 1, 2, 8, 13 and 14 left), one delete where a joined row goes."""
    out, driver = run(_pipeline(how), wiki_inputs("left", "right"))
    assert out == WIKI[how]
    assert driver.dead_letters() == []
    final = WIKI[how][-1][1]
    assert driver.table("joined").get("k") == final


def test_result_time_is_the_later_row() -> None:
    """Left row at 10, then a right row stamped 5 (its topic is behind): the joined row is
    stamped 10; a later left change at 12 gives 12; a right change at 20 gives 20."""
    records: list[Input] = [("left", "k", {"k": "k", "v": "A"}, 10),
                            ("right", "k", {"k": "k", "v": "a"}, 5),
                            ("left", "k", {"k": "k", "v": "B"}, 12),
                            ("right", "k", {"k": "k", "v": "b"}, 20)]
    out, _ = run(_pipeline("inner"), records, drain=True)
    assert out == [("k", "[A, a]", 10), ("k", "[B, a]", 12), ("k", "[B, b]", 20)]


def test_aggregated_table_carries_its_latest_time() -> None:
    """A count table's row time is the largest time it counted (Kafka Streams' stream
    aggregations); joined with a row at 3 it stamps the result with that time."""
    p = Pipeline("tt")
    counts = p.stream("clicks", key="k").count(name="clicks-per-key")
    names = p.table("names", key="k", name="names")
    counts.join(names, lambda c, n: [c, n["name"]], name="named").to("out")
    records: list[Input] = [("names", "k", {"k": "k", "name": "kim"}, 3),
                            ("clicks", "k", {"k": "k"}, 9),
                            ("clicks", "k", {"k": "k"}, 7),
                            ("names", "k", {"k": "k", "name": "kai"}, 8)]
    out, _ = run(p, records, drain=True)
    assert out == [("k", [1, "kim"], 9), ("k", [2, "kim"], 9), ("k", [2, "kai"], 9)]
