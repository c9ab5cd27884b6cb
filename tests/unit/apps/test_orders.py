"""The example order-routing app against a batch reference of its own rules."""

from __future__ import annotations

import json

from apps.generate import orders
from apps.orders import p
from engine.testing import TestDriver


def test_orders_route_and_dead_letter() -> None:
    lines = list(orders(2_000, seed=3, bad_every=20))
    d = TestDriver(p, partitions=3)
    d.pipe_many("orders", [line.encode() for line in lines])
    large, domestic, intl = (d.values(t) for t in
                             ("orders.large", "orders.domestic", "orders.international"))
    dead = d.dead_letters()
    assert len(large) + len(domestic) + len(intl) + len(dead) == len(lines)
    assert all(o["total"] >= 500 for o in large)
    assert all(o["country"] == "DE" and o["total"] < 500 for o in domestic)
    assert all(o["country"] != "DE" and o["total"] < 500 for o in intl)
    for o in large + domestic + intl:
        assert round(o["subtotal"] + o["vat"], 2) == o["total"]
    stages = {x.stage for x in dead}
    assert stages == {"decode", "schema", "operator"}
    good = [json.loads(x) for x in lines if x.endswith("}")]
    shipped = sum(1 for o in good if isinstance(o["quantity"], int) and o["quantity"] > 0
                  and o["country"] != "BR")
    assert len(large) + len(domestic) + len(intl) == shipped
