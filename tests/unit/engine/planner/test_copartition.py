"""Co-partitioning of joins: repartitions inserted from the topics' partition counts."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Pipeline, PlanError, plan
from engine.planner.render import RENDERERS
from engine.testing import TestDriver
from operators import Repartition


def _stream_join(key_partitions: int | None = None, rekey: bool = False) -> Pipeline:
    p = Pipeline("j")
    buys = p.stream("buys", key="k", time="t")
    ships = p.stream("ships", key="k" if not rekey else None, time="t")
    if rekey:
        ships = ships.key_by(lambda s: s["k"], name="by-k", partitions=key_partitions)
    buys.join(ships, lambda b, s: [b and b["v"], s and s["v"]], within=10, how="left",
              name="fulfil").to("out")
    return p


def test_a_topic_with_another_count_is_repartitioned_and_described() -> None:
    physical = plan(_stream_join(), {"buys": 4, "ships": 2})
    repartitions = [n for s in physical.subtopologies for n in s.nodes
                    if isinstance(n, Repartition)]
    assert [(r.topic, r.partitions) for r in repartitions] == [
        ("j-source.ships-repartition", 4)]
    assert {(t.name, t.partitions) for t in physical.internal_topics} == {
        ("j-source.ships-repartition", 4)}
    assert len(physical.subtopologies) == 2
    text = RENDERERS["text"](physical)
    assert "j-source.ships-repartition" in text and "source.ships.repartition" in text
    assert not any(isinstance(n, Repartition) for s in plan(
        _stream_join(), {"buys": 3, "ships": 3}).subtopologies for n in s.nodes)


def test_a_key_by_takes_the_joins_count_or_is_rejected() -> None:
    physical = plan(_stream_join(rekey=True), {"buys": 5, "ships": 2})
    assert {(t.name, t.partitions) for t in physical.internal_topics} == {
        ("j-by-k-repartition", 5)}
    with pytest.raises(PlanError, match=r"key_by 'by-k' writes 3 partitions .* has 5"):
        plan(_stream_join(key_partitions=3, rekey=True), {"buys": 5, "ships": 2})


def test_joins_of_differently_partitioned_topics_are_correct() -> None:
    d = TestDriver(_stream_join(), partitions={"buys": 3, "ships": 5})
    events = [("buys", "a", 0, 1), ("ships", "a", 5, 2), ("buys", "b", 6, 3),
              ("ships", "c", 7, 4), ("buys", "c", 8, 5), ("ships", "x", 40, 0)]
    for topic, key, t, v in events:
        d.pipe(topic, {"k": key, "t": t, "v": v}, key=key, timestamp=t)
    assert sorted(d.values("out"), key=repr) == sorted([[1, 2], [5, 4], [3, None]], key=repr)


def _enrich(p: Pipeline) -> None:
    products = p.table("products", key="id", name="products")
    p.stream("buys", key="product").join(
        products, lambda b, row: [b["n"], None if row is None else row["cat"]], how="left",
        name="enrich").to("out")


def test_a_table_topic_is_repartitioned_with_its_deletes() -> None:
    p = Pipeline("e")
    _enrich(p)
    d = TestDriver(p, partitions={"buys": 4, "products": 1})
    rows: list[tuple[str, Any]] = [("p1", {"id": "p1", "cat": "x"}),
                                   ("p2", {"id": "p2", "cat": "y"}), ("p1", None)]
    for key, row in rows:
        d.pipe("products", row, key=key)  # None: a tombstone
    for n, product in enumerate(["p1", "p2", "p3"]):
        d.pipe("buys", {"n": n, "product": product}, key=product)
    assert sorted(d.values("out")) == [[0, None], [1, "y"], [2, None]]
