"""The DuckDB Nexmark reference against hand-computed rows and a plain-Python brute force."""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from apps.nexmark.reference import COLUMNS, QUERIES, main, reference

B = 1_704_067_200_000  # a multiple of 10,000: window offsets below are relative to it
URL = "https://www.nexmark.com/aaa/bbb/ccc/item.htm?query=1"
Row = dict[str, Any]
Rows = list[tuple[Any, ...]]


def person(eid: int, pid: int, name: str, state: str, t: int, city: str = "Bend") -> Row:
    """A person event."""
    return {"id": pid, "name": name, "email_address": "a@b.com", "credit_card": "1 2 3 4",
            "city": city, "state": state, "date_time": t, "extra": "", "event_id": eid}


def auction(eid: int, aid: int, seller: int, category: int, t: int, expires: int,
            initial_bid: int = 5, reserve: int = 6) -> Row:
    """An auction event."""
    return {"id": aid, "item_name": "it", "description": "d", "initial_bid": initial_bid,
            "reserve": reserve, "date_time": t, "expires": expires, "seller": seller,
            "category": category, "extra": "", "event_id": eid}


def bid(eid: int, auc: int, bidder: int, price: int, t: int, channel: str = "channel-1",
        url: str | None = URL, extra: str = "x") -> Row:
    """A bid event."""
    return {"auction": auc, "bidder": bidder, "price": price, "channel": channel, "url": url,
            "date_time": t, "extra": extra, "event_id": eid}


def write(directory: Path, persons: list[Row] | None = None, auctions: list[Row] | None = None,
          bids: list[Row] | None = None) -> Path:
    """Write the given kinds as JSON lines; a kind passed as None gets no file at all."""
    for kind, rows in (("person", persons), ("auction", auctions), ("bid", bids)):
        if rows is not None:
            text = "".join(json.dumps(r) + "\n" for r in rows)
            (directory / f"{kind}.jsonl").write_text(text)
    return directory


def test_queries_and_columns() -> None:
    assert set(COLUMNS) == set(QUERIES)
    assert COLUMNS["q5"] == ("auction", "num", "ws")
    assert COLUMNS["q19"] == ("auction", "rank", "bidder", "price", "event_id")


def test_missing_and_empty_kinds(tmp_path: Path) -> None:
    assert all(reference(tmp_path, q) == [] for q in QUERIES)
    write(tmp_path, persons=[], bids=[bid(4, 1000, 1001, 7, B)])  # empty person, no auction
    assert reference(tmp_path, "q0") == [(1000, 1001, 7, B, "x")]
    for q in ("q3", "q4", "q8", "q9"):
        assert reference(tmp_path, q) == []


def test_stateless_queries(tmp_path: Path) -> None:
    write(tmp_path, bids=[
        bid(4, 1000, 1001, 125590, B, "Facebook",
            "https://www.nexmark.com/c__/qquo/pfgc/item.htm?query=1", "e1"),
        bid(5, 1107, 7, 1, B + 1, url=URL + "&channel_id=5"),
        bid(6, 10000, 8, 1000, B + 2, url="https://x"),
        bid(7, 12345, 9, 11, B + 3),
        bid(8, 246, 9, 0, B + 4),
    ])
    assert [r[2] for r in reference(tmp_path, "q1")] == [
        "0.000", "114035.720", "0.908", "908.000", "9.988"]
    assert reference(tmp_path, "q1")[0] == (246, 9, "0.000", B + 4, "x")
    assert reference(tmp_path, "q2") == [(246, 0), (1107, 1)]
    assert [r[4] for r in reference(tmp_path, "q13")] == ["246", "1000", "1107", "0", "2345"]
    assert reference(tmp_path, "q13")[0] == (246, 9, 0, B + 4, "246")
    assert [r[4:] for r in reference(tmp_path, "q22")] == [
        ("aaa", "bbb", "ccc"), ("c__", "qquo", "pfgc"), ("aaa", "bbb", "ccc"), ("", "", ""),
        ("aaa", "bbb", "ccc")]
    assert reference(tmp_path, "q22")[1][:4] == (1000, 1001, 125590, "Facebook")


def test_q3_join_and_filters(tmp_path: Path) -> None:
    write(tmp_path, persons=[
        person(0, 1, "Ann A", "OR", B + 500), person(50, 2, "Bob B", "CA", B),
        person(100, 3, "Cid C", "WA", B), person(150, 4, "Dee D", "or", B)],
        auctions=[
        auction(1, 100, 1, 10, B, B + 1), auction(2, 101, 1, 11, B, B + 1),
        auction(3, 102, 2, 10, B, B + 1), auction(51, 103, 3, 10, B, B + 1),
        auction(52, 104, 99, 10, B, B + 1), auction(53, 105, 4, 10, B, B + 1),
        auction(101, 106, 2, 10, B + 99_000, B + 99_001)])
    assert reference(tmp_path, "q3") == [
        ("Ann A", "Bend", "OR", 100), ("Bob B", "Bend", "CA", 102), ("Bob B", "Bend", "CA", 106)]


def test_q4_q9_bids_inside_the_auction_lifetime(tmp_path: Path) -> None:
    write(tmp_path, auctions=[
        auction(1, 1, 50, 10, B, B + 5000, 5, 6), auction(2, 2, 50, 10, B, B + 100),
        auction(3, 3, 51, 11, B + 1000, B + 2000, 7, 8), auction(4, 4, 52, 10, B, B + 9000, 9, 9)],
        bids=[
        bid(10, 1, 9, 999, B - 1), bid(11, 1, 1, 10, B), bid(12, 1, 2, 30, B + 5000),
        bid(13, 1, 9, 999, B + 5001), bid(14, 2, 9, 500, B + 101),
        bid(20, 3, 3, 50, B + 1700), bid(22, 3, 4, 50, B + 1600), bid(21, 3, 5, 50, B + 1600),
        bid(23, 3, 6, 49, B + 1000), bid(30, 4, 7, 45, B + 9000), bid(31, 4, 8, 44, B + 8999),
        bid(32, 5, 8, 1000, B + 10)])
    assert reference(tmp_path, "q4") == [(10, 37), (11, 50)]  # (30 + 45) // 2
    assert reference(tmp_path, "q9") == [
        (1, 50, 10, 5, 6, B, B + 5000, 2, 30, B + 5000),
        (3, 51, 11, 7, 8, B + 1000, B + 2000, 5, 50, B + 1600),
        (4, 52, 10, 9, 9, B, B + 9000, 7, 45, B + 9000)]


def test_q5_hopping_windows_keep_ties(tmp_path: Path) -> None:
    times = {1: [0, 1000, 9999], 2: [3000, 9000], 3: [10000, 11000], 4: [10000],
             5: [50000], 6: [51999]}
    bids = [bid(i, a, 1, 1, B + t) for i, (a, t) in
            enumerate((a, t) for a, ts in times.items() for t in ts)]
    write(tmp_path, bids=bids)
    expected = [(1, 2, -8000), (1, 2, -6000), (1, 2, -4000), (1, 2, -2000), (1, 3, 0),
                (2, 2, 2000), (3, 2, 2000), (3, 2, 4000), (3, 2, 6000), (3, 2, 8000),
                (3, 2, 10000)]
    expected += [(a, 1, ws) for a in (5, 6) for ws in range(42000, 50001, 2000)]
    assert reference(tmp_path, "q5") == sorted((a, n, B + ws) for a, n, ws in expected)


def test_q7_bound_is_inclusive_at_both_ends(tmp_path: Path) -> None:
    spec = {1: (5, 0), 2: (9, 4000), 3: (9, 9999), 4: (9, 10000), 5: (7, 15000),
            6: (3, 20000), 7: (8, 45000), 8: (8, 39999), 9: (8, 40000)}
    write(tmp_path, bids=[bid(i, i, 100 + i, p, B + t, extra=f"x{i}")
                          for i, (p, t) in spec.items()])
    out = [2, 3, 4, 4, 6, 8, 9, 9, 7]  # 4 and 9 qualify for two windows each
    expected = [(i, spec[i][0], 100 + i, B + spec[i][1], f"x{i}") for i in out]
    assert reference(tmp_path, "q7") == sorted(expected)


def test_q8_same_tumbling_window(tmp_path: Path) -> None:
    write(tmp_path, persons=[
        person(0, 1, "Ann", "OR", B + 9999), person(50, 2, "Bob", "OR", B + 10000),
        person(100, 3, "Cid", "OR", B + 5), person(150, 4, "Dee", "OR", B)],
        auctions=[
        auction(1, 10, 1, 10, B + 10000, B + 10001), auction(2, 11, 2, 10, B + 19999, B + 20000),
        auction(3, 12, 2, 11, B + 12000, B + 12001), auction(51, 13, 2, 10, B + 25000, B + 25001),
        auction(52, 14, 3, 10, B + 5, B + 6), auction(53, 15, 5, 10, B, B + 1)])
    assert reference(tmp_path, "q8") == [(2, "Bob", B + 10000), (3, "Cid", B)]


def test_q11_session_gap(tmp_path: Path) -> None:
    spec = [(1, 0), (2, 5), (1, 10000), (1, 20001), (1, 20001), (3, 100000), (3, 90000),
            (1, 30001), (4, 0), (4, 10001)]
    write(tmp_path, bids=[bid(i, 1, b, 1, B + t) for i, (b, t) in enumerate(spec)])
    expected = [(1, 2, 0, 20000), (1, 3, 20001, 40001), (2, 1, 5, 10005),
                (3, 2, 90000, 110000), (4, 1, 0, 10000), (4, 1, 10001, 20001)]
    assert reference(tmp_path, "q11") == [(b, n, B + s, B + e) for b, n, s, e in expected]


def test_q18_latest_bid(tmp_path: Path) -> None:
    write(tmp_path, bids=[
        bid(1, 10, 1, 5, B + 100), bid(2, 10, 1, 6, B + 300), bid(3, 10, 1, 7, B + 300),
        bid(4, 10, 1, 8, B + 200), bid(5, 11, 1, 9, B + 50), bid(7, 10, 2, 4, B + 400),
        bid(6, 10, 2, 3, B + 400)])
    assert reference(tmp_path, "q18") == [
        (1, 10, 7, B + 300, 3), (1, 11, 9, B + 50, 5), (2, 10, 4, B + 400, 7)]


def test_q19_top10_ties_by_event_id(tmp_path: Path) -> None:
    prices = {1: 5, 2: 9, 3: 9, 4: 1, 5: 7, 6: 9, 7: 3, 8: 3, 9: 8, 10: 6, 11: 4, 12: 5}
    bids = [bid(e, 1, 100 + e, p, B) for e, p in reversed(prices.items())]
    write(tmp_path, bids=[*bids, bid(21, 2, 5, 5, B), bid(20, 2, 6, 5, B + 1)])
    top = [2, 3, 6, 9, 5, 10, 1, 12, 11, 7]
    expected = [(1, r, 100 + e, prices[e], e) for r, e in enumerate(top, 1)]
    assert reference(tmp_path, "q19") == [*expected, (2, 1, 6, 5, 20), (2, 2, 5, 5, 21)]


def test_q21_channel_id(tmp_path: Path) -> None:
    spec = [("Apple", URL), ("GOOGLE", URL), ("faceBook", URL), ("baidu", URL + "&channel_id=77"),
            ("channel-5", URL + "&channel_id=123"), ("channel-6", URL),
            ("channel-7", URL + "&channel_id="), ("channel-8", "channel_id=77&x=1"),
            ("channel-9", URL + "&xchannel_id=5"), ("channel-1", URL + "&channel_id=-2147483648"),
            ("channel-11", URL + "&channel_id=12&channel_id=34"), ("Apples", URL)]
    write(tmp_path, bids=[bid(i, i, 1, 2, B, c, u) for i, (c, u) in enumerate(spec)])
    assert reference(tmp_path, "q21") == [
        (0, 1, 2, "Apple", "0"), (1, 1, 2, "GOOGLE", "1"), (2, 1, 2, "faceBook", "2"),
        (3, 1, 2, "baidu", "3"), (4, 1, 2, "channel-5", "123"), (7, 1, 2, "channel-8", "77"),
        (9, 1, 2, "channel-1", "-2147483648"), (10, 1, 2, "channel-11", "12")]


def test_nulls_sort_last(tmp_path: Path) -> None:
    write(tmp_path, bids=[bid(1, 7, 1, 2, B, url=None), bid(2, 7, 1, 2, B)])
    assert reference(tmp_path, "q22") == [
        (7, 1, 2, "channel-1", "aaa", "bbb", "ccc"), (7, 1, 2, "channel-1", None, None, None)]
    assert reference(tmp_path, "q21") == []  # a null url has no channel_id


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, bids=[bid(4, 246, 1, 2, B)])
    assert main([str(tmp_path), "q2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["q2: 1 rows; columns auction, price",
                                                     "(246, 2)"]


# --- a plain-Python brute force of every query, checked on random events ------------------------

HOT = {"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}
Events = tuple[list[Row], list[Row], list[Row]]


def random_events(seed: int) -> Events:
    """Small random events with many collisions: prices, times on a 500 ms grid, few keys."""
    rng = random.Random(seed)
    persons = [person(50 * i, i, rng.choice(["Ann", "Bob"]), rng.choice(["OR", "ID", "CA", "WA"]),
                      B + rng.randrange(0, 60000, 500)) for i in range(1, 25)]
    auctions = []
    for i in range(60):
        t = B + rng.randrange(0, 60000, 500)
        auctions.append(auction(1000 + i, 100 + i, rng.randint(1, 27), rng.randint(10, 12), t,
                                t + rng.randrange(0, 30000, 500)))
    channels = ["Apple", "GOOGLE", "Baidu", "facebook", "channel-3", "channel-4"]
    urls = [URL, URL + "&channel_id=42", "https://a/b"]
    bids = [bid(5000 + i, rng.randint(98, 167), rng.randint(1, 20), rng.randint(1, 25),
                B + rng.randrange(0, 150000, 500), rng.choice(channels), rng.choice(urls))
            for i in range(400)]
    return persons, auctions, bids


def in_life(a: Row, b: Row) -> bool:
    """The bid is for this auction and inside its lifetime."""
    return bool(b["auction"] == a["id"] and a["date_time"] <= b["date_time"] <= a["expires"])


def brute_q4(ev: Events) -> Rows:
    maxima: defaultdict[int, list[int]] = defaultdict(list)
    for a in ev[1]:
        prices = [b["price"] for b in ev[2] if in_life(a, b)]
        if prices:
            maxima[a["category"]].append(max(prices))
    return [(c, sum(m) // len(m)) for c, m in maxima.items()]


def brute_q5(ev: Events) -> Rows:
    counts: Counter[tuple[int, int]] = Counter()
    for b in ev[2]:
        t = b["date_time"]
        for ws in range((t // 2000 - 10) * 2000, t + 20000, 2000):  # a superset
            if ws <= t < ws + 10000:
                counts[ws, b["auction"]] += 1
    top: dict[int, int] = {}
    for (ws, _), n in counts.items():
        top[ws] = max(top.get(ws, 0), n)
    return [(a, n, ws) for (ws, a), n in counts.items() if n == top[ws]]


def brute_q7(ev: Events) -> Rows:
    top: dict[int, int] = {}
    for b in ev[2]:
        ws = b["date_time"] // 10000 * 10000
        top[ws] = max(top.get(ws, b["price"]), b["price"])
    return [(b["auction"], b["price"], b["bidder"], b["date_time"], b["extra"])
            for ws, p in top.items() for b in ev[2]
            if b["price"] == p and ws <= b["date_time"] <= ws + 10000]


def brute_q9(ev: Events) -> Rows:
    out = []
    for a in ev[1]:
        bids = [b for b in ev[2] if in_life(a, b)]
        if bids:
            w = min(bids, key=lambda b: (-b["price"], b["date_time"], b["event_id"]))
            out.append((a["id"], a["seller"], a["category"], a["initial_bid"], a["reserve"],
                        a["date_time"], a["expires"], w["bidder"], w["price"], w["date_time"]))
    return out


def brute_q11(ev: Events) -> Rows:
    times: defaultdict[int, list[int]] = defaultdict(list)
    for b in ev[2]:
        times[b["bidder"]].append(b["date_time"])
    out = []
    for bidder, ts in times.items():
        ts.sort()
        sessions = [[ts[0]]]
        for prev, t in pairwise(ts):
            if t - prev > 10000:
                sessions.append([])
            sessions[-1].append(t)
        out += [(bidder, len(s), s[0], s[-1] + 10000) for s in sessions]
    return out


def brute_q18(ev: Events) -> Rows:
    last: dict[tuple[int, int], Row] = {}
    for b in ev[2]:
        k = (b["bidder"], b["auction"])
        if k not in last or (b["date_time"], b["event_id"]) > (
                last[k]["date_time"], last[k]["event_id"]):
            last[k] = b
    return [(*k, b["price"], b["date_time"], b["event_id"]) for k, b in last.items()]


def brute_q19(ev: Events) -> Rows:
    per: defaultdict[int, list[Row]] = defaultdict(list)
    for b in ev[2]:
        per[b["auction"]].append(b)
    return [(a, r, b["bidder"], b["price"], b["event_id"]) for a, bs in per.items()
            for r, b in enumerate(sorted(bs, key=lambda b: (-b["price"], b["event_id"]))[:10], 1)]


def channel_id(b: Row) -> str | None:
    """q21's channel_id, spelled out in Python."""
    if b["channel"].lower() in HOT:
        return HOT[b["channel"].lower()]
    m = re.search(r"(&|^)channel_id=([^&]*)", b["url"])
    return m.group(2) if m else None


def split3(url: str) -> tuple[str, str, str]:
    """Parts 3, 4, 5 (0-based) of url split by '/', '' where missing."""
    parts = [*url.split("/"), "", "", "", "", "", ""]
    return parts[3], parts[4], parts[5]


BRUTE: dict[str, Callable[[Events], Rows]] = {
    "q0": lambda ev: [(b["auction"], b["bidder"], b["price"], b["date_time"], b["extra"])
                      for b in ev[2]],
    "q1": lambda ev: [(b["auction"], b["bidder"], f"{b['price'] * 908 // 1000}."
                       f"{b['price'] * 908 % 1000:03d}", b["date_time"], b["extra"])
                      for b in ev[2]],
    "q2": lambda ev: [(b["auction"], b["price"]) for b in ev[2] if b["auction"] % 123 == 0],
    "q3": lambda ev: [(p["name"], p["city"], p["state"], a["id"]) for a in ev[1] for p in ev[0]
                      if a["seller"] == p["id"] and a["category"] == 10
                      and p["state"] in ("OR", "ID", "CA")],
    "q4": brute_q4,
    "q5": brute_q5,
    "q7": brute_q7,
    "q8": lambda ev: list({(p["id"], p["name"], p["date_time"] // 10000 * 10000)
                           for p in ev[0] for a in ev[1] if a["seller"] == p["id"]
                           and a["date_time"] // 10000 == p["date_time"] // 10000}),
    "q9": brute_q9,
    "q11": brute_q11,
    "q13": lambda ev: [(b["auction"], b["bidder"], b["price"], b["date_time"],
                        str(b["auction"] % 10000)) for b in ev[2]],
    "q18": brute_q18,
    "q19": brute_q19,
    "q21": lambda ev: [(b["auction"], b["bidder"], b["price"], b["channel"], channel_id(b))
                       for b in ev[2] if channel_id(b)],
    "q22": lambda ev: [(b["auction"], b["bidder"], b["price"], b["channel"], *split3(b["url"]))
                       for b in ev[2]],
}


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("query", QUERIES)
def test_random_events_match_brute_force(tmp_path: Path, query: str, seed: int) -> None:
    ev = random_events(seed)
    expected = sorted(BRUTE[query](ev))
    assert expected, f"{query}: the random input should produce rows"
    got = reference(write(tmp_path, *ev), query)
    assert got == expected
    assert all(len(r) == len(COLUMNS[query]) for r in got)
    assert all(type(v) in (int, str) for r in got for v in r)
