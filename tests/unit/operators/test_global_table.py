"""Global tables: every task sees the whole table, whatever the partitioning."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Pipeline, PlanError, plan
from engine.app import App
from engine.query.http import one
from engine.testing import TestDriver
from engine.transport import EmbeddedLog

Event = tuple[str, str, int | None]  # ("row", product, category or None) or ("buy", ...)

events_st = st.lists(st.tuples(st.sampled_from(["row", "buy"]), st.sampled_from("abcd"),
                               st.one_of(st.none(), st.integers(0, 5))), max_size=40)


def _pipeline(how: str) -> Pipeline:
    p = Pipeline("g")
    products = p.global_table("products", key="id", name="products")
    buys = p.stream("buys", key="order")
    buys.join(products, lambda b, row: [b["order"], None if row is None else row["cat"]],
              how=how, key=lambda b: b["product"], name="enrich").to("out")
    return p


@settings(max_examples=60, deadline=None)
@given(events=events_st, stream_partitions=st.integers(1, 8),
       table_partitions=st.integers(1, 8), how=st.sampled_from(["inner", "left"]))
def test_global_join_sees_the_latest_row(events: list[Event], stream_partitions: int,
                                         table_partitions: int, how: str) -> None:
    d = TestDriver(_pipeline(how), partitions={"buys": stream_partitions,
                                               "products": table_partitions})
    rows: dict[str, int] = {}
    expected: list[tuple[str, Any]] = []
    for i, (kind, product, cat) in enumerate(events):
        if kind == "row":
            d.pipe("products", None if cat is None else {"id": product, "cat": cat},
                   key=product)
            if cat is None:
                rows.pop(product, None)
            else:
                rows[product] = cat
        else:
            order = f"o{i}"
            d.pipe("buys", {"order": order, "product": product}, key=order)
            if product in rows or how == "left":
                expected.append((order, [order, rows.get(product)]))
    got = [(o.key, o.value) for o in d.read("out")]
    assert sorted(got, key=repr) == sorted(expected, key=repr)


def test_global_tables_need_no_keys_nor_co_partitioning_and_are_not_tasks() -> None:
    p = _pipeline("inner")
    physical = plan(p, {"buys": 3, "products": 7})
    assert [t.name for t in physical.global_tables] == ["products"]
    assert physical.global_topics == ("products",)
    assert len(physical.subtopologies) == 1 and physical.internal_topics == ()
    unkeyed = Pipeline("u")
    table = unkeyed.global_table("products", name="products")
    unkeyed.stream("buys").join(table, key=lambda b: b["p"], name="j").to("out")
    plan(unkeyed)
    by_record_key = Pipeline("r")
    table = by_record_key.global_table("products", name="products")
    by_record_key.stream("buys").join(table, name="j").to("out")
    with pytest.raises(PlanError, match=r"'j' .* needs a keyed stream"):
        plan(by_record_key)


def test_global_join_arguments_are_checked() -> None:
    p = Pipeline("v")
    table = p.global_table("products", name="products")
    buys = p.stream("buys", key="k")
    with pytest.raises(ValueError, match="'inner' or 'left'"):
        buys.join(table, how="outer", name="j")
    with pytest.raises(TypeError, match="callable"):
        buys.join(table, key="product", name="j")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="for global tables"):
        buys.join(p.stream("other", key="k"), key=lambda v: v, within=5, name="j2")
    with pytest.raises(ValueError, match="name="):
        p.global_table("products", name="bad name")


@pytest.mark.parametrize("how", ["inner", "left"])
def test_a_record_without_a_lookup_key_has_no_row(how: str) -> None:
    d = TestDriver(_pipeline(how), partitions={"buys": 2, "products": 2})
    d.pipe("products", {"id": "a", "cat": 1}, key="a")
    d.pipe("buys", {"order": "o1", "product": None}, key="o1")
    d.pipe("buys", {"order": "o2", "product": "a"}, key="o2")
    expected = [["o2", 1]] if how == "inner" else [["o1", None], ["o2", 1]]
    assert sorted(d.values("out")) == expected and d.dead_letters() == []


def test_global_tables_are_queryable(tmp_path: Path) -> None:
    d = TestDriver(_pipeline("left"), partitions={"buys": 2, "products": 3})
    for product, cat in [("a", 1), ("b", 2), ("a", 3), ("b", None)]:
        d.pipe("products", None if cat is None else {"id": product, "cat": cat}, key=product)
    view = d.table("products")
    assert view.get("a") == {"id": "a", "cat": 3} and view.get("b") is None
    assert view.items() == [("a", {"id": "a", "cat": 3})]
    assert one(view, "a", None, None, None)["value"] == {"id": "a", "cat": 3}
    log = EmbeddedLog(tmp_path)
    asyncio.run(log.create_topic("products", 2))
    asyncio.run(log.produce("products", [(b"x", b'{"id": "x", "cat": 7}', 0, None)]))
    asyncio.run(log.close())
    with App(_pipeline("left"), str(tmp_path), read_only=True) as app:
        assert app.table("products").items() == [("x", {"id": "x", "cat": 7})]


def test_undecodable_global_records_are_skipped_and_counted() -> None:
    d = TestDriver(_pipeline("left"), partitions={"buys": 1, "products": 1})
    d.pipe("products", b"{not json", key="z")
    d.pipe("products", {"id": "a", "cat": 1}, key="a")
    assert d.table("products").items() == [("a", {"id": "a", "cat": 1})]
    assert d.worker.global_tables.skipped == 1
