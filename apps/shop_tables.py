"""Queryable shop tables: revenue per product per minute, and inventory per product.

    orders -> validate -> enrich -> key_by(product) -> 1-minute tumbling windows (grace 5 min,
              emit final) -> sum(total)      = table `revenue-per-minute` (+ topic)
    stock  -> sum(delta) per sku            = table `inventory`

    shoal query apps/shop_tables.py revenue-per-minute sku-007
    shoal query apps/shop_tables.py inventory --limit 5
"""

from __future__ import annotations

from apps.orders import enrich, validate
from apps.shop_events import Order, PricedOrder, StockChange
from engine import Pipeline, windows

p = Pipeline("shop-tables")

revenue = (
    p.stream("orders", value=Order, key="order_id", time="ts")
    .map(validate, name="validate")
    .map(enrich, name="enrich")
    .key_by(lambda order: order.product, name="by-product")
    .window(windows.tumbling(minutes=1), grace=windows.minutes(5), emit="final")
    .sum(lambda order: order.total, name="revenue-per-minute")
)
revenue.to_stream().map(
    lambda w: {"product": w.key, "minute": w.start, "revenue": round(w.value, 2)},
    name="revenue-row",
).to("revenue.per-minute")

inventory = p.stream("stock", value=StockChange, key="sku", time="ts").sum(
    "delta", name="inventory")

__all__ = ["PricedOrder", "inventory", "p", "revenue"]
