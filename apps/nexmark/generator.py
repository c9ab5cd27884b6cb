"""The NX-lite v1 Nexmark event generator (../shared/nexmark.md §1.9): deterministic, one
generator, event id = event number n. Writes person/auction/bid as JSON lines.

    python -m apps.nexmark.generator --events 1000000 --out nexmark/ [--seed 42] [--rate 10000]

Speed: every field is a fixed SplitMix64 draw ("slot") of its event, so draws do not depend on
branches and can be computed for many events at once. Pure Python has no vectors, but it has
big ints: a "lane int" holds one 64-bit value per 128-bit lane, and one big-int multiply, shift,
xor or mask then works on all lanes together (a 64x64-bit product fits its 128-bit lane, so
lanes never carry into each other). The events of a chunk get one lane int per kind and slot,
unpacked with `struct`, then rows are built in a plain loop per kind.
"""

from __future__ import annotations

import argparse
import functools
import struct
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

GOLD = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
POOL = 65_536  # chars in each string pool
CHUNK = 500  # events per vectorised step, a multiple of 50
CHANNELS = 10_000
HORIZON = 1_666  # 100 in-flight auctions * 50 / 3 events: sets auction lifetimes
ACTIVE_PEOPLE = 1_000
IN_FLIGHT = 100
LEAD = 10  # ids a random pick may run ahead of the newest one
FIRST_ID = 1_000
FIRST_NAMES = ("Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah",
               "Deiter", "Walter")
LAST_NAMES = ("Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones",
              "Noris")
CITIES = ("Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond",
          "Seattle", "Kent", "Cheyenne")
STATES = ("AZ", "CA", "ID", "OR", "WA", "WY")
HOT_CHANNELS = ("Google", "Facebook", "Baidu", "Apple")
PRICE_EXP = 3.0 / (1 << 52)  # (r >> 11) * PRICE_EXP == 6 * F(r), exactly
BID_PAD = 100 - 32  # bid extra: d = avg size - base size
BID_DELTA = (BID_PAD + 2) // 5

Row = dict[str, Any]
Event = tuple[str, Row]


def mix(z: int) -> int:
    """The SplitMix64 finaliser of one value (z < 2^64)."""
    z = (z ^ z >> 30) * MIX1 & M64
    z = (z ^ z >> 27) * MIX2 & M64
    return z ^ z >> 31


def _mix_lanes(z: int, mask: int) -> int:
    """`mix` of every 64-bit value in a lane int; `mask` keeps the low 64 bits of each lane
    (a right shift moves the next lane's low bits into this lane's high half)."""
    z = ((z ^ z >> 30) & mask) * MIX1 & mask
    z = ((z ^ z >> 27) & mask) * MIX2 & mask
    return (z ^ z >> 31) & mask


def mix_all(values: list[int]) -> tuple[int, ...]:
    """`mix(v & M64)` of many values at once (used to build the tables)."""
    count = len(values)
    lanes = struct.Struct("<" + "Q8x" * count)
    z = int.from_bytes(lanes.pack(*(v & M64 for v in values)), "little")
    mask = int.from_bytes(b"\xff" * 8 + b"\0" * 8, "little") * _ones(count)
    return lanes.unpack(_mix_lanes(z, mask).to_bytes(16 * count, "little"))


def _ones(count: int) -> int:
    """The lane int with 1 in each of `count` lanes."""
    return int.from_bytes((b"\x01" + b"\0" * 15) * count, "little")


class _Kit(NamedTuple):
    """Precomputed lane ints for one event kind of a chunk (its offsets in the chunk)."""
    offsets: tuple[int, ...]
    ones: int
    mask: int
    packed_offsets: int
    slot_golds: tuple[int, ...]  # (k+1)*GOLD in every lane, per slot k
    unpack: Callable[[bytes], tuple[Any, ...]]


@functools.cache
def _kit(first: int, last: int, slots: int) -> _Kit:
    """The kit for the events with `first <= n mod 50 <= last` and draws 0..slots-1."""
    offsets = tuple(i for i in range(CHUNK) if first <= i % 50 <= last)
    ones = _ones(len(offsets))
    packed = sum(off << 128 * lane for lane, off in enumerate(offsets))
    golds = tuple(((k + 1) * GOLD & M64) * ones for k in range(slots))
    unpack = struct.Struct("<" + "Q8x" * len(offsets)).unpack
    return _Kit(offsets, ones, M64 * ones, packed, golds, unpack)


def _draws(kit: _Kit, seed: int, n0: int) -> list[tuple[int, ...]]:
    """Slot draws r_k(n) for the kit's events of the chunk starting at n0: one tuple per slot,
    one value per event. state(n) = mix(seed*GOLD + n + 1), r_k(n) = mix(state(n) + (k+1)*GOLD)."""
    mask = kit.mask
    start = (seed * GOLD + n0 + 1) & M64
    states = _mix_lanes((start * kit.ones + kit.packed_offsets) & mask, mask)
    size = 16 * len(kit.offsets)
    return [kit.unpack(_mix_lanes((states + gold) & mask, mask).to_bytes(size, "little"))
            for gold in kit.slot_golds]


class Pools(NamedTuple):
    """The per-seed tables: string pools and the 4 + 10,000 channels with their URLs."""
    sp: str  # a..z with about 1 space in 13, for names and texts
    az: str  # a..z only, for `extra`
    channels: tuple[str, ...]  # the 4 hot channels, then channel-0 .. channel-9999
    urls: tuple[str, ...]


def _java_abs_reverse32(i: int) -> int:
    """Java's Math.abs(Integer.reverse(i)): abs(MIN_INT) stays negative."""
    rev = int(f"{i:032b}"[::-1], 2)
    rev = rev - (1 << 32) if rev >= 1 << 31 else rev
    return rev if rev == -(1 << 31) else abs(rev)


def _urls(seed: int, sp: str) -> tuple[str, ...]:
    """base_url(k) for k = 0..10003, plus `&channel_id=` on ~90% of channel-i (k = 4 + i)."""
    count = len(HOT_CHANNELS) + CHANNELS
    states = mix_all([seed * GOLD + (1 << 40) + k + 1 for k in range(count)])
    draws = [mix_all([t + (j + 1) * GOLD for t in states]) for j in range(7)]
    urls = []
    for k in range(count):
        parts = []
        for j in range(3):
            length = 3 + draws[2 * j][k] % 2
            off = draws[2 * j + 1][k] % (POOL - length)
            parts.append(sp[off:off + length].replace(" ", "_"))
        url = "https://www.nexmark.com/{}/{}/{}/item.htm?query=1".format(*parts)
        i = k - len(HOT_CHANNELS)
        if i >= 0 and draws[6][k] % 10 > 0:
            url += f"&channel_id={_java_abs_reverse32(i)}"
        urls.append(url)
    return tuple(urls)


@functools.cache
def pools(seed: int) -> Pools:
    """Build the tables of `seed` once (a pure function of the seed, hence cached)."""
    p = mix(seed * GOLD & M64)
    sp_draws = mix_all([p + (k + 1) * GOLD for k in range(2 * POOL)])
    sp = "".join(" " if sp_draws[2 * i] % 13 == 0 else chr(97 + sp_draws[2 * i + 1] % 26)
                 for i in range(POOL))
    az_draws = mix_all([p + (1_000_000 + i + 1) * GOLD for i in range(POOL)])
    az = "".join(chr(97 + d % 26) for d in az_draws)
    channels = HOT_CHANNELS + tuple(f"channel-{i}" for i in range(CHANNELS))
    return Pools(sp, az, channels, _urls(seed, sp))


def _text(sp: str, length_draw: int, offset_draw: int, lo: int, hi: int) -> str:
    """A string of length lo..hi-1 cut from SP, spaces stripped at the ends."""
    length = lo + length_draw % (hi - lo)
    off = offset_draw % (POOL - length)
    return sp[off:off + length].strip(" ")


def _extra(az: str, length_draw: int, offset_draw: int, cur: int, avg: int) -> str:
    """Padding that brings a record of `cur` bytes to `avg` on average."""
    if cur > avg:
        return ""
    d = avg - cur
    delta = (d + 2) // 5
    length = d - delta + (length_draw % (2 * delta) if delta > 0 else 0)
    off = offset_draw % (POOL - length)
    return az[off:off + length]


def _price(r: int) -> int:
    """Log-uniform price in cents: floor(10^(6 F(r)) * 100 + 0.5)."""
    return int(10.0 ** ((r >> 11) * PRICE_EXP) * 100 + 0.5)


def _next_person(e: int, r: int) -> int:
    """One of the last 1,000 persons or up to 10 not created yet (base-0 id)."""
    active = min(e + 1, ACTIVE_PEOPLE)
    return e + 1 - active + r % (active + LEAD)


def _persons(pool: Pools, seed: int, n0: int, rate: int, base_ms: int) -> list[Event]:
    """The person events (n mod 50 = 0) of the chunk starting at n0."""
    kit, sp, rows = _kit(0, 0, 14), pool.sp, []
    for off, *r in zip(kit.offsets, *_draws(kit, seed, n0), strict=True):
        n = n0 + off
        name = f"{FIRST_NAMES[r[0] % 11]} {LAST_NAMES[r[1] % 9]}"
        email = f"{_text(sp, r[2], r[3], 3, 7)}@{_text(sp, r[4], r[5], 3, 5)}.com"
        card = " ".join(f"{g % 10_000:04d}" for g in r[6:10])
        city, state = CITIES[r[10] % 10], STATES[r[11] % 6]
        cur = 8 + len(name) + len(email) + len(card) + len(city) + len(state)
        rows.append(("person", {
            "id": n // 50 + FIRST_ID, "name": name, "email_address": email,
            "credit_card": card, "city": city, "state": state,
            "date_time": base_ms + n * 1000 // rate,
            "extra": _extra(pool.az, r[12], r[13], cur, 200), "event_id": n}))
    return rows


def _auctions(pool: Pools, seed: int, n0: int, rate: int, base_ms: int) -> list[Event]:
    """The auction events (n mod 50 in 1..3) of the chunk starting at n0."""
    kit, sp, rows = _kit(1, 3, 12), pool.sp, []
    for off, *r in zip(kit.offsets, *_draws(kit, seed, n0), strict=True):
        n = n0 + off
        e = n // 50
        seller = e // 100 * 100 if r[0] % 4 > 0 else _next_person(e, r[1])
        t = base_ms + n * 1000 // rate
        horizon = base_ms + (n + HORIZON) * 1000 // rate - t
        initial_bid = _price(r[3])
        item, desc = _text(sp, r[5], r[6], 3, 20), _text(sp, r[7], r[8], 3, 100)
        rows.append(("auction", {
            "id": 3 * e + n % 50 - 1 + FIRST_ID, "item_name": item, "description": desc,
            "initial_bid": initial_bid, "reserve": initial_bid + _price(r[9]),
            "date_time": t, "expires": t + 1 + r[4] % max(2 * horizon, 1),
            "seller": seller + FIRST_ID, "category": 10 + r[2] % 5,
            "extra": _extra(pool.az, r[10], r[11], 8 + len(item) + len(desc) + 40, 500),
            "event_id": n}))
    return rows


def _bids(pool: Pools, seed: int, n0: int, rate: int, base_ms: int) -> list[Event]:
    """The bid events (n mod 50 in 4..49) of the chunk starting at n0; per block of 50 events
    the hot keys and the ranges of random picks are fixed, so they are set once per block."""
    kit, az, channels, urls, rows = _kit(4, 49, 9), pool.az, pool.channels, pool.urls, []
    lanes = zip(kit.offsets, *_draws(kit, seed, n0), strict=True)
    for e in range(n0 // 50, (n0 + CHUNK) // 50):
        last_auction = 3 * e + 2
        hot_auction = last_auction // 100 * 100 + FIRST_ID
        low_auction = max(last_auction - IN_FLIGHT, 0)
        auction_span = last_auction - low_auction + 1 + LEAD
        low_auction += FIRST_ID
        hot_bidder = e // 100 * 100 + 1 + FIRST_ID
        active = min(e + 1, ACTIVE_PEOPLE)
        low_person = e + 1 - active + FIRST_ID
        for off, r0, r1, r2, r3, r4, r5, r6, r7, r8 in islice(lanes, 46):
            n = n0 + off
            channel = r6 & 3 if r5 & 1 else 4 + r6 % CHANNELS
            length = BID_PAD - BID_DELTA + r7 % (2 * BID_DELTA)
            start = r8 % (POOL - length)
            rows.append(("bid", {
                "auction": hot_auction if r0 & 1 else low_auction + r1 % auction_span,
                "bidder": hot_bidder if r2 & 3 else low_person + r3 % (active + LEAD),
                "price": int(10.0 ** ((r4 >> 11) * PRICE_EXP) * 100 + 0.5),
                "channel": channels[channel], "url": urls[channel],
                "date_time": base_ms + n * 1000 // rate,
                "extra": az[start:start + length], "event_id": n}))
    return rows


def generate(count: int, seed: int = 42, rate: int = 10_000,
             base_ms: int = BASE_MS) -> Iterator[Event]:
    """Yield (kind, row) for events n = 0..count-1 in order; kind is person, auction or bid."""
    if count < 0 or rate <= 0:
        raise ValueError(f"need count >= 0 and rate > 0, got {count}, {rate}")
    pool = pools(seed)
    for n0 in range(0, count, CHUNK):
        persons = _persons(pool, seed, n0, rate, base_ms)
        auctions = _auctions(pool, seed, n0, rate, base_ms)
        bids = _bids(pool, seed, n0, rate, base_ms)
        events: list[Event] = []
        for b in range(CHUNK // 50):  # the type pattern: P A A A B x 46
            events.append(persons[b])
            events += auctions[3 * b:3 * b + 3]
            events += bids[46 * b:46 * b + 46]
        yield from events[:count - n0] if count - n0 < CHUNK else events


def write(directory: Path, count: int, seed: int = 42, rate: int = 10_000,
          batch: int = 10_000) -> dict[str, int]:
    """Write person.jsonl, auction.jsonl and bid.jsonl (one JSON object per line, in event
    order) into `directory`, encoding `batch` rows at a time; return rows per kind."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    encode_lines = msgspec.json.Encoder().encode_lines
    kinds = ("person", "auction", "bid")
    counts = dict.fromkeys(kinds, 0)
    buffers: dict[str, list[Row]] = {kind: [] for kind in kinds}
    files = {kind: (directory / f"{kind}.jsonl").open("wb") for kind in kinds}
    try:
        for kind, row in generate(count, seed, rate):
            buffer = buffers[kind]
            buffer.append(row)
            if len(buffer) >= batch:
                files[kind].write(encode_lines(buffer))
                counts[kind] += len(buffer)
                buffer.clear()
        for kind, buffer in buffers.items():
            files[kind].write(encode_lines(buffer))
            counts[kind] += len(buffer)
    finally:
        for file in files.values():
            file.close()
    return counts


def main(argv: list[str] | None = None) -> None:
    """Command line: generate N events into DIR and print the counts and the speed."""
    parser = argparse.ArgumentParser(description="Write NX-lite v1 Nexmark events as JSON lines.")
    parser.add_argument("--events", type=int, required=True, help="number of events N")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rate", type=int, default=10_000, help="events per second of event time")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = write(args.out, args.events, args.seed, args.rate)
    elapsed = time.perf_counter() - started
    print(" ".join(f"{kind}={rows:,}" for kind, rows in counts.items()),
          f"in {elapsed:.2f} s ({args.events / max(elapsed, 1e-9):,.0f} events/s) -> {args.out}")


if __name__ == "__main__":
    main()
