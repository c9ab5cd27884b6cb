"""Foreign-key table joins against a dictionary reference, with changes in flight."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ConfigError, Pipeline, PlanError, plan
from engine.testing import TestDriver

# ("order", order id, customer id or None = no customer, deleted?) or
# ("customer", customer id, name, deleted?)
Change = tuple[str, str, Any, bool]

changes_st = st.lists(st.one_of(
    st.tuples(st.just("order"), st.sampled_from("abcd"),
              st.one_of(st.none(), st.sampled_from("xyz")), st.booleans()),
    st.tuples(st.just("customer"), st.sampled_from("xyz"), st.integers(0, 9), st.booleans()),
), max_size=30)


def _pipeline(how: str) -> Pipeline:
    p = Pipeline("fk")
    orders = p.table("orders", key="id", name="orders")
    customers = p.table("customers", key="id", name="customers")
    orders.join(customers, lambda o, c: [o["id"], o["customer"], None if c is None else c["n"]],
                how=how, on=lambda o: o["customer"], name="with-customer").to("out")
    return p


def expected(orders: dict[str, Any], customers: dict[str, int], how: str) -> dict[str, Any]:
    """The joined table the inputs describe."""
    out = {}
    for order, customer in orders.items():
        name = customers.get(customer) if customer is not None else None
        if name is not None or how == "left":
            out[order] = [order, customer, name]
    return out


def table_of(outputs: list[Any]) -> dict[str, Any]:
    """The table a changelog leaves: the last value per key, None deleting it."""
    table: dict[str, Any] = {}
    for o in outputs:
        if o.value is None:
            table.pop(o.key, None)
        else:
            table[o.key] = o.value
    return table


@settings(max_examples=80, deadline=None)
@given(changes=changes_st, batch=st.integers(1, 6), left_partitions=st.integers(1, 8),
       right_partitions=st.integers(1, 8), how=st.sampled_from(["inner", "left"]))
def test_foreign_key_join_matches_the_reference(changes: list[Change], batch: int,
                                                left_partitions: int, right_partitions: int,
                                                how: str) -> None:
    d = TestDriver(_pipeline(how), partitions={"orders": left_partitions,
                                               "customers": right_partitions})
    orders: dict[str, Any] = {}
    customers: dict[str, int] = {}
    for i, (kind, key, value, deleted) in enumerate(changes):
        if kind == "order":
            row = None if deleted else {"id": key, "customer": value}
            target: dict[str, Any] = orders
        else:
            row = None if deleted else {"id": key, "n": value}
            target = customers
        d.append(kind + "s", [row], key=key)
        if deleted:
            target.pop(key, None)
        else:
            target[key] = value
        if (i + 1) % batch == 0 or i == len(changes) - 1:  # changes of a batch are in flight
            d.process()
            want = expected(orders, customers, how)
            assert table_of(d.read("out")) == want
            assert dict(d.table("with-customer").items()) == want, "the queryable table"


def test_foreign_key_join_plan_and_arguments() -> None:
    physical = plan(_pipeline("left"), {"orders": 3, "customers": 5})
    with pytest.raises(ConfigError, match=r"no table 'with-customer\.subscribe'"):
        TestDriver(_pipeline("left")).table("with-customer.subscribe")  # bookkeeping
    assert {(t.name, t.partitions) for t in physical.internal_topics} == {
        ("fk-with-customer-subscription", 5), ("fk-with-customer-response", 3),
        ("fk-with-customer-left", 3)}
    p = Pipeline("a")
    orders = p.table("orders", key="id", name="orders")
    customers = p.table("customers", key="id", name="customers")
    with pytest.raises(ValueError, match="foreign-key join is 'inner' or 'left'"):
        orders.join(customers, lambda o, c: o, how="outer", on=lambda o: o["c"], name="j")
    with pytest.raises(TypeError, match="on="):
        orders.join(customers, lambda o, c: o, on="c", name="j")  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="non-windowed"):
        orders.join(customers.to_stream().window(
            __import__("engine").windows.tumbling(1000)).count(name="w"),
            lambda o, c: o, on=lambda o: o["c"], name="j")
