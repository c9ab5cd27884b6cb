"""Windowed aggregation throughput: per product, count and sum(price) in 1-minute tumbling
event-time windows, Shoal against a hand-written loop with durable state, both reading and
writing the same embedded log. (Also: --modes updates,final picks the emit modes to run;
--shoal-only runs Shoal alone, unchecked, for its own peak RSS.)

    .venv/bin/python -m benchmarks.windows [--events N] [--keys K] [--data-dir DIR] [--seed S]
                                           [--modes updates,final] [--shoal-only]

N JSON buys (K products, default 50; event times a few ms apart with +-20 ms jitter) are
produced once
into `buys` (4 partitions, keyed by product); that part is not timed. Each emit mode is run
by both contenders on a freshly opened log: 'updates' writes one result per input, 'final'
one per window once stream time passes its end plus grace. The hand-written loop keeps a
dict {(product, window start): (count, sum)} and commits each chunk's outputs, changed
entries, stream time and position in one RocksDB WriteBatch, as Shoal does. Shoal's queried
table must equal the dict and both output topics must match, or the exit status is 1. The peak
resident memory of each contender's run is printed. --shoal-only runs Shoal alone, one
mode, unchecked: its peak RSS then owes nothing to an earlier contender's leftovers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.common import bench_main, contents, measured
from benchmarks.stateless import CHUNK, PARTITIONS, SOURCE, Buy
from engine import Pipeline, aggregators, plan, windows
from engine.api import OutRecord
from engine.query import table_views
from engine.runtime import Worker, WorkerConfig
from engine.state import RocksBackend
from engine.transport import CommitBatch, EmbeddedLog, StateWrite

MODES = ("updates", "final")
TABLE, HAND_STORE = "per-product", "hand.per-product"
SIZE, GRACE, JITTER = windows.minutes(1), windows.seconds(1), 20
TARGET_RATE, TARGET_RATIO = 80_000, 0.5
KEYS = 50
STREAM_TIME = b"\xffstream-time"
Acc = tuple[int, float]
Windows = dict[tuple[str, int], Acc]


def add(acc: Acc, buy: Buy) -> Acc:
    """count + 1, sum + price."""
    return acc[0] + 1, acc[1] + buy.price


COUNT_SUM = aggregators.Aggregator(lambda: (0, 0.0), add, label="count+sum(price)")


def products(keys: int) -> tuple[str, ...]:
    """The product names of a run with `keys` products."""
    return tuple(f"sku-{i:03d}" for i in range(keys))


def generate(n: int, seed: int, by_order: bool = False, keys: int = KEYS
             ) -> Iterator[OutRecord]:
    """`n` deterministic buys of `keys` products keyed by product (or order id), 1-6 ms
    apart, each jittered by +-JITTER ms."""
    rng = random.Random(seed)
    names = products(keys)
    encode = msgspec.json.Encoder().encode
    base = 1_700_000_000_000
    for i in range(n):
        base += rng.randrange(1, 7)
        ts = base + rng.randrange(-JITTER, JITTER + 1)
        buy = Buy(f"order-{i:08d}", rng.choice(names), round(rng.uniform(1.0, 100.0), 2), ts)
        yield (buy.order_id if by_order else buy.product).encode(), encode(buy), ts, None


async def produce_input(log: EmbeddedLog, n: int, seed: int, keys: int = KEYS) -> None:
    """Create the topics and write the input in chunks of CHUNK records."""
    await log.create_topic(SOURCE, PARTITIONS)
    for mode in MODES:
        await log.create_topic(f"buys.windows.{mode}.hand", PARTITIONS)
    records = generate(n, seed, keys=keys)
    while chunk := list(islice(records, CHUNK)):
        await log.produce(SOURCE, chunk)


def pipeline(mode: str) -> Pipeline:
    """Per product: count and sum(price) per 1-minute tumbling window, changes to a topic."""
    p = Pipeline(f"windows-{mode}")
    (p.stream(SOURCE, value=Buy, key="product", time="ts")
     .window(windows.tumbling(minutes=1), grace=GRACE, emit=mode)
     .aggregate(COUNT_SUM, name=TABLE).to_stream().to(f"buys.windows.{mode}"))
    return p


def run_shoal(log: EmbeddedLog, mode: str) -> tuple[int, int]:
    """The pipeline under test, run until caught up; returns (outputs, dead letters)."""
    worker = Worker(plan(pipeline(mode)), log, WorkerConfig(until_caught_up=True),
                    backends=lambda name: RocksBackend(log.column_family(name)))
    stats = asyncio.run(worker.run())
    return stats.out.get(f"buys.windows.{mode}", 0), stats.dead_lettered


async def hand_written(log: EmbeddedLog, mode: str) -> tuple[int, Windows]:
    """Read each partition in chunks, decode, fold into a dict, and commit each chunk's
    outputs, changed entries, stream time and position in one WriteBatch; the outputs
    written and the dict."""
    state: Windows = {}
    final = mode == "final"
    decode = msgspec.json.Decoder(Buy).decode
    encode = msgspec.json.Encoder().encode
    pack = msgspec.msgpack.encode
    topic, written = f"buys.windows.{mode}.hand", 0
    for partition in range(PARTITIONS):
        tp, prefix = (SOURCE, partition), partition.to_bytes(4, "big")
        stream_time, offset = -(1 << 62), 0
        open_windows: dict[int, list[str]] = {}  # final: start -> products, not emitted yet
        closes_at = 1 << 62  # final: stream time at which the oldest open window closes
        while records := await log.read(tp, offset, CHUNK):
            out: list[OutRecord] = []
            dirty: set[tuple[str, int]] = set()
            for _, key, raw, _, _ in records:
                buy = decode(raw)  # type: ignore[arg-type]
                ts = buy.ts
                if ts > stream_time:
                    stream_time = ts
                    if stream_time >= closes_at:
                        for start in sorted(open_windows):
                            if stream_time < start + SIZE + GRACE:
                                break
                            for product in open_windows.pop(start):
                                out.append((product.encode(), encode(
                                    {"key": product, "start": start, "end": start + SIZE,
                                     "value": state[product, start]}), stream_time, None))
                        closes_at = min(open_windows, default=1 << 62) + SIZE + GRACE
                start = ts - ts % SIZE
                if stream_time >= start + SIZE + GRACE:
                    continue  # late: every window of this record has closed
                k = (buy.product, start)
                acc = state.get(k)
                if acc is None:
                    acc = (1, 0.0 + buy.price)
                    if final:
                        open_windows.setdefault(start, []).append(buy.product)
                        closes_at = min(closes_at, start + SIZE + GRACE)
                else:
                    acc = (acc[0] + 1, acc[1] + buy.price)
                state[k] = acc
                dirty.add(k)
                if not final:
                    out.append((key, encode({"key": buy.product, "start": start,
                                             "end": start + SIZE, "value": acc}), ts, None))
            changes: list[tuple[bytes, bytes | None]] = [
                (prefix + p.encode() + b"\0" + s.to_bytes(8, "big"), pack(state[p, s]))
                for p, s in dirty]
            changes.append((prefix + STREAM_TIME, pack(stream_time)))
            offset = records[-1][0] + 1
            await log.commit("hand", CommitBatch(
                outputs=[(topic, None, out)], positions={tp: offset},
                state=[StateWrite(HAND_STORE, partition, changes, 0)]))
            written += len(out)
    return written, state


@dataclass
class Figures:
    """One emit mode: both contenders' times and outputs, and the checks."""

    shoal_s: float
    shoal_n: int
    dead: int
    shoal_mb: float
    hand_s: float
    hand_n: int
    hand_mb: float
    windows: int = 0
    tables_equal: bool = False
    outputs_equal: bool = False


def contend(data: Path, mode: str) -> Figures:
    """Time Shoal, then the loop, and check them against each other."""
    shoal_s, (shoal_n, dead), shoal_mb = measured(data, lambda log: run_shoal(log, mode))
    hand_s, (hand_n, state), hand_mb = measured(
        data, lambda log: asyncio.run(hand_written(log, mode)))
    figures = Figures(shoal_s, shoal_n, dead, shoal_mb, hand_s, hand_n, hand_mb, len(state))
    asyncio.run(verify(data, mode, state, figures))
    return figures


async def verify(data: Path, mode: str, state: Windows, figures: Figures) -> None:
    """Shoal's table (queried from its store) against the loop's dict; outputs against
    each other (same key and JSON value, counted with duplicates)."""
    log = EmbeddedLog(data, read_only=True)
    try:
        views = table_views(plan(pipeline(mode)), {SOURCE: PARTITIONS},
                            lambda name: RocksBackend(log.column_family(name)))
        table: dict[tuple[str, int], Any] = {
            (w.key, w.start): w.value for _, w in views[TABLE].items()}
        figures.tables_equal = table == state
        shoal = await contents(log, f"buys.windows.{mode}")
        hand = await contents(log, f"buys.windows.{mode}.hand")
        figures.outputs_equal = (shoal == hand and shoal.total() == figures.shoal_n
                                 == figures.hand_n)
    finally:
        await log.close()


def report(mode: str, n: int, f: Figures) -> bool:
    """Print one mode's figures; True when its checks pass."""
    shoal_rate, hand_rate = n / f.shoal_s, n / f.hand_s
    ratio = shoal_rate / hand_rate
    met = shoal_rate >= TARGET_RATE and ratio >= TARGET_RATIO
    print(f"  emit={mode}")
    print(f"    shoal         {shoal_rate:>12,.0f} events/s  {f.shoal_s:7.2f} s  "
          f"{f.shoal_n:>10,} outputs  {f.dead} dead letters  peak RSS {f.shoal_mb:,.0f} MB")
    print(f"    hand-written  {hand_rate:>12,.0f} events/s  {f.hand_s:7.2f} s  "
          f"{f.hand_n:>10,} outputs  peak RSS {f.hand_mb:,.0f} MB")
    print(f"    ratio         {ratio:>12.2f}  (shoal / hand-written)")
    print(f"    equal         tables {'yes' if f.tables_equal else 'NO'} ({f.windows:,} "
          f"(product, window) rows), outputs {'yes' if f.outputs_equal else 'NO'}")
    print(f"    target        >= {TARGET_RATE:,} events/s and ratio >= {TARGET_RATIO}: "
          f"{'met' if met else 'NOT met'}")
    return f.tables_equal and f.outputs_equal and f.dead == 0


def shoal_alone(data: Path, n: int, mode: str) -> bool:
    """Run Shoal only and print its figures; True when nothing was dead-lettered."""
    seconds, (outputs, dead), mb = measured(data, lambda log: run_shoal(log, mode))
    print(f"  emit={mode}\n    shoal         {n / seconds:>12,.0f} events/s  {seconds:7.2f} s  "
          f"{outputs:>10,} outputs  {dead} dead letters  peak RSS {mb:,.0f} MB")
    return dead == 0


def bench(data: Path, n: int, seed: int, keys: int = KEYS, modes: tuple[str, ...] = MODES,
          shoal_only: bool = False) -> int:
    """Produce, run the modes and print the figures."""
    log = EmbeddedLog(data)
    asyncio.run(produce_input(log, n, seed, keys))
    asyncio.run(log.close())
    print("windows: per product count+sum(price), 1-minute tumbling event-time windows, "
          f"grace {GRACE} ms, embedded log")
    print(f"  cores           {os.cpu_count():>12}")
    print(f"  events (N)      {n:>12,}   ({keys:,} products, {PARTITIONS} partitions)")
    ok = [shoal_alone(data, n, mode) if shoal_only else report(mode, n, contend(data, mode))
          for mode in modes]
    return 0 if all(ok) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments (--modes and --shoal-only here, the rest in bench_main), run in the
    given or a temporary data dir, and clean up."""
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--modes", default=",".join(MODES))
    own.add_argument("--shoal-only", action="store_true")
    args, rest = own.parse_known_args(argv)
    modes = tuple(args.modes.split(","))
    if not set(modes) <= set(MODES):
        own.error(f"--modes: a comma-separated subset of {','.join(MODES)}")
    return bench_main("python -m benchmarks.windows", __doc__,
                      partial(bench, modes=modes, shoal_only=args.shoal_only), rest, keys=KEYS)


if __name__ == "__main__":
    sys.exit(main())
