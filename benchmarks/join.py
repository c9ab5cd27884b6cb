"""Stream-stream join throughput: buys joined with their shipments within 1 hour, Shoal
against a hand-written loop with durable buffers, both reading and writing the same
embedded log.

    .venv/bin/python -m benchmarks.join [--events N] [--data-dir DIR] [--seed S]

N JSON buys (event times 1-6 ms apart) and N JSON shipments (each 0-30 minutes after its
buy, in event-time order) are produced once into `buys` and `shipped` (4 partitions each,
keyed by order_id, record timestamp = event time); that part is not timed. Each contender,
on a freshly opened log, joins every buy with the shipments of its order within
[buy, buy + 1 h] (inner join, grace 0). The hand-written loop merges partition p of both
topics by timestamp, keeps dict buffers per side and order_id, expires entries once stream
time passes their window, and commits each chunk's outputs, buffer changes, stream time
and positions in one RocksDB WriteBatch, as Shoal does. Both outputs must hold the same
(key, value) records, one per buy, or the exit status is 1.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import msgspec

from benchmarks.common import bench_main, compare_topics, timed
from benchmarks.stateless import CHUNK, PARTITIONS
from engine import Pipeline, plan
from engine.api import OutRecord
from engine.runtime import Worker, WorkerConfig
from engine.state import RocksBackend
from engine.transport import CommitBatch, EmbeddedLog, StateWrite

BUYS, SHIPPED = "buys", "shipped"
SHOAL_OUT, HAND_OUT = "buys.shipped", "buys.shipped.hand"
JOIN, HAND_STORE, GROUP = "buy-shipped", "hand.buy-shipped", "hand"
WITHIN = 3_600_000  # a shipment joins its buy when buy.ts <= shipped.ts <= buy.ts + 1 h
SHIP_DELAY = 1_800_000  # shipments come 0-30 minutes after their buy
TARGET_RATE, TARGET_RATIO = 50_000, 0.5
CUSTOMERS = tuple(f"customer-{i:04d}" for i in range(1000))
STREAM_TIME = b"\xffstream-time"
LEFT, RIGHT = 0, 1


class Buy(msgspec.Struct):
    """One purchase, as produced into `buys`."""

    order_id: str
    customer: str
    price: float
    ts: int


class Shipped(msgspec.Struct):
    """One shipment, as produced into `shipped`."""

    order_id: str
    ts: int


class Joined(msgspec.Struct):
    """A buy with the time it shipped."""

    order_id: str
    customer: str
    price: float
    bought: int
    shipped: int


def joined(buy: Buy, shipped: Shipped) -> Joined:
    """The joiner of both contenders."""
    return Joined(buy.order_id, buy.customer, buy.price, buy.ts, shipped.ts)


def generate(n: int, seed: int) -> tuple[list[OutRecord], list[OutRecord]]:
    """`n` deterministic buys and their `n` shipments, each sorted by event time."""
    rng = random.Random(seed)
    encode = msgspec.json.Encoder().encode
    buys: list[OutRecord] = []
    shipped: list[tuple[int, bytes]] = []
    ts = 1_700_000_000_000
    for i in range(n):
        ts += rng.randrange(1, 7)
        buy = Buy(f"order-{i:08d}", rng.choice(CUSTOMERS), round(rng.uniform(1.0, 100.0), 2), ts)
        key = buy.order_id.encode()
        buys.append((key, encode(buy), ts, None))
        shipped.append((ts + rng.randrange(SHIP_DELAY + 1), key))
    shipped.sort()
    return buys, [(key, encode(Shipped(key.decode(), t)), t, None) for t, key in shipped]


async def produce_input(log: EmbeddedLog, n: int, seed: int) -> None:
    """Create the topics and write the input in chunks of CHUNK records."""
    for topic in (BUYS, SHIPPED, HAND_OUT):
        await log.create_topic(topic, PARTITIONS)
    for topic, records in zip((BUYS, SHIPPED), generate(n, seed), strict=True):
        it: Iterator[OutRecord] = iter(records)
        while chunk := list(islice(it, CHUNK)):
            await log.produce(topic, chunk)


def pipeline() -> Pipeline:
    """Buys joined with their shipments within [buy, buy + 1 h], to a topic."""
    p = Pipeline("join")
    buys = p.stream(BUYS, value=Buy, key="order_id", time="ts")
    shipped = p.stream(SHIPPED, value=Shipped, key="order_id", time="ts")
    buys.join(shipped, joined, before=0, after=WITHIN, how="inner", name=JOIN).to(SHOAL_OUT)
    return p


def run_shoal(log: EmbeddedLog) -> tuple[int, int]:
    """The pipeline under test, run until caught up; returns (outputs, dead letters)."""
    worker = Worker(plan(pipeline()), log, WorkerConfig(until_caught_up=True),
                    backends=lambda name: RocksBackend(log.column_family(name)))
    stats = asyncio.run(worker.run())
    return stats.out.get(SHOAL_OUT, 0), stats.dead_lettered


async def hand_written(log: EmbeddedLog) -> tuple[int, int]:
    """Per partition, merge both topics by timestamp, join against dict buffers, and commit
    each chunk's outputs, buffer changes, stream time and positions in one WriteBatch.
    Returns (outputs, late records dropped)."""
    decoders = (msgspec.json.Decoder(Buy).decode, msgspec.json.Decoder(Shipped).decode)
    encode = msgspec.json.Encoder().encode
    pack = msgspec.msgpack.encode
    reach = (WITHIN, 0)  # how far past its own time a record can still meet a partner
    written = late = 0
    for partition in range(PARTITIONS):
        prefix = partition.to_bytes(4, "big")
        tps = ((BUYS, partition), (SHIPPED, partition))
        offsets, done = [0, 0], [False, False]
        chunks: list[list[tuple[int, bytes | None, bytes | None, int, object]]] = [[], []]
        at = [0, 0]
        # per side: order_id -> [(ts, raw value, decoded)], and (expires at, order_id) FIFO
        buffers: tuple[dict[bytes, list[tuple[int, bytes, object]]], ...] = ({}, {})
        expiry: tuple[deque[tuple[int, bytes]], ...] = (deque(), deque())
        stream_time = -(1 << 62)
        while True:
            for side in (LEFT, RIGHT):
                if at[side] >= len(chunks[side]) and not done[side]:
                    chunks[side] = await log.read(tps[side], offsets[side], CHUNK)
                    at[side] = 0
                    done[side] = not chunks[side]
            if done[LEFT] and done[RIGHT]:
                break
            out: list[OutRecord] = []
            dirty: set[tuple[int, bytes]] = set()
            for _ in range(CHUNK):
                left, right = chunks
                il, ir = at
                if il < len(left):
                    side = RIGHT if ir < len(right) and right[ir][3] < left[il][3] else LEFT
                elif ir < len(right):
                    side = RIGHT
                else:
                    break
                if not done[1 - side] and at[1 - side] >= len(chunks[1 - side]):
                    break  # the other side needs a refill before we can merge on
                offset, key, raw, ts, _ = chunks[side][at[side]]
                at[side] += 1
                offsets[side] = offset + 1
                assert key is not None and raw is not None
                if ts > stream_time:
                    stream_time = ts
                if ts + reach[side] < stream_time:
                    late += 1
                else:
                    value = decoders[side](raw)
                    lo, hi = (ts, ts + WITHIN) if side == LEFT else (ts - WITHIN, ts)
                    for t, _, partner in buffers[1 - side].get(key, ()):
                        if lo <= t <= hi:
                            pair = (value, partner) if side == LEFT else (partner, value)
                            out.append((key, encode(joined(*pair)), ts, None))
                    buffers[side].setdefault(key, []).append((ts, raw, value))
                    expiry[side].append((ts + reach[side], key))
                    dirty.add((side, key))
                for s in (LEFT, RIGHT):
                    queue = expiry[s]
                    while queue and queue[0][0] < stream_time:
                        k = queue.popleft()[1]
                        entries = buffers[s].get(k)
                        if entries is None:
                            continue  # an earlier expiry of this key purged it all
                        kept = [e for e in entries if e[0] + reach[s] >= stream_time]
                        if kept:
                            buffers[s][k] = kept
                        else:
                            del buffers[s][k]
                        dirty.add((s, k))
            changes: list[tuple[bytes, bytes | None]] = []
            for s, k in dirty:
                entries = buffers[s].get(k)
                changes.append((prefix + bytes((s,)) + k, None if entries is None
                                else pack([[t, r] for t, r, _ in entries])))
            changes.append((prefix + STREAM_TIME, pack(stream_time)))
            positions = {tps[LEFT]: offsets[LEFT], tps[RIGHT]: offsets[RIGHT]}
            await log.commit(GROUP, CommitBatch(
                outputs=[(HAND_OUT, None, out)], positions=positions,
                state=[StateWrite(HAND_STORE, partition, changes, 0)]))
            written += len(out)
    return written, late


def bench(data: Path, n: int, seed: int) -> int:
    """Produce, run both contenders, check and print the figures."""
    log = EmbeddedLog(data)
    asyncio.run(produce_input(log, n, seed))
    asyncio.run(log.close())
    shoal_s, (shoal_n, dead) = timed(data, run_shoal)
    hand_s, (hand_n, dropped) = timed(data, lambda log: asyncio.run(hand_written(log)))
    equal, shoal_total, hand_total = compare_topics(data, SHOAL_OUT, HAND_OUT)
    inputs = 2 * n
    shoal_rate, hand_rate = inputs / shoal_s, inputs / hand_s
    ratio = shoal_rate / hand_rate
    met = shoal_rate >= TARGET_RATE and ratio >= TARGET_RATIO
    ok = (equal and dead == 0 and dropped == 0
          and shoal_n == hand_n == shoal_total == hand_total == n)
    print(f"join: buys ⋈ shipped within [0, {WITHIN // 60_000} min] (inner), shipments "
          f"0-{SHIP_DELAY // 60_000} min after the buy, embedded log")
    print(f"  cores           {os.cpu_count():>12}")
    print(f"  buys (N)        {n:>12,}   + {n:,} shipped = {inputs:,} input events "
          f"({PARTITIONS} partitions)")
    print(f"  shoal           {shoal_rate:>12,.0f} events/s  {shoal_s:7.2f} s  "
          f"{shoal_n:>10,} outputs  {dead} dead letters")
    print(f"  hand-written    {hand_rate:>12,.0f} events/s  {hand_s:7.2f} s  "
          f"{hand_n:>10,} outputs  {dropped} late")
    print(f"  ratio           {ratio:>12.2f}  (shoal / hand-written)")
    print(f"  equal           outputs {'yes' if equal else 'NO'} ({shoal_total:,} vs "
          f"{hand_total:,} records, expected {n:,})")
    print(f"  target          >= {TARGET_RATE:,} events/s and ratio >= {TARGET_RATIO}: "
          f"{'met' if met else 'NOT met'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments (--events defaults to 500,000 buys), run in the given or a
    temporary data dir, and clean up."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--events" or a.startswith("--events=") for a in args):
        args = ["--events", "500000", *args]
    return bench_main("python -m benchmarks.join", __doc__, bench, args)


if __name__ == "__main__":
    sys.exit(main())
