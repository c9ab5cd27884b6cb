"""Schemas of the shop's events (msgspec Structs: decoded and validated in one step)."""

from __future__ import annotations

import msgspec


class Order(msgspec.Struct, frozen=True):
    """An order as the shop front end emits it."""

    order_id: str
    customer: str
    product: str
    quantity: int
    unit_price: float
    country: str
    ts: int


class PricedOrder(msgspec.Struct, frozen=True):
    """An order after validation and enrichment with region, VAT and total."""

    order_id: str
    customer: str
    product: str
    quantity: int
    country: str
    region: str
    subtotal: float
    vat: float
    total: float
    ts: int


HOME_COUNTRY = "DE"
VAT_RATES = {"DE": 0.19, "FR": 0.20, "NL": 0.21, "IT": 0.22, "ES": 0.21, "US": 0.0, "JP": 0.10}
REGIONS = {"DE": "EU", "FR": "EU", "NL": "EU", "IT": "EU", "ES": "EU", "US": "NA", "JP": "APAC"}


class StockChange(msgspec.Struct, frozen=True):
    """Units of a product received (positive) or picked (negative) at a warehouse."""

    sku: str
    warehouse: str
    delta: int
    ts: int


class Product(msgspec.Struct, frozen=True):
    """A catalogue entry."""

    sku: str
    name: str
    category: str


class Buy(msgspec.Struct, frozen=True):
    """A customer bought one product."""

    order_id: str
    customer: str
    product: str
    price: float
    ts: int


class Shipped(msgspec.Struct, frozen=True):
    """An order left the warehouse."""

    order_id: str
    customer: str
    carrier: str
    ts: int
