"""Literal scenarios: feed records with explicit timestamps, read what came out.

A scenario is a list of input records `(topic, key, value, timestamp)` processed one at a
time in the order given (as Kafka Streams' TopologyTestDriver pipes them), and the
expected output is a list of `(key, value, timestamp)` in output order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine import Pipeline
from engine.testing import TestDriver

Input = tuple[str, str, Any, int]
Out = tuple[str | None, Any, int]


def run(pipeline: Pipeline, records: Iterable[Input], topic: str = "out",
        drain: bool = False) -> tuple[list[Out], TestDriver]:
    """Pipe `records` one by one (a None value is a JSON null: a table delete), then
    optionally drain; the records of `topic` as (key, value, timestamp) and the driver."""
    driver = TestDriver(pipeline)
    for source, key, value, ts in records:
        driver.pipe(source, b"null" if value is None else value, key=key, timestamp=ts)
    if drain:
        driver.drain()
    return [(o.key, o.value, o.timestamp) for o in driver.read(topic)], driver


def windowed(out: list[Out]) -> list[tuple[str | None, int, int, Any, int]]:
    """Windowed results flattened to (key, start, end, value, timestamp)."""
    return [(k, v["start"], v["end"], v["value"], ts) for k, v, ts in out]


# The two streams of the "Kafka Streams Join Semantics" wiki page, as (time, value); one
# key, None is a null value (a table delete).
WIKI_LEFT = [(1, None), (3, "A"), (5, "B"), (7, None), (9, "C"), (12, None), (15, "D")]
WIKI_RIGHT = [(2, None), (4, "a"), (6, "b"), (8, None), (10, "c"), (11, None), (13, None),
              (14, "d")]


def wiki_inputs(left: str, right: str) -> list[Input]:
    """The wiki's two streams into topics `left` and `right`, in time order, key "k", each
    value {"k": "k", "v": value} (None stays a null value)."""
    rows = [(left, t, v) for t, v in WIKI_LEFT] + [(right, t, v) for t, v in WIKI_RIGHT]
    return [(topic, "k", None if v is None else {"k": "k", "v": v}, t)
            for topic, t, v in sorted(rows, key=lambda r: r[1])]


def wiki_joiner(left: Any, right: Any) -> str:
    """The wiki's notation: "[A, a]", with None for a missing side."""
    return f"[{left and left['v']}, {right and right['v']}]"
