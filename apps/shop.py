"""The shop, joined: Buy events matched with Shipped events, enriched from the catalogue.

    buys ⟕ shipped (shipped within 1 h after the buy)  -> orders.fulfilled (+ latency)
                                                       -> orders.unshipped (none in the hour)
    buys ⋈ products (by sku)  -> revenue per category per hour   (table, tumbling 1 h)
    buys (+1) merged with shipped (-1), by customer -> open orders per customer (table)

    shoal query apps/shop.py open-orders-per-customer c-00042
    shoal query apps/shop.py revenue-per-category-hour garden
"""

from __future__ import annotations

from typing import Any

from apps.shop_events import Buy, Product, Shipped
from engine import Pipeline, windows

HOUR = windows.hours(1)


def fulfilled(pair: tuple[Buy, Shipped | None]) -> dict[str, Any]:
    """A matched order with its shipping latency."""
    buy, ship = pair
    assert ship is not None
    return {"order_id": buy.order_id, "customer": buy.customer, "product": buy.product,
            "price": buy.price, "carrier": ship.carrier, "bought": buy.ts,
            "shipped": ship.ts, "latency_s": (ship.ts - buy.ts) / 1000}


def unshipped(pair: tuple[Buy, Shipped | None]) -> dict[str, Any]:
    """A buy that no shipment followed within the hour."""
    buy, _ = pair
    return {"order_id": buy.order_id, "customer": buy.customer, "product": buy.product,
            "price": buy.price, "bought": buy.ts}


def category(pair: tuple[Buy, Product | None]) -> str:
    """The bought product's category ('unknown' when the catalogue lacks it)."""
    return pair[1].category if pair[1] is not None else "unknown"


p = Pipeline("shop", idle_timeout_ms=5_000)
products = p.table("products", value=Product, key="sku", name="products")
buys = p.stream("buys", value=Buy, key="order_id", time="ts")
shipped = p.stream("shipped", value=Shipped, key="order_id", time="ts")

matched, missing = buys.join(shipped, before=0, after=HOUR,
                             grace=windows.minutes(5), how="left", name="buy-shipped") \
    .branch(lambda pair: pair[1] is not None, default=True, name="shipped-or-not")
matched.map(fulfilled, name="fulfilled").to("orders.fulfilled")
missing.map(unshipped, name="unshipped").to("orders.unshipped")

revenue = (
    buys.key_by(lambda buy: buy.product, name="by-product")
    .join(products, how="left", name="with-product")
    .key_by(category, name="by-category")
    .window(windows.tumbling(hours=1), grace=windows.minutes(5))
    .sum(lambda pair: pair[0].price, name="revenue-per-category-hour")
)

open_orders = (
    buys.map(lambda buy: {"customer": buy.customer, "delta": 1}, name="opened")
    .merge(shipped.map(lambda ship: {"customer": ship.customer, "delta": -1}, name="closed"))
    .key_by(lambda change: change["customer"], name="by-customer")
    .sum("delta", name="open-orders-per-customer")
)
