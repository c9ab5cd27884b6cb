"""Stateless throughput: a Shoal filter -> map -> to pipeline against the loop a Python
programmer would write by hand, both reading and writing the same embedded log.

    .venv/bin/python -m benchmarks.stateless [--events N] [--data-dir DIR] [--seed S]

N JSON buys (about half priced above 50) are produced once into `buys` (4 partitions,
keyed by order_id); that part is not timed. Then each contender, on a freshly opened log,
keeps the buys above 50, adds 20% tax and writes the results with their keys to its own
topic. Both outputs must hold the same records, or the run exits with status 1.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import msgspec

from benchmarks.common import bench_main, compare_topics, timed
from engine import Pipeline, plan
from engine.api import OutRecord
from engine.runtime import Worker, WorkerConfig
from engine.transport import EmbeddedLog

SOURCE, SHOAL_OUT, HAND_OUT = "buys", "buys.taxed", "buys.taxed.hand"
PARTITIONS = 4
CHUNK = 10_000
TARGET_RATE, TARGET_RATIO = 120_000, 0.6
PRODUCTS = ("apple", "banana", "cherry", "date", "fig", "grape", "kiwi", "lemon", "mango")


class Buy(msgspec.Struct):
    """One purchase, as produced into `buys`."""

    order_id: str
    product: str
    price: float
    ts: int


class Taxed(msgspec.Struct):
    """A purchase with its tax and total."""

    order_id: str
    product: str
    price: float
    tax: float
    total: float
    ts: int


def add_tax(b: Buy) -> Taxed:
    """The map: 20% tax, rounded to cents."""
    tax = round(b.price * 0.2, 2)
    return Taxed(b.order_id, b.product, b.price, tax, round(b.price + tax, 2), b.ts)


def generate(n: int, seed: int) -> Iterator[OutRecord]:
    """`n` deterministic buy records (key, JSON value, timestamp, headers)."""
    rng = random.Random(seed)
    encode = msgspec.json.Encoder().encode
    ts = 1_700_000_000_000
    for i in range(n):
        ts += rng.randrange(20)
        buy = Buy(f"order-{i:08d}", rng.choice(PRODUCTS), round(rng.uniform(1.0, 100.0), 2), ts)
        yield buy.order_id.encode(), encode(buy), ts, None


async def produce_input(log: EmbeddedLog, n: int, seed: int) -> None:
    """Create the topics and write the input in chunks of CHUNK records."""
    await log.create_topic(SOURCE, PARTITIONS)
    await log.create_topic(HAND_OUT, PARTITIONS)
    records = generate(n, seed)
    while chunk := list(islice(records, CHUNK)):
        await log.produce(SOURCE, chunk)


def run_shoal(log: EmbeddedLog) -> int:
    """The pipeline under test, run until caught up; returns the number of outputs."""
    p = Pipeline("bench")
    (p.stream(SOURCE, value=Buy, key="order_id", time="ts")
     .filter(lambda b: b.price > 50).map(add_tax).to(SHOAL_OUT))
    worker = Worker(plan(p), log, WorkerConfig(until_caught_up=True))
    stats = asyncio.run(worker.run())
    return stats.out.get(SHOAL_OUT, 0)


async def hand_written(log: EmbeddedLog) -> int:
    """Read each partition in chunks, decode, filter, enrich, encode, and write the outputs
    in batches of CHUNK records (each `produce` is one RocksDB WriteBatch)."""
    decode = msgspec.json.Decoder(Buy).decode
    encode = msgspec.json.Encoder().encode
    produce = log.produce
    out: list[OutRecord] = []
    append = out.append
    written = 0
    for partition in range(PARTITIONS):
        tp = (SOURCE, partition)
        offset = 0
        while records := await log.read(tp, offset, CHUNK):
            for _, key, raw, _, _ in records:
                buy = decode(raw)  # type: ignore[arg-type]
                if buy.price > 50:
                    append((key, encode(add_tax(buy)), buy.ts, None))
                    if len(out) == CHUNK:
                        await produce(HAND_OUT, out)
                        written += CHUNK
                        out.clear()
            offset = records[-1][0] + 1
    if out:
        await produce(HAND_OUT, out)
        written += len(out)
    return written


def bench(data: Path, n: int, seed: int) -> int:
    """Produce, time both contenders, check their outputs and print the figures."""
    log = EmbeddedLog(data)
    asyncio.run(produce_input(log, n, seed))
    asyncio.run(log.close())
    shoal_s, shoal_n = timed(data, run_shoal)
    hand_s, hand_n = timed(data, lambda log: asyncio.run(hand_written(log)))
    equal, stored_shoal, stored_hand = compare_topics(data, SHOAL_OUT, HAND_OUT)
    shoal_rate, hand_rate = n / shoal_s, n / hand_s
    ratio = shoal_rate / hand_rate
    met = shoal_rate >= TARGET_RATE and ratio >= TARGET_RATIO
    print("stateless: filter(price > 50) -> map(add_tax) -> to(topic), embedded log")
    print(f"  cores           {os.cpu_count():>12}")
    print(f"  events (N)      {n:>12,}")
    print(f"  shoal           {shoal_rate:>12,.0f} events/s  {shoal_s:7.2f} s  "
          f"{shoal_n:>10,} outputs")
    print(f"  hand-written    {hand_rate:>12,.0f} events/s  {hand_s:7.2f} s  "
          f"{hand_n:>10,} outputs")
    print(f"  ratio           {ratio:>12.2f}  (shoal / hand-written)")
    print(f"  outputs equal   {'yes' if equal else 'NO':>12}  "
          f"({stored_shoal:,} vs {stored_hand:,} stored records)")
    print(f"  target          >= {TARGET_RATE:,} events/s and ratio >= {TARGET_RATIO}: "
          f"{'met' if met else 'NOT met'}")
    return 0 if equal and shoal_n == hand_n == stored_shoal else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run in the given or a temporary data dir, and clean up."""
    return bench_main("python -m benchmarks.stateless", __doc__, bench, argv)


if __name__ == "__main__":
    sys.exit(main())
