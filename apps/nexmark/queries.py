"""The Nexmark queries (docs/nexmark.md) in Shoal's DSL, written as a user would.

Each query reads the topics `person`, `auction` and `bid` (and q13 the side table `side`) and
writes its rows, as JSON objects, to the topic named like the query; the updating ones (q4,
q9, q18, q19) are tables named like the query, read when the input has ended.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apps.nexmark.events import Auction, Bid, Person
from engine import Pipeline, Stream, windows

Row = dict[str, Any]
DAY = 86_400_000
HOT = {"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}
CHANNEL_ID = re.compile(r"(&|^)channel_id=([^&]*)")


def bids(p: Pipeline) -> Stream:
    return p.stream("bid", value=Bid, time="date_time")


def auctions(p: Pipeline) -> Stream:
    return p.stream("auction", value=Auction, time="date_time")


def persons(p: Pipeline) -> Stream:
    return p.stream("person", value=Person, time="date_time")


# -- stateless ---------------------------------------------------------------------------------
def q0(p: Pipeline) -> None:
    """Pass-through: every bid, projected."""
    bids(p).map(lambda b: {"auction": b.auction, "bidder": b.bidder, "price": b.price,
                           "date_time": b.date_time, "extra": b.extra}, name="q0-project").to("q0")


def euros(price: int) -> str:
    """price * 0.908, exactly, as text with 3 decimals."""
    milli = price * 908
    return f"{milli // 1000}.{milli % 1000:03d}"


def q1(p: Pipeline) -> None:
    """Currency conversion."""
    bids(p).map(lambda b: {"auction": b.auction, "bidder": b.bidder, "price": euros(b.price),
                           "date_time": b.date_time, "extra": b.extra},
                name="q1-convert").to("q1")


def q2(p: Pipeline) -> None:
    """Selection: every 123rd auction's bids."""
    (bids(p).filter(lambda b: b.auction % 123 == 0, name="q2-select")
     .map(lambda b: {"auction": b.auction, "price": b.price}, name="q2-project").to("q2"))


def channel_id(b: Bid) -> str | None:
    """The hot channels' ids, else the url's channel_id parameter."""
    hot = HOT.get(b.channel.lower())
    if hot is not None:
        return hot
    found = CHANNEL_ID.search(b.url)
    return found.group(2) if found else None


def q21(p: Pipeline) -> None:
    """Add the channel id; drop bids without one."""
    (bids(p).map(lambda b: {"auction": b.auction, "bidder": b.bidder, "price": b.price,
                            "channel": b.channel, "channel_id": channel_id(b)},
                 name="q21-channel")
     .filter(lambda row: bool(row["channel_id"]), name="q21-known").to("q21"))


def directories(b: Bid) -> Row:
    parts = b.url.split("/")
    return {"auction": b.auction, "bidder": b.bidder, "price": b.price, "channel": b.channel,
            "dir1": parts[3], "dir2": parts[4], "dir3": parts[5]}


def q22(p: Pipeline) -> None:
    """The url's three directories."""
    bids(p).map(directories, name="q22-split").to("q22")


# -- joins -------------------------------------------------------------------------------------
def q3(p: Pipeline) -> None:
    """Local item suggestion: category-10 auctions of sellers in OR, ID or CA. A regular join
    in Nexmark; here both sides are kept for a day of event time."""
    local = (persons(p).filter(lambda x: x.state in ("OR", "ID", "CA"), name="q3-local")
             .key_by(lambda x: x.id, name="q3-person-by-id"))
    (auctions(p).filter(lambda a: a.category == 10, name="q3-category")
     .key_by(lambda a: a.seller, name="q3-by-seller")
     .join(local, lambda a, x: {"name": x.name, "city": x.city, "state": x.state, "id": a.id},
           within=DAY, name="q3-join")
     .to("q3"))


def q8(p: Pipeline) -> None:
    """New users: persons who opened an auction in the 10 s window they registered in."""
    people = persons(p).key_by(lambda x: x.id, name="q8-person-by-id")
    sellers = auctions(p).key_by(lambda a: a.seller, name="q8-by-seller")
    (people.join(sellers, lambda x, _: {"id": x.id, "name": x.name,
                                        "ws": x.date_time - x.date_time % 10_000},
                 window=windows.tumbling(seconds=10), name="q8-same-window")
     .key_by(lambda row: f"{row['id']}@{row['ws']}", name="q8-by-person-window")
     .reduce(lambda first, _: first, name="q8"))


def q13(p: Pipeline) -> None:
    """Bounded side input: each bid looks up `auction % 10000` in a 10,000-row table."""
    side = p.global_table("side", name="side")
    bids(p).join(side, lambda b, s: {"auction": b.auction, "bidder": b.bidder,
                                     "price": b.price, "date_time": b.date_time,
                                     "value": s["value"]},
                 key=lambda b: b.auction % 10_000, name="q13-lookup").to("q13")


def open_bids(p: Pipeline, prefix: str) -> Stream:
    """(auction, bid) for every bid placed while its auction was open (date_time to
    expires): a join bounded by a field of the auction."""
    by_id = auctions(p).key_by(lambda a: a.id, name=f"{prefix}-auction-by-id", key_type=int)
    bid = bids(p).key_by(lambda b: b.auction, name=f"{prefix}-bid-by-auction", key_type=int)
    return by_id.join(bid, until=lambda a: a.expires, name=f"{prefix}-open")


def q4(p: Pipeline) -> None:
    """Average winning price per category, following each auction's highest bid."""
    (open_bids(p, "q4").max_by(lambda ab: ab[1].price, name="q4-winning")
     .group_by(lambda ab: ab[0].category, name="q4-by-category", key_type=int)
     .mean(lambda ab: ab[1].price, name="q4"))


def q9(p: Pipeline) -> None:
    """Winning bids: each auction's highest bid while it was open (the earliest of equal
    ones)."""
    (open_bids(p, "q9")
     .max_by(lambda ab: (ab[1].price, -ab[1].date_time, -ab[1].event_id), name="q9"))


# -- windows and top-N -------------------------------------------------------------------------
def q5(p: Pipeline) -> None:
    """Hot items: per 10 s window sliding every 2 s, the auctions with the most bids."""
    (bids(p).key_by(lambda b: b.auction, name="q5-by-auction", key_type=int)
     .window(windows.hopping(seconds=10, advance=2_000), emit="final")
     .count(name="q5-counts")
     .to_stream()
     .key_by(lambda w: w.start, name="q5-by-window")
     .max_by("value", ties=True, name="q5"))


def q7(p: Pipeline) -> None:
    """Highest bid per 10 s window, joined back to the bids that made it."""
    bid = bids(p)
    highest = (bid.key_by(lambda _: 0, name="q7-all")
               .window(windows.tumbling(seconds=10), emit="final")
               .max("price", name="q7-max-price")
               .to_stream()
               .key_by(lambda w: w.value, name="q7-by-max"))
    (bid.key_by(lambda b: b.price, name="q7-by-price")
     .join(highest, lambda b, w: {"auction": b.auction, "price": b.price,
                                  "bidder": b.bidder, "date_time": b.date_time,
                                  "extra": b.extra, "end": w.end},
           within=10_000, grace=5_000, name="q7-join")
     .filter(lambda row: row["end"] - 10_000 <= row["date_time"] <= row["end"],
             name="q7-in-window")
     .map(lambda row: {k: v for k, v in row.items() if k != "end"}, name="q7-project")
     .to("q7"))


def q11(p: Pipeline) -> None:
    """User sessions: bids per bidder per session (gap 10 s)."""
    (bids(p).key_by(lambda b: b.bidder, name="q11-by-bidder", key_type=int)
     .window(windows.session(gap=10_000), emit="final")
     .count(name="q11-sessions")
     .to_stream()
     .map(lambda w: {"bidder": int(w.key), "count": w.value, "start": w.start,
                     "end": w.end + 10_000}, name="q11-project")
     .to("q11"))


def q18(p: Pipeline) -> None:
    """Each bidder's last bid on each auction."""
    (bids(p).key_by(lambda b: f"{b.bidder}:{b.auction}", name="q18-by-bidder-auction")
     .max_by(lambda b: (b.date_time, b.event_id), name="q18"))


def q19(p: Pipeline) -> None:
    """The 10 highest bids of each auction."""
    (bids(p).key_by(lambda b: b.auction, name="q19-by-auction", key_type=int)
     .top_n(10, by="price", name="q19"))


# -- what the runner reads ---------------------------------------------------------------------
def _topic_rows(columns: tuple[str, ...]) -> Callable[[Any, Any], Iterable[tuple[Any, ...]]]:
    return lambda _key, row: [tuple(row[c] for c in columns)]


def _q4_rows(category: Any, mean: float) -> Iterable[tuple[Any, ...]]:
    return [(int(category), int(mean))]


def _q9_rows(_key: Any, pair: Any) -> Iterable[tuple[Any, ...]]:
    a, b = pair
    return [(a.id, a.seller, a.category, a.initial_bid, a.reserve, a.date_time, a.expires,
             b.bidder, b.price, b.date_time)]


def _q5_rows(start: Any, hottest: list[Any]) -> Iterable[tuple[Any, ...]]:
    return [(int(w.key), w.value, int(start)) for w in hottest]


def _q8_rows(_key: Any, row: Row) -> Iterable[tuple[Any, ...]]:
    return [(row["id"], row["name"], row["ws"])]


def _q18_rows(_key: Any, b: Bid) -> Iterable[tuple[Any, ...]]:
    return [(b.bidder, b.auction, b.price, b.date_time, b.event_id)]


def _q19_rows(auction: Any, top: list[Bid]) -> Iterable[tuple[Any, ...]]:
    return [(int(auction), rank, b.bidder, b.price, b.event_id)
            for rank, b in enumerate(top, 1)]


@dataclass(frozen=True)
class Query:
    """A query: how to build it, where its output is, and how an output becomes rows in
    the reference's column order."""

    name: str
    build: Callable[[Pipeline], None]
    table: bool = False  # an updating table (read at the end) rather than a topic
    rows: Callable[[Any, Any], Iterable[tuple[Any, ...]]] | None = None

    def pipeline(self) -> Pipeline:
        p = Pipeline(f"nexmark-{self.name}")
        self.build(p)
        return p


QUERIES = {q.name: q for q in (
    Query("q0", q0), Query("q1", q1), Query("q2", q2), Query("q3", q3),
    Query("q4", q4, table=True, rows=_q4_rows), Query("q5", q5, table=True, rows=_q5_rows),
    Query("q7", q7), Query("q8", q8, table=True, rows=_q8_rows),
    Query("q9", q9, table=True, rows=_q9_rows), Query("q11", q11), Query("q13", q13),
    Query("q18", q18, table=True, rows=_q18_rows), Query("q19", q19, table=True, rows=_q19_rows),
    Query("q21", q21), Query("q22", q22),
)}
