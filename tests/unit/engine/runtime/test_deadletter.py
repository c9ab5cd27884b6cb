"""Dead-letter attribution: a failure downstream of a stateful node names the stage and
operator that raised, and the stateful node whose result it was (`emitted_by`), also for
results emitted when a window, session or unmatched join row expires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine import Pipeline
from engine.api import windows
from engine.testing import TestDriver


def boom(value: Any) -> Any:
    raise RuntimeError("boom")


def _count(p: Pipeline) -> None:
    p.stream("s", key="k").count(name="counts").to_stream().key_by(boom, name="rekey") \
        .to("out")


def _window(emit: str) -> Callable[[Pipeline], None]:
    def build(p: Pipeline) -> None:
        p.stream("s", key="k").window(windows.tumbling(ms=10), emit=emit) \
            .count(name="per-10ms").to_stream().map(boom, name="after").to("out")
    return build


def _session(p: Pipeline) -> None:
    p.stream("s", key="k").window(windows.session(gap=5), emit="final") \
        .count(name="sessions").to_stream().map(boom, name="after").to("out")


def _sliding(p: Pipeline) -> None:
    p.stream("s", key="k").window(windows.sliding(ms=5)).count(name="slides") \
        .to_stream().filter(boom, name="after").to("out")


def _stream_stream(p: Pipeline) -> None:
    p.stream("s", key="k").join(p.stream("r", key="k"), name="pairs", within=5, how="left") \
        .filter(boom, name="after").to("out")


def _stream_table(p: Pipeline) -> None:
    table = p.table("t", key="k", name="rows")
    p.stream("s", key="k").join(table, name="looked-up").map(boom, name="after").to("out")


def _table_table(p: Pipeline) -> None:
    left, right = p.table("t", key="k", name="lefts"), p.table("r", key="k", name="rights")
    left.join(right, lambda a, b: 1, name="both").to_stream().map(boom, name="after") \
        .to("out")


def _foreign_key(p: Pipeline) -> None:
    left, right = p.table("t", key="k", name="lefts"), p.table("r", key="k", name="rights")
    left.join(right, lambda a, b: 1, name="by-fk", on=lambda v: v["k"]).to_stream() \
        .map(boom, name="after").to("out")


def _global(p: Pipeline) -> None:
    rows = p.global_table("g", key="k", name="everywhere")
    p.stream("s", key="k").join(rows, name="enriched").map(boom, name="after").to("out")


def _table(p: Pipeline) -> None:
    p.table("t", key="k", name="rows").to_stream().map(boom, name="after").to("out")


# build, inputs (topic, key, time), expected (stage, operator, emitted by, source topic:
# the record that led to the result, none for a result emitted on expiry)
CASES = [
    (_count, [("s", "a", 1)], [("key", "rekey", "counts", "s")]),
    (_window("updates"), [("s", "a", 1)], [("operator", "after", "per-10ms", "s")]),
    (_window("final"), [("s", "a", 1), ("s", "b", 30)],
     [("operator", "after", "per-10ms", "")] * 2),  # closed by b@30, then drained
    (_session, [("s", "a", 1), ("s", "b", 30)],
     [("operator", "after", "sessions", "")] * 2),
    (_sliding, [("s", "a", 1)], [("operator", "after", "slides", "s")]),
    (_stream_stream, [("s", "a", 1), ("r", "a", 2), ("s", "b", 30)],
     [("operator", "after", "pairs", "r"),  # the joined pair, led to by r@2
      ("operator", "after", "pairs", "")]),  # b unmatched, drained
    (_stream_table, [("t", "a", 1), ("s", "a", 2)],
     [("operator", "after", "looked-up", "s")]),
    (_table_table, [("t", "a", 1), ("r", "a", 2)], [("operator", "after", "both", "r")]),
    (_foreign_key, [("r", "a", 1), ("t", "a", 2)],
     [("operator", "after", "by-fk", "attr-by-fk-response")]),
    (_global, [("g", "a", 1), ("s", "a", 2)], [("operator", "after", "enriched", "s")]),
    (_table, [("t", "a", 1)], [("operator", "after", "rows", "t")]),
]


@pytest.mark.parametrize(("build", "inputs", "expected"), CASES,
                         ids=[c[0].__name__.strip("_") if c[0].__name__ != "build"
                              else f"window-{i}" for i, c in enumerate(CASES)])
def test_failure_after_a_stateful_node(build: Callable[[Pipeline], None],
                                       inputs: list[tuple[str, str, int]],
                                       expected: list[tuple[str, str, str, str]]) -> None:
    p = Pipeline("attr")
    build(p)
    driver = TestDriver(p)
    for topic, key, ts in inputs:
        driver.pipe(topic, {"k": key}, key=key, timestamp=ts)
    driver.drain()
    letters = driver.dead_letters()
    assert [(d.stage, d.operator, d.emitted_by, d.topic) for d in letters] == expected
    assert all(d.error == "RuntimeError: boom" for d in letters)
