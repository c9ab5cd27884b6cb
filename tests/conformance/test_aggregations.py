"""Conformance: aggregations of a keyed stream into a table, as Kafka Streams defines them.

Source: the aggregating section of the Streams developer guide and KStreamAggregate (an
aggregate's result carries the largest record time the key has seen, and so does its row:
a table joined with it sees that time).
"""

from __future__ import annotations

from engine import Pipeline
from tests.helpers.conformance import Input, run


def test_running_sum_carries_the_latest_time() -> None:
    """A@10, A@5 (out of order), B@7, A@20: every update of A after 10 keeps 10 until a
    later record."""
    p = Pipeline("agg")
    p.stream("sales", key="k").sum("amount", name="totals").to("out")
    records: list[Input] = [("sales", k, {"k": k, "amount": a}, t)
                            for k, a, t in [("A", 1, 10), ("A", 2, 5), ("B", 3, 7),
                                            ("A", 4, 20)]]
    out, driver = run(p, records)
    assert out == [("A", 1, 10), ("A", 3, 10), ("B", 3, 7), ("A", 7, 20)]
    assert driver.table("totals").get("A") == 7


def test_reduce_keeps_arrival_order() -> None:
    """A non-commutative reduce sees values in arrival order."""
    p = Pipeline("agg")
    p.stream("words", key="k").map(lambda v: v["w"]).reduce(
        lambda acc, w: acc + w, name="joined").to("out")
    records: list[Input] = [("words", "A", {"k": "A", "w": w}, t)
                            for w, t in [("x", 3), ("y", 1), ("z", 2)]]
    out, _ = run(p, records)
    assert out == [("A", "x", 3), ("A", "xy", 3), ("A", "xyz", 3)]
