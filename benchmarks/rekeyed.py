"""A key_by before a window: the cost of the repartition and of the event-time merge of its
writers, on the embedded log.

    .venv/bin/python -m benchmarks.rekeyed [--events N] [--data-dir DIR] [--seed S]

The windows benchmark's N buys (50 products, times a few ms apart, +-20 ms jitter) are
produced once into `buys` keyed by order id (4 partitions); that part is not timed. Shoal
then re-keys them by product (`key_by`, through a 4-partition repartition topic that all
4 source tasks write) into 1-minute tumbling windows with count and sum(price), emitting
every update. For scale, the windows benchmark's pipeline runs on the same buys produced
keyed by product (no repartition). The re-keyed table must equal a brute-force fold of the
input (grace 1 s covers the jitter: no record may be late, whatever the partitioning), or
the exit status is 1.
"""

from __future__ import annotations

import asyncio
import os
import sys
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.common import bench_main, timed
from benchmarks.stateless import CHUNK, PARTITIONS, SOURCE, Buy
from benchmarks.windows import COUNT_SUM, GRACE, SIZE, TABLE, generate
from benchmarks.windows import pipeline as keyed_pipeline
from engine import Pipeline, plan, windows
from engine.query import table_views
from engine.runtime import Worker, WorkerConfig
from engine.state import RocksBackend
from engine.transport import EmbeddedLog, read_partitions

BY_ORDER = "buys.by-order"


async def produce_input(log: EmbeddedLog, n: int, seed: int) -> None:
    """The same buys twice: keyed by product into `buys`, by order id into BY_ORDER."""
    for topic in (SOURCE, BY_ORDER):
        await log.create_topic(topic, PARTITIONS)
    for topic, by_order in ((SOURCE, False), (BY_ORDER, True)):
        records = generate(n, seed, by_order)
        while chunk := list(islice(records, CHUNK)):
            await log.produce(topic, chunk)


def pipeline() -> Pipeline:
    """Buys keyed by order, re-keyed by product, counted and summed per 1-minute window."""
    p = Pipeline("rekeyed")
    (p.stream(BY_ORDER, value=Buy, key="order_id", time="ts")
     .key_by(lambda b: b.product, name="by-product")
     .window(windows.tumbling(minutes=1), grace=GRACE)
     .aggregate(COUNT_SUM, name=TABLE).to_stream().to("buys.rekeyed.windows"))
    return p


def run(log: EmbeddedLog, p: Pipeline) -> tuple[int, int]:
    """Run `p` until caught up; (records written to its output topics, dead letters)."""
    worker = Worker(plan(p), log, WorkerConfig(until_caught_up=True),
                    backends=lambda name: RocksBackend(log.column_family(name)))
    stats = asyncio.run(worker.run())
    return sum(n for topic, n in stats.out.items() if not topic.endswith("dlq")), \
        stats.dead_lettered


def run_shoal(log: EmbeddedLog) -> tuple[int, int]:
    """The re-keyed pipeline (the contender under test)."""
    return run(log, pipeline())


async def reference(log: EmbeddedLog) -> dict[tuple[str, int], Any]:
    """Brute force: every buy folded into its (product, window start)."""
    decode = msgspec.json.Decoder(Buy).decode
    table: dict[tuple[str, int], Any] = {}
    for records in await read_partitions(log, SOURCE):
        for _, _, raw, _, _ in records:
            buy = decode(raw)  # type: ignore[arg-type]
            k = (buy.product, buy.ts - buy.ts % SIZE)
            table[k] = COUNT_SUM.add(table.get(k, COUNT_SUM.initial()), buy)
    return table


def rounded(acc: Any) -> tuple[int, float]:
    """(count, sum) with the sum rounded to cents: floats added in another order differ in
    their last bits."""
    return acc[0], round(acc[1], 2)


async def verify(data: Path) -> tuple[bool, int]:
    """The re-keyed table (queried) against the brute-force fold; (equal, rows)."""
    log = EmbeddedLog(data, read_only=True)
    try:
        views = table_views(plan(pipeline()), await log.topics(),
                            lambda name: RocksBackend(log.column_family(name)))
        got = {(w.key, w.start): rounded(w.value) for _, w in views[TABLE].items()}
        want = {k: rounded(v) for k, v in (await reference(log)).items()}
        return got == want, len(want)
    finally:
        await log.close()


def bench(data: Path, n: int, seed: int) -> int:
    """Produce, run both pipelines and print the figures."""
    log = EmbeddedLog(data)
    asyncio.run(produce_input(log, n, seed))
    asyncio.run(log.close())
    rekeyed_s, (rekeyed_n, dead) = timed(data, run_shoal)
    keyed_s, (keyed_n, keyed_dead) = timed(data, lambda log: run(log, keyed_pipeline(
        "updates")))
    equal, rows = asyncio.run(verify(data))
    print("rekeyed: buys keyed by order -> key_by(product) -> 1-minute tumbling "
          f"count+sum(price), grace {GRACE} ms, emit updates, embedded log")
    print(f"  cores           {os.cpu_count():>12}")
    print(f"  events (N)      {n:>12,}   ({PARTITIONS} partitions -> {PARTITIONS} "
          "repartition partitions)")
    print(f"  key_by+window   {n / rekeyed_s:>12,.0f} events/s  {rekeyed_s:7.2f} s  "
          f"{rekeyed_n:>10,} outputs  {dead} dead letters")
    print(f"  window only     {n / keyed_s:>12,.0f} events/s  {keyed_s:7.2f} s  "
          f"{keyed_n:>10,} outputs  {keyed_dead} dead letters  (input keyed by product)")
    print(f"  ratio           {keyed_s / rekeyed_s:>12.2f}  (key_by+window / window only)")
    print(f"  equal           table {'yes' if equal else 'NO'} ({rows:,} (product, window) "
          "rows against a brute-force fold)")
    return 0 if equal and dead == 0 and rekeyed_n == n else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run in the given or a temporary data dir, and clean up."""
    return bench_main("python -m benchmarks.rekeyed", __doc__, bench, argv)


if __name__ == "__main__":
    sys.exit(main())
