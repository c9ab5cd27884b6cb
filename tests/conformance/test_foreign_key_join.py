"""Conformance: foreign-key table-table joins (KIP-213), as Kafka Streams defines them.

Source: KIP-213 and the KTable#join(other, foreignKeyExtractor, joiner) javadoc: the result
is keyed like the left table; a left change re-subscribes to the right row of its foreign
key; a right change updates every left row that refers to it; an answer to a left change
that is no longer current is dropped; a result carries the later of the left change's time
and the right row's time when a left change caused it, and the right change's time when a
right change caused it; a delete is sent only for a key that had a joined row.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine import Pipeline
from engine.testing import TestDriver
from tests.helpers.conformance import Input, run


def _pipeline(how: str) -> Pipeline:
    p = Pipeline("fk")
    orders = p.table("orders", key="id", name="orders")
    products = p.table("products", key="sku", name="products")
    orders.join(products, lambda o, prod: [o["id"], prod and prod["name"]], how=how,
                name="named", on=lambda o: o["sku"]).to("out")
    return p


def _order(oid: str, sku: str) -> dict[str, str]:
    return {"id": oid, "sku": sku}


def _product(sku: str, name: str) -> dict[str, str]:
    return {"sku": sku, "name": name}


SCENARIO: list[Input] = [
    ("products", "p1", _product("p1", "kettle"), 1),
    ("orders", "o1", _order("o1", "p1"), 2),     # joins the kettle: max(2, 1)
    ("orders", "o2", _order("o2", "p2"), 3),     # no p2 yet
    ("products", "p2", _product("p2", "pan"), 4),  # o2 finds it: a right change, at 4
    ("products", "p1", _product("p1", "kettle 2"), 5),
    ("orders", "o1", _order("o1", "p2"), 6),     # o1 moves to p2: max(6, 4)
    ("products", "p1", None, 7),                 # nobody refers to p1 any more
    ("products", "p2", None, 8),                 # both orders lose their product
    ("orders", "o2", None, 9),                   # o2 goes
]

EXPECTED = {
    "inner": [("o1", ["o1", "kettle"], 2), ("o2", ["o2", "pan"], 4),
              ("o1", ["o1", "kettle 2"], 5), ("o1", ["o1", "pan"], 6),
              ("o1", None, 8), ("o2", None, 8)],
    "left": [("o1", ["o1", "kettle"], 2), ("o2", ["o2", None], 3),
             ("o2", ["o2", "pan"], 4), ("o1", ["o1", "kettle 2"], 5),
             ("o1", ["o1", "pan"], 6), ("o1", ["o1", None], 8), ("o2", ["o2", None], 8),
             ("o2", None, 9)],
}


@pytest.mark.parametrize("how", ["inner", "left"])
def test_orders_with_products(how: str) -> None:
    """Inner: no row for o2 until p2 exists, and no delete for o2 at 9 (it had no row
    then); left: rows with None while the product is missing, and the delete of o2."""
    out, driver = run(_pipeline(how), SCENARIO, drain=True)
    assert out == EXPECTED[how]
    assert driver.dead_letters() == []
    final = {key: value for key, value, _ in EXPECTED[how]}
    assert {key: driver.table("named").get(key) for key in ("o1", "o2")} == final


def test_changes_in_flight_get_their_answers_in_order() -> None:
    """o1 changes its foreign key twice before anything is processed: each change gets the
    answer of a one-at-a-time run, in time order (Kafka Streams drops the first answer when
    it arrives after the second change, so its output depends on timing; Shoal's cannot)."""
    driver = TestDriver(_pipeline("inner"))
    driver.pipe("products", _product("p1", "kettle"), key="p1", timestamp=1)
    driver.pipe("products", _product("p2", "pan"), key="p2", timestamp=1)
    driver.append("orders", [_order("o1", "p1")], key="o1", timestamp=2)
    driver.append("orders", [_order("o1", "p2")], key="o1", timestamp=3)
    driver.process()
    rows: list[Any] = [(o.key, o.value, o.timestamp) for o in driver.read("out")]
    assert rows == [("o1", ["o1", "kettle"], 2), ("o1", ["o1", "pan"], 3)]
