"""Table.group_by(...).count/sum/mean against a brute force over the final table: rows that
change group, change value or are deleted leave their old group exactly; a group left with
no row is gone. Whatever the partition count."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Pipeline
from engine.testing import TestDriver

changes_st = st.lists(st.tuples(st.sampled_from("abcdef"),
                                st.none() | st.tuples(st.sampled_from("xyz"),
                                                      st.integers(-5, 20))),
                      max_size=40)


@settings(max_examples=150, deadline=None)
@given(changes=changes_st, partitions=st.integers(1, 4))
def test_group_by_follows_the_table(changes: list[tuple[str, tuple[str, int] | None]],
                                    partitions: int) -> None:
    p = Pipeline("regroup")
    groups = p.table("rows", name="rows").group_by(lambda r: r["g"], name="by-g")
    groups.count(name="counts")
    groups.sum("x", name="sums")
    groups.mean("x", name="means")
    d = TestDriver(p, partitions=partitions)
    table: dict[str, tuple[str, int]] = {}
    for key, row in changes:
        d.pipe("rows", None if row is None else {"g": row[0], "x": row[1]}, key=key)
        if row is None:
            table.pop(key, None)
        else:
            table[key] = row
    members: dict[str, list[int]] = {}
    for g, x in table.values():
        members.setdefault(g, []).append(x)
    assert dict(d.table("counts").items()) == {g: len(xs) for g, xs in members.items()}
    assert dict(d.table("sums").items()) == {g: sum(xs) for g, xs in members.items()}
    means: dict[Any, Any] = dict(d.table("means").items())
    assert means == pytest.approx({g: sum(xs) / len(xs) for g, xs in members.items()})


def test_group_by_needs_an_aggregator_that_subtracts() -> None:
    p = Pipeline("regroup")
    grouped = p.table("rows", name="rows").group_by(lambda r: r["g"], name="by-g")
    with pytest.raises(ValueError, match="cannot"):
        grouped.max("x", name="largest")


def test_a_filtered_table_materialized_joins_a_stream() -> None:
    p = Pipeline("garden")
    products = p.table("products", name="products")
    garden = products.filter(lambda r: r["category"] == "garden", materialized="garden")
    p.stream("orders", key="sku").join(garden, lambda o, r: [o["n"], r["name"]],
                                       name="garden-orders").to("out")
    d = TestDriver(p, partitions=2)
    d.pipe("products", {"category": "garden", "name": "rake"}, key="s1")
    d.pipe("products", {"category": "kitchen", "name": "pan"}, key="s2")
    d.pipe("orders", {"sku": "s1", "n": 1}, key="s1")
    d.pipe("orders", {"sku": "s2", "n": 2}, key="s2")
    d.pipe("products", {"category": "kitchen", "name": "rake"}, key="s1")  # leaves garden
    d.pipe("orders", {"sku": "s1", "n": 3}, key="s1")
    assert [o.value for o in d.read("out")] == [[1, "rake"]]
    assert dict(d.table("garden").items()) == {}
