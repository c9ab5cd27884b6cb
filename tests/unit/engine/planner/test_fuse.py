"""Fused code: a record that fails in one branch still runs through its other branches."""

from __future__ import annotations

from engine import Pipeline
from engine.testing import TestDriver


def test_a_record_late_for_a_join_still_reaches_later_branches() -> None:
    p = Pipeline("lb")
    buys, ships = p.stream("buys", key="k", time="t"), p.stream("ships", key="k", time="t")
    buys.join(ships, within=10, how="left", name="j").to("joined")
    buys.map(lambda b: b["v"], name="copy").to("copies")  # declared after the join
    d = TestDriver(p)
    d.pipe("buys", {"k": "a", "t": 1000, "v": 1}, key="a")
    d.pipe("buys", {"k": "a", "t": 10, "v": 2}, key="a")  # late for the join only
    assert d.values("copies") == [1, 2]
    assert [(x.stage, x.operator) for x in d.dead_letters()] == [("late", "j")]


def test_a_failing_branch_is_dead_lettered_once_and_the_others_run() -> None:
    p = Pipeline("fb")
    s = p.stream("in")
    s.map(lambda v: 1 // v["n"], name="inverse").to("inverses")
    s.map(lambda v: v["n"], name="copy").to("copies")
    s.filter(lambda v: 1 // v["n"] > 0, name="positive").to("positives")
    d = TestDriver(p)
    for n in (1, 0, 2):
        d.pipe("in", {"n": n})
    assert d.values("inverses") == [1, 0] and d.values("copies") == [1, 0, 2]
    assert d.values("positives") == [{"n": 1}]  # n=0 raised here too: one dead letter
    assert [(x.stage, x.operator) for x in d.dead_letters()] == [("operator", "inverse")]


def test_a_stream_that_ends_in_a_filter_compiles_and_runs() -> None:
    """Nothing reads the filter: its block in the fused code is empty (was a SyntaxError)."""
    p = Pipeline("dangling")
    s = p.stream("in")
    s.filter(lambda v: v["n"] > 0, name="positive")
    s.map(lambda v: v["n"], name="copy").to("copies")
    d = TestDriver(p)
    d.pipe("in", {"n": 1})
    assert d.values("copies") == [1]
