"""What the embedded-log benchmarks share: the command line, the data-dir lifecycle,
timing a contender and comparing outputs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from engine.transport import EmbeddedLog, read_partitions

Bench = Callable[..., int]  # (data dir, events, seed, **extra options) -> exit status
T = TypeVar("T")


def timed(data: Path, run: Callable[[EmbeddedLog], T]) -> tuple[float, T]:
    """Seconds and result of one contender, on a freshly opened log."""
    log = EmbeddedLog(data)
    try:
        start = time.perf_counter()
        result = run(log)
        return time.perf_counter() - start, result
    finally:
        asyncio.run(log.close())


def measured(data: Path, run: Callable[[EmbeddedLog], T]) -> tuple[float, T, float]:
    """Seconds, result and peak resident memory (MB) of one contender: the process's peak
    is reset before it runs (Linux: /proc/self/clear_refs), so the earlier contender's does
    not count. (RocksDB is not fork-safe, so contenders share the process.)"""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    seconds, result = timed(data, run)
    return seconds, result, _peak_rss_mb()


def _peak_rss_mb() -> float:
    """The process's peak resident memory since the last reset (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def contents(log: EmbeddedLog, topic: str) -> Counter[tuple[bytes | None, ...]]:
    """Multiset of (key, value) of every record of `topic`."""
    found: Counter[tuple[bytes | None, ...]] = Counter()
    for records in await read_partitions(log, topic):
        found.update((k, v) for _, k, v, _, _ in records)
    return found


def compare_topics(data: Path, first: str, second: str) -> tuple[bool, int, int]:
    """Whether two topics hold the same (key, value) multiset, and their sizes."""
    async def read() -> tuple[bool, int, int]:
        log = EmbeddedLog(data, read_only=True)
        try:
            a, b = await contents(log, first), await contents(log, second)
        finally:
            await log.close()
        return a == b, a.total(), b.total()

    return asyncio.run(read())


def bench_main(prog: str, doc: str | None, bench: Bench, argv: list[str] | None = None,
               keys: int | None = None) -> int:
    """Parse --events/--data-dir/--seed (and --keys when the benchmark has a default for
    it), run `bench` in the given or a temporary data dir (deleted afterwards), and return
    its exit status."""
    parser = argparse.ArgumentParser(prog=prog,
                                     description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="input events (N)")
    if keys is not None:
        parser.add_argument("--keys", type=int, default=keys, help="distinct keys")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="empty or new directory to use (default: a temp dir, deleted)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    args = parser.parse_args(argv)
    if args.events < 1 or getattr(args, "keys", 1) < 1:
        parser.error("--events and --keys must be positive")
    extra = {"keys": args.keys} if keys is not None else {}
    if args.data_dir is not None:
        if args.data_dir.exists() and any(args.data_dir.iterdir()):
            parser.error(f"--data-dir {args.data_dir} is not empty")
        return bench(args.data_dir, args.events, args.seed, **extra)
    data = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    try:
        return bench(data, args.events, args.seed, **extra)
    finally:
        shutil.rmtree(data, ignore_errors=True)
