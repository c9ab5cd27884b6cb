"""Stateless operator semantics, run through the TestDriver."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Pipeline, PipelineFailed
from engine.testing import TestDriver
from engine.transport import partition_for


class Buy(msgspec.Struct):
    order_id: str
    product: str
    price: float
    ts: int


def buy(i: int, price: float = 10.0, product: str = "p") -> dict[str, Any]:
    return {"order_id": f"o{i}", "product": product, "price": price, "ts": 1000 + i}


def test_map_filter_flat_map_keep_key_and_event_time() -> None:
    p = Pipeline("p")
    (p.stream("buys", value=Buy, key="order_id", time="ts")
      .filter(lambda b: b.price > 5)
      .flat_map(lambda b: [b.price, b.price * 2])
      .map(lambda x: {"double": x})
      .to("out"))
    d = TestDriver(p)
    d.pipe_many("buys", [buy(1, 10.0), buy(2, 1.0), buy(3, 7.0)])
    out = d.read("out")
    assert [o.value for o in out] == [{"double": 10.0}, {"double": 20.0}, {"double": 7.0},
                                      {"double": 14.0}]
    assert [(o.key, o.timestamp) for o in out] == [("o1", 1001), ("o1", 1001), ("o3", 1003),
                                                   ("o3", 1003)]


def test_branch_sends_each_value_to_first_matching_arm() -> None:
    p = Pipeline("p")
    big, mid, rest = p.stream("n").branch(lambda v: v > 100, lambda v: v > 10, default=True)
    big.to("big")
    mid.to("mid")
    rest.to("rest")
    only, = p.stream("m").branch(lambda v: v > 0)
    only.to("positive")
    d = TestDriver(p)
    d.pipe_many("n", [5, 50, 500, 11, 10])
    d.pipe_many("m", [-1, 1])
    assert (d.values("big"), d.values("mid"), d.values("rest")) == ([500], [50, 11], [5, 10])
    assert d.values("positive") == [1]


def test_fan_out_and_merge() -> None:
    p = Pipeline("p")
    a = p.stream("a")
    b = p.stream("b")
    a.merge(b).map(lambda v: v + 1).to("merged")
    a.to("copy-a")
    d = TestDriver(p)
    d.pipe_many("a", [1, 2])
    d.pipe_many("b", [10])
    assert sorted(d.values("merged")) == [2, 3, 11]
    assert d.values("copy-a") == [1, 2]


def test_key_by_repartitions_by_new_key() -> None:
    p = Pipeline("p")
    (p.stream("buys", value=Buy, key="order_id")
      .key_by(lambda b: b.product, name="by-product")
      .map(lambda b: {"product": b.product, "price": b.price})
      .to("by-product"))
    d = TestDriver(p, partitions=4)
    d.pipe_many("buys", [buy(i, float(i), f"p{i % 3}") for i in range(30)])
    out = d.read("by-product")
    assert len(out) == 30
    for o in out:
        assert o.key == o.value["product"]
        assert o.partition == partition_for(o.key.encode(), 4)
    internal = d.read("p-by-product-repartition")
    assert {o.key for o in internal} == {"p0", "p1", "p2"}


def test_bad_input_is_dead_lettered_with_reasons() -> None:
    p = Pipeline("p")
    p.stream("buys", value=Buy, key="order_id", time="ts").map(lambda b: 1 / (b.price - 3),
                                                               name="divide").to("out")
    d = TestDriver(p)
    d.pipe("buys", b"{not json")
    d.pipe("buys", {"order_id": "o1"})
    d.pipe("buys", buy(2, 3.0))
    d.pipe("buys", buy(3, 4.0))
    d.pipe("buys", {**buy(4), "ts": "noon"})
    dead = d.dead_letters()
    assert [(x.stage, x.operator) for x in dead] == [
        ("decode", "source.buys"), ("schema", "source.buys"), ("operator", "divide"),
        ("schema", "source.buys")]
    assert dead[2].error.startswith("ZeroDivisionError") and dead[2].offset == 2
    assert dead[0].value == b"{not json"
    assert d.values("out") == [1.0]


def test_time_field_must_be_epoch_millis() -> None:
    p = Pipeline("p")
    p.stream("in", time="at").to("out")
    d = TestDriver(p)
    d.pipe_many("in", [{"at": 5.9}, {"at": "x"}, {"at": 7}])
    assert [o.timestamp for o in d.read("out")] == [5, 7]
    assert [x.stage for x in d.dead_letters()] == ["time"]


def test_skip_policy_drops_and_fail_policy_stops_before_commit() -> None:
    skip = Pipeline("s", on_error="skip")
    skip.stream("in").map(lambda v: 10 // v).to("out")
    d = TestDriver(skip)
    d.pipe_many("in", [1, 0, 2])
    assert d.values("out") == [10, 5] and d.dead_letters() == []
    fail = Pipeline("f", on_error="fail")
    fail.stream("in").map(lambda v: 10 // v).to("out")
    d = TestDriver(fail)
    d.pipe_many("in", [1, 2])
    with pytest.raises(PipelineFailed, match=r"in\[0\]@3 failed in operator stage"):
        d.pipe_many("in", [5, 0])
    assert d.values("out") == [10, 5]


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(-50, 50), max_size=60), partitions=st.integers(1, 8),
       threshold=st.integers(-20, 20))
def test_stateless_chain_matches_batch_reference(values: list[int], partitions: int,
                                                 threshold: int) -> None:
    p = Pipeline("p")
    (p.stream("in", key="k")
      .filter(lambda v: v["x"] > threshold)
      .flat_map(lambda v: [v["x"]] * (abs(v["x"]) % 3))
      .map(lambda x: x * 2)
      .to("out"))
    d = TestDriver(p, partitions=partitions)
    d.pipe_many("in", [{"k": i % 7, "x": x} for i, x in enumerate(values)])
    expected = [x * 2 for x in values if x > threshold for _ in range(abs(x) % 3)]
    assert sorted(d.values("out")) == sorted(expected)
