"""The NX-lite v1 generator against the spec's tables (../shared/nexmark.md: "First events" and
"Generator checksums"), its JSON-lines writer, and determinism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec
import pytest

from apps.nexmark.generator import CHUNK, generate, write

COLUMNS = {
    "person": ["id", "name", "email_address", "credit_card", "city", "state", "date_time",
               "extra", "event_id"],
    "auction": ["id", "item_name", "description", "initial_bid", "reserve", "date_time",
                "expires", "seller", "category", "extra", "event_id"],
    "bid": ["auction", "bidder", "price", "channel", "url", "date_time", "extra", "event_id"],
}


def _epoch_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@pytest.fixture(scope="module")
def checksums() -> dict[str, Any]:
    """One pass over the 1,000,000 events of the spec's checksum run (seed 42, R = 10,000)."""
    rows = {"person": 0, "auction": 0, "bid": 0}
    sums = dict.fromkeys(("price", "reserve", "bidder", "seller", "extra", "states"), 0)
    max_bid_time = 0
    for kind, row in generate(1_000_000):
        rows[kind] += 1
        if kind == "bid":
            sums["price"] += row["price"]
            sums["bidder"] += row["bidder"]
            sums["extra"] += len(row["extra"])
            max_bid_time = max(max_bid_time, row["date_time"])
        elif kind == "auction":
            sums["reserve"] += row["reserve"]
            sums["seller"] += row["seller"]
        else:
            sums["states"] += row["state"] in ("OR", "ID", "CA")
    return {"rows": rows, **sums, "max_bid_time": max_bid_time}


def test_first_events_match_the_spec() -> None:
    events = list(generate(5))
    assert [kind for kind, _ in events] == ["person", "auction", "auction", "auction", "bid"]
    person, auction, bid = events[0][1], events[1][1], events[4][1]
    assert {k: person[k] for k in COLUMNS["person"] if k != "extra"} == {
        "id": 1000, "name": "Luke Shultz", "email_address": "z vuoj@rpk.com",
        "credit_card": "5842 2725 4137 4108", "city": "Bend", "state": "WA",
        "date_time": 1_704_067_200_000, "event_id": 0}
    assert {k: auction[k] for k in ("id", "item_name", "initial_bid", "reserve", "expires",
                                    "seller", "category", "event_id")} == {
        "id": 1000, "item_name": "mcskcm wxpucsmifemc", "initial_bid": 4_504_121,
        "reserve": 4_504_282, "expires": 1_704_067_200_234, "seller": 1004, "category": 14,
        "event_id": 1}
    assert {k: bid[k] for k in ("auction", "bidder", "price", "channel", "url", "event_id")} == {
        "auction": 1000, "bidder": 1001, "price": 125_590, "channel": "Facebook",
        "url": "https://www.nexmark.com/c__/qquo/pfgc/item.htm?query=1", "event_id": 4}


def test_rows_have_the_spec_columns_in_order() -> None:
    for kind, row in generate(2 * CHUNK):
        assert list(row) == COLUMNS[kind]


def test_checksums_at_one_million_events(checksums: dict[str, Any]) -> None:
    assert checksums["rows"] == {"person": 20_000, "auction": 60_000, "bid": 920_000}
    assert checksums["price"] == 6_645_890_485_437
    assert checksums["reserve"] == 871_259_760_018
    assert checksums["bidder"] == 9_975_065_914
    assert checksums["seller"] == 650_423_329
    assert checksums["extra"] == 62_111_273
    assert checksums["states"] == 10_020
    last = datetime(2024, 1, 1, 0, 1, 39, 999_000, tzinfo=UTC)
    assert checksums["max_bid_time"] == _epoch_ms(last)


def test_event_order_and_ids() -> None:
    """Kinds follow P A A A B x 46, event_id = n, times are ts(n) = base + n*1000 div R; ids
    are dense (person k at n = 50k, auctions in creation order)."""
    count, rate, base = 3 * CHUNK + 77, 3_000, 1_000_000
    persons = auctions = 0
    for n, (kind, row) in enumerate(generate(count, seed=7, rate=rate, base_ms=base)):
        o = n % 50
        assert kind == ("person" if o == 0 else "auction" if o <= 3 else "bid")
        assert row["event_id"] == n
        assert row["date_time"] == base + n * 1000 // rate
        if kind == "person":
            assert row["id"] == 1000 + persons
            persons += 1
        elif kind == "auction":
            assert row["id"] == 1000 + auctions
            assert row["date_time"] < row["expires"]
            auctions += 1
    assert n == count - 1


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    longer = list(generate(2 * CHUNK + 13, seed=5))
    for count in (0, 1, 49, CHUNK, CHUNK + 1, 2 * CHUNK + 12):
        assert list(generate(count, seed=5)) == longer[:count]


def test_write_round_trips_through_the_files(tmp_path: Path) -> None:
    counts = write(tmp_path / "out", 2_000, seed=11, rate=500)
    expected: dict[str, list[dict[str, Any]]] = {"person": [], "auction": [], "bid": []}
    for kind, row in generate(2_000, seed=11, rate=500):
        expected[kind].append(row)
    assert counts == {kind: len(rows) for kind, rows in expected.items()}
    assert counts == {"person": 40, "auction": 120, "bid": 1_840}
    for kind, rows in expected.items():
        lines = (tmp_path / "out" / f"{kind}.jsonl").read_bytes().splitlines()
        decoded = [msgspec.json.decode(line) for line in lines]
        assert decoded == rows
        assert [list(row) for row in decoded] == [COLUMNS[kind]] * len(rows)


def test_output_is_deterministic_and_depends_on_the_seed() -> None:
    first = list(generate(CHUNK + 321))
    assert list(generate(CHUNK + 321)) == first
    assert list(generate(CHUNK + 321, seed=43)) != first
    assert list(islice(generate(10**9), 100)) == first[:100]
