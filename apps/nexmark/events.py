"""Nexmark's events as msgspec Structs (decoded and validated in one step), snake_case as in
docs/nexmark.md."""

from __future__ import annotations

import msgspec


class Person(msgspec.Struct, frozen=True):
    """A person who registered: may sell and bid."""

    id: int
    name: str
    email_address: str
    credit_card: str
    city: str
    state: str
    date_time: int
    extra: str
    event_id: int


class Auction(msgspec.Struct, frozen=True):
    """An item put up for auction by `seller`, open from date_time to expires."""

    id: int
    item_name: str
    description: str
    initial_bid: int
    reserve: int
    date_time: int
    expires: int
    seller: int
    category: int
    extra: str
    event_id: int


class Bid(msgspec.Struct, frozen=True):
    """A bid of `bidder` on `auction`."""

    auction: int
    bidder: int
    price: int
    channel: str
    url: str
    date_time: int
    extra: str
    event_id: int
