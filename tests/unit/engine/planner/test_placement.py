"""The placement pass: inputs of a co-located node placed alike stay where they are; an input
placed otherwise than another input of the same join (or placed by no key) is repartitioned;
the nodes after them carry the partitioner their keys are placed by."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Pipeline, plan
from engine.api import PlanError


def _placed(p: Pipeline) -> tuple[list[str], dict[str, str]]:
    """The internal topics of the plan, and every node not placed by murmur2."""
    physical = plan(p)
    return ([t.name for t in physical.internal_topics],
            {n.name: n.partitioner for s in physical.subtopologies for n in s.nodes
             if n.partitioner != "murmur2"})


def _pair(x: Any, y: Any) -> Any:
    return [x, y]


def _join(a: str, b: str) -> Pipeline:
    p = Pipeline("shop")
    buys = p.stream("buys", key="order_id", partitioner=a)
    shipped = p.stream("shipped", key="order_id", partitioner=b)
    buys.join(shipped, _pair, before=0, after=1000, name="paired").to("pairs")
    return p


def test_inputs_placed_alike_by_crc32_join_without_a_repartition() -> None:
    internal, placed = _placed(_join("crc32", "consistent_random"))
    assert internal == []
    assert placed == {"source.buys": "crc32", "source.shipped": "crc32", "paired": "crc32",
                      "sink.pairs": "crc32"}


def test_an_input_placed_otherwise_than_the_other_side_is_repartitioned() -> None:
    internal, placed = _placed(_join("crc32", "murmur2"))
    assert internal == ["shop-source.buys-repartition"]
    assert placed == {"source.buys": "crc32"}  # only the source itself: the join reads murmur2


def test_an_input_placed_by_no_key_is_repartitioned_before_an_aggregation() -> None:
    p = Pipeline("counts")
    p.stream("buys", key="order_id", partitioner="any").count(name="per-order")
    assert _placed(p)[0] == ["counts-source.buys-repartition"]
    q = Pipeline("copy")  # nothing co-located: read where it is
    q.stream("buys", key="order_id", partitioner="any").map(lambda b: b).to("out")
    assert _placed(q)[0] == []


def test_a_table_placed_by_crc32_joined_with_a_rekeyed_stream_is_repartitioned() -> None:
    p = Pipeline("shop")
    products = p.table("products", key="sku", name="products", partitioner="crc32")
    buys = p.stream("buys", key="order_id").key_by(lambda b: b["sku"], name="by-sku")
    buys.join(products, _pair, name="enriched").to("out")
    internal, placed = _placed(p)
    assert sorted(internal) == ["shop-by-sku-repartition", "shop-products.source-repartition"]
    assert placed == {"products.source": "crc32"}


def test_a_table_alone_keeps_its_placement_for_queries() -> None:
    p = Pipeline("catalogue")
    p.table("products", key="sku", name="products", partitioner="crc32")
    assert _placed(p) == ([], {"products.source": "crc32", "products": "crc32"})


def test_disagreement_spreads_until_every_join_agrees() -> None:
    """a ⋈ b agree (crc32), a ⋈ c do not: a is repartitioned, so a ⋈ b then reads a murmur2
    input and a crc32 one, and b is repartitioned too."""
    p = Pipeline("three")
    a = p.stream("a", key="k", partitioner="crc32")
    b = p.stream("b", key="k", partitioner="crc32")
    c = p.stream("c", key="k")
    a.join(b, _pair, before=0, after=10, name="ab").to("ab-out")
    a.join(c, _pair, before=0, after=10, name="ac").to("ac-out")
    assert sorted(_placed(p)[0]) == ["three-source.a-repartition", "three-source.b-repartition"]


def test_place_sets_partitioners_by_topic() -> None:
    p = _join("murmur2", "murmur2")
    p.place({"buys": "consistent_random", "shipped": "crc32"})
    assert _placed(p)[0] == []
    with pytest.raises(PlanError, match="does not read nope"):
        p.place({"nope": "crc32"})
    with pytest.raises(ValueError, match="partitioner must be one of"):
        p.place({"buys": "fnv"})
    with pytest.raises(ValueError, match="partitioner must be one of"):
        Pipeline("x").stream("t", partitioner="sticky")
