"""DSL calls validate their arguments at once and build immutable nodes."""

from __future__ import annotations

import dataclasses

import pytest

from engine import Pipeline, PlanError


def test_calls_validate_arguments() -> None:
    p = Pipeline("p")
    s = p.stream("in")
    with pytest.raises(TypeError, match=r"map\(\) expects a callable, got int"):
        s.map(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="filter"):
        s.filter("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid topic name"):
        s.to("bad topic")
    with pytest.raises(ValueError, match="invalid topic name"):
        p.stream("")
    with pytest.raises(ValueError, match="needs a stable name="):
        s.key_by(lambda v: v, name="")
    with pytest.raises(ValueError, match="at least one predicate"):
        s.branch()
    with pytest.raises(ValueError, match="at least one other stream"):
        s.merge()
    with pytest.raises(ValueError, match="on_error"):
        Pipeline("q", on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive int"):
        s.key_by(lambda v: v, name="k", partitions=0)


def test_merge_rejects_other_pipelines() -> None:
    a, b = Pipeline("a"), Pipeline("b")
    with pytest.raises(PlanError, match="same pipeline"):
        a.stream("x").merge(b.stream("y"))


def test_nodes_are_immutable_and_named() -> None:
    p = Pipeline("p")
    s = p.stream("in", key="id").map(lambda v: v).key_by(lambda v: v["x"], name="by-x")
    s.to("out")
    node = p.nodes[-2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "other"  # type: ignore[misc]
    assert [n.name for n in p.nodes] == ["source.in", "map-1", "by-x", "sink.out"]
    assert p.nodes[2].topic == "p-by-x-repartition"  # type: ignore[attr-defined]


def test_branch_returns_one_stream_per_arm() -> None:
    p = Pipeline("p")
    arms = p.stream("in").branch(lambda v: v > 1, lambda v: v > 0, default=True)
    assert len(arms) == 3
    assert len(p.stream("in2").branch(lambda v: True)) == 1
