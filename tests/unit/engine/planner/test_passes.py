"""Planner passes: validation messages, repartition insertion, sub-topologies, rendering."""

from __future__ import annotations

import json

import pytest

from engine import Pipeline, PlanError, plan
from engine.planner.passes import infer_keys, insert_repartitions, validate
from engine.planner.render import RENDERERS


def _two_stage() -> Pipeline:
    p = Pipeline("shop")
    buys = p.stream("buys", key="order_id")
    buys.filter(lambda b: b["price"] > 0).key_by(lambda b: b["product"], name="by-product") \
        .map(lambda b: b).to("per-product")
    buys.to("copy")
    return p


def test_validation_messages() -> None:
    with pytest.raises(PlanError, match="is empty"):
        plan(Pipeline("e"))
    p = Pipeline("n")
    p.stream("a").map(lambda v: v, name="m").map(lambda v: v, name="m").to("o")
    with pytest.raises(PlanError, match="duplicate operator name 'm'"):
        plan(p)
    q = Pipeline("w")
    q.stream("a").map(lambda v: v)
    with pytest.raises(PlanError, match="writes nothing"):
        plan(q)
    r = Pipeline("r")
    r.stream("a").to("x")
    r.stream("a", name="again").to("y")
    with pytest.raises(PlanError, match="read by two"):
        plan(r)


def test_key_inference_and_repartition_cut() -> None:
    p = _two_stage()
    graph = validate(tuple(p.nodes), p.name)
    keyed = infer_keys(graph)
    assert keyed[0] is True
    split = insert_repartitions(graph)
    source = split[-1]
    assert source.describe() == {"topic": "shop-by-product-repartition", "internal": True}
    assert [n.parents for n in split if n.name == "map-3"] == [(source.id,)]
    physical = plan(p)
    assert [s.sources for s in physical.subtopologies] == [
        ("buys",), ("shop-by-product-repartition",)]
    assert physical.subtopologies[0].outputs == (
        ("shop-by-product-repartition", "internal"), ("copy", "sink"))
    assert [t.name for t in physical.internal_topics] == ["shop-by-product-repartition"]
    assert physical.external_sources == ("buys",)
    assert set(physical.sink_topics) == {"copy", "per-product"}


def test_unkeyed_source_is_unkeyed() -> None:
    p = Pipeline("u")
    p.stream("a").map(lambda v: v).to("b")
    assert set(infer_keys(tuple(p.nodes)).values()) == {False}


def test_fused_code_is_one_loop_per_source() -> None:
    code = plan(_two_stage()).subtopologies[0].code
    # prep (decode before ordering), run (in the task's order), and direct (both in one
    # loop, for a task whose one input is external)
    assert code.count("for off, k, raw, ts, hd in records:") == 2
    assert code.count("def run(entries):") == 1 and code.count(" in entries:") == 1
    assert code.count("def direct(records, lane):") == 1


def test_renderers() -> None:
    physical = plan(_two_stage())
    text = RENDERERS["text"](physical)
    assert "Sub-topology 0" in text and "Sub-topology 1" in text
    assert "shop-by-product-repartition (repartition, sub-topology 0 -> 1" in text
    data = json.loads(RENDERERS["json"](physical))
    assert data["internal_topics"][0]["read_by"] == 1
    mermaid = RENDERERS["mermaid"](physical)
    assert mermaid.startswith("flowchart LR") and "subgraph S1" in mermaid


def test_stores_are_listed() -> None:
    from engine import windows

    p = Pipeline("st")
    s = p.stream("in", key="k", time="ts")
    s.count(name="n")
    s.window(windows.tumbling(ms=10)).count(name="w")
    physical = plan(p)
    assert physical.stores == ("n", "w")
    text = RENDERERS["text"](physical)
    assert "  n (sub-topology 0; queryable as table 'n'; changelog st.n-changelog" in text
    assert [x["name"] for x in json.loads(RENDERERS["json"](physical))["stores"]] == ["n", "w"]
    unkeyed = Pipeline("u")
    unkeyed.stream("in").count(name="n")
    with pytest.raises(PlanError, match=r"'n' \(aggregate\) needs a keyed stream"):
        plan(unkeyed)
