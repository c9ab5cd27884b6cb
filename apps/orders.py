"""Stateless order routing: validate, enrich, and route shop orders to three topics.

    orders --validate--> enrich --route--> orders.large          (total >= 500)
                                      \\--> orders.domestic       (shipped to DE)
                                       \\-> orders.international (the rest)

Malformed JSON, schema violations and orders that fail validation land in `orders.dlq`
with headers that say why; the run goes on.
"""

from __future__ import annotations

from apps.shop_events import HOME_COUNTRY, REGIONS, VAT_RATES, Order, PricedOrder
from engine import Pipeline

LARGE_ORDER_TOTAL = 500.0


class InvalidOrder(ValueError):
    """An order that decodes but makes no business sense."""


def validate(order: Order) -> Order:
    """Reject orders no shop would accept."""
    if order.quantity <= 0:
        raise InvalidOrder(f"quantity must be positive, got {order.quantity}")
    if order.unit_price <= 0:
        raise InvalidOrder(f"unit_price must be positive, got {order.unit_price}")
    if order.country not in VAT_RATES:
        raise InvalidOrder(f"we do not ship to {order.country!r}")
    return order


def enrich(order: Order) -> PricedOrder:
    """Add region, subtotal, VAT and total (rounded to cents)."""
    subtotal = round(order.quantity * order.unit_price, 2)
    vat = round(subtotal * VAT_RATES[order.country], 2)
    return PricedOrder(
        order_id=order.order_id, customer=order.customer, product=order.product,
        quantity=order.quantity, country=order.country, region=REGIONS[order.country],
        subtotal=subtotal, vat=vat, total=round(subtotal + vat, 2), ts=order.ts,
    )


def is_large(order: PricedOrder) -> bool:
    """Orders that need a manual check before shipping."""
    return order.total >= LARGE_ORDER_TOTAL


def is_domestic(order: PricedOrder) -> bool:
    """Orders shipped within the home country."""
    return order.country == HOME_COUNTRY


p = Pipeline("orders")
priced = (
    p.stream("orders", value=Order, key="order_id", time="ts")
    .map(validate, name="validate")
    .map(enrich, name="enrich")
)
large, domestic, international = priced.branch(is_large, is_domestic, default=True, name="route")
large.to("orders.large")
domestic.to("orders.domestic")
international.to("orders.international")
