"""What every peer program shares, on the standard library and msgspec only, so that a peer's
venv needs nothing of Shoal: the workloads' rules, reading the input files, timing a run and
printing its result line.

A peer program runs as `python PROGRAM WORKLOAD SOURCE OUTPUT EXPECTED SCRATCH` (SOURCE: the
input directory or the broker's host:port; OUTPUT: a JSON-lines file or a topic; EXPECTED: the
number of outputs the run must write; SCRATCH: a directory it may use) and ends by printing
one JSON line, `{"seconds": ..., "active": ..., "cpu": ..., "rss_mb": ..., "outputs": ...}`.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

WINDOW_MS, WITHIN_MS = 60_000, 3_600_000  # tumbling window size; join interval [buy, +1 h]
GRACE_MS = 1_000
PARTITIONS = 4


@dataclass(frozen=True)
class Args:
    """The command line of a peer program."""

    workload: str
    source: str
    output: str
    expected: int
    scratch: Path


def args() -> Args:
    """Parse `WORKLOAD SOURCE OUTPUT EXPECTED SCRATCH` from sys.argv."""
    workload, source, output, expected, scratch = sys.argv[1:6]
    return Args(workload, source, output, int(expected), Path(scratch))


def taxed(buy: dict[str, Any]) -> dict[str, Any] | None:
    """The stateless rule: keep buys above 50, add 20% tax and the total (cents)."""
    price = buy["price"]
    if price <= 50:
        return None
    tax = round(price * 0.2, 2)
    return {**buy, "tax": tax, "total": round(price + tax, 2)}


def window_row(product: str, start: int, count: int, total: float) -> dict[str, Any]:
    """One (product, window) result, in the shape Shoal writes."""
    return {"key": product, "start": start, "end": start + WINDOW_MS, "value": [count, total]}


def joined(buy: dict[str, Any], shipped: dict[str, Any]) -> dict[str, Any]:
    """A buy with the time it shipped, in the shape Shoal writes."""
    return {"order_id": buy["order_id"], "customer": buy["customer"], "price": buy["price"],
            "bought": buy["ts"], "shipped": shipped["ts"]}


def read_lines(directory: str, topic: str) -> list[bytes]:
    """The raw JSON values of one input topic (a file `TOPIC.jsonl`)."""
    return (Path(directory) / f"{topic}.jsonl").read_bytes().splitlines()


def write_rows(path: str, rows: Iterable[dict[str, Any]]) -> int:
    """Write `rows` as JSON lines; how many."""
    encode, n = msgspec.json.Encoder().encode, 0
    with open(path, "wb") as out:
        for row in rows:
            out.write(encode(row) + b"\n")
            n += 1
    return n


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: since its exec, unlike the rusage a parent
    gets, which starts from the parent's own size at the fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Clock:
    """Times a run from its start (and from its first record: after a group join) and
    counts its CPU."""

    start: float = field(default_factory=time.perf_counter)
    cpu0: float = field(default_factory=cpu_s)
    first: float | None = None

    def seen(self) -> None:
        """Note the first record (cheap to call for every record)."""
        if self.first is None:
            self.first = time.perf_counter()

    def report(self, outputs: int, **extra: Any) -> None:
        """Print the result line."""
        end = time.perf_counter()
        result = {"seconds": end - self.start, "active": end - (self.first or self.start),
                  "cpu": cpu_s() - self.cpu0, "rss_mb": peak_rss_mb(), "outputs": outputs,
                  **extra}
        print(json.dumps(result), flush=True)


def counted(items: Iterable[Any], clock: Clock) -> Iterator[Any]:
    """`items`, noting the first one on `clock`."""
    for item in items:
        clock.seen()
        yield item
