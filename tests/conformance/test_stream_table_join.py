"""Conformance: stream-table and stream-global-table joins, as Kafka Streams defines them.

Source: the "Kafka Streams Join Semantics" page of the Apache Kafka wiki (the stream is the
wiki's first stream, the table its second as a changelog: a null value deletes the row) and
the Streams developer guide (only stream records trigger a join; a result carries the
stream record's time; a stream record with a null value is skipped, which Shoal
dead-letters instead; a global table is joined on a key computed from the record).
"""

from __future__ import annotations

from typing import Any

import pytest

from engine import Pipeline
from engine.testing import TestDriver
from tests.helpers.conformance import Input, run, wiki_inputs, wiki_joiner


def _pipeline(how: str) -> Pipeline:
    p = Pipeline("st")
    table = p.table("table", key="k", name="rows")
    p.stream("stream", key="k").join(table, wiki_joiner, name="joined", how=how).to("out")
    return p


@pytest.mark.parametrize(("how", "expected"), [
    ("inner", [("k", "[B, a]", 5), ("k", "[D, d]", 15)]),
    ("left", [("k", "[A, None]", 3), ("k", "[B, a]", 5), ("k", "[C, None]", 9),
              ("k", "[D, d]", 15)]),
])
def test_wiki_stream_joins_table(how: str, expected: list[Any]) -> None:
    """Table changes never emit; each stream record sees the row as of its time (C@9
    finds none: b was deleted at 8); the three null stream values are dead-lettered."""
    out, driver = run(_pipeline(how), wiki_inputs("stream", "table"))
    assert out == expected
    assert [d.offset for d in driver.dead_letters()] == [0, 3, 5]


def test_table_row_of_equal_time_goes_first() -> None:
    """Shoal's choice: with a stream record and a table change of the same time both
    waiting, the table change is applied first (Kafka Streams leaves the tie open)."""
    driver = TestDriver(_pipeline("inner"))
    driver.append("stream", [{"k": "k", "v": "A"}], key="k", timestamp=5)
    driver.append("table", [{"k": "k", "v": "a"}], key="k", timestamp=5)
    driver.process()
    assert [(o.value, o.timestamp) for o in driver.read("out")] == [("[A, a]", 5)]


def test_stream_waits_for_earlier_table_rows() -> None:
    """A stream record at 10 is joined only after table changes up to 10 were applied,
    whatever order the two topics were written in (Kafka Streams' max.task.idle.ms)."""
    driver = TestDriver(_pipeline("left"))
    driver.append("stream", [{"k": "k", "v": "A"}], key="k", timestamp=10)
    driver.append("table", [{"k": "k", "v": "a"}], key="k", timestamp=9)
    driver.append("table", [{"k": "k", "v": "b"}], key="k", timestamp=11)
    driver.process()
    assert [(o.value, o.timestamp) for o in driver.read("out")] == [("[A, a]", 10)]


def test_global_table_on_a_computed_key() -> None:
    """A stream of orders joins a global table of products on order['sku']; the result
    keeps the order's key and time; a missing product gives None in a left join."""
    p = Pipeline("gt")
    products = p.global_table("products", key="sku", name="products")
    (p.stream("orders", key="id")
     .join(products, lambda o, prod: [o["id"], prod and prod["name"]], name="named",
           how="left", key=lambda o: o["sku"])
     .to("out"))
    records: list[Input] = [
        ("products", "s1", {"sku": "s1", "name": "kettle"}, 1),
        ("orders", "o1", {"id": "o1", "sku": "s1"}, 5),
        ("orders", "o2", {"id": "o2", "sku": "s9"}, 6),
        ("products", "s1", None, 7),
        ("orders", "o3", {"id": "o3", "sku": "s1"}, 8),
    ]
    out, _ = run(p, records)
    assert out == [("o1", ["o1", "kettle"], 5), ("o2", ["o2", None], 6),
                   ("o3", ["o3", None], 8)]
