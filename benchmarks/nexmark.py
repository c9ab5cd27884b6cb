"""Run Nexmark queries on the embedded log and check each against the DuckDB reference.

    python -m benchmarks.nexmark [--events N] [--queries q0,q5] [--partitions P] [--work DIR]

The events are generated once per (N, seed) under the work directory and replayed: each query
gets a fresh embedded log holding the three topics (P partitions, records spread round-robin,
as producers without keys spread them), runs to the end of its input with every window closed
(drain), and its rows are compared with DuckDB's over the same files. Printed per query: rows,
wall seconds of the run, events/s, events/s per CPU-second, and whether the rows are equal.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from apps.nexmark.generator import write
from apps.nexmark.queries import QUERIES, Query
from apps.nexmark.reference import COLUMNS, reference
from engine import App
from engine.transport import CommitBatch, EmbeddedLog
from engine.transport.base import read_partitions

KINDS = ("person", "auction", "bid")
CHUNK = 20_000
SIDE_ROWS = 10_000


@dataclass
class Result:
    """One query's run: its rows, the run's wall and CPU seconds, and the check."""

    query: str
    rows: int
    seconds: float
    cpu: float
    events: int
    equal: bool
    reference_rows: int

    def line(self) -> str:
        rate, per_cpu = self.events / self.seconds, self.events / max(self.cpu, 1e-9)
        check = "equal" if self.equal else f"DIFFERS ({self.reference_rows:,} expected)"
        return (f"{self.query:<5} {self.rows:>10,} {self.seconds:>8.2f} {rate:>12,.0f} "
                f"{per_cpu:>12,.0f}  {check}")


HEADER = f"{'query':<5} {'rows':>10} {'seconds':>8} {'events/s':>12} {'ev/CPU-s':>12}  DuckDB"


def events_dir(work: Path, count: int, seed: int) -> Path:
    """The generated events for (count, seed), generated on first use."""
    where = work / f"events-{count}-{seed}"
    if not (where / "done").exists():
        where.mkdir(parents=True, exist_ok=True)
        write(where, count, seed=seed)
        (where / "done").write_text("ok\n")
    return where


def _chunks(path: Path, partitions: int) -> Iterator[list[tuple[str, int, list[Any]]]]:
    """The file's lines as records, round-robin over the partitions, CHUNK lines at a time."""
    decode = msgspec.json.Decoder().decode
    batch: list[list[Any]] = [[] for _ in range(partitions)]
    with path.open("rb") as lines:
        for n, line in enumerate(lines):
            raw = line.rstrip(b"\n")
            batch[n % partitions].append((None, raw, decode(raw)["date_time"], None))
            if n % CHUNK == CHUNK - 1:
                yield [(path.stem, p, rs) for p, rs in enumerate(batch)]
                batch = [[] for _ in range(partitions)]
    yield [(path.stem, p, rs) for p, rs in enumerate(batch) if rs]


async def load(log: EmbeddedLog, events: Path, partitions: int) -> None:
    """The three topics (and q13's side table) from the generated files."""
    for kind in KINDS:
        await log.create_topic(kind, partitions)
        for outputs in _chunks(events / f"{kind}.jsonl", partitions):
            await log.commit("", CommitBatch(outputs=outputs))  # type: ignore[arg-type]
    await log.create_topic("side", 1)
    side = [(str(i).encode(), msgspec.json.encode({"key": i, "value": str(i)}), 0, None)
            for i in range(SIDE_ROWS)]
    await log.commit("", CommitBatch(outputs=[("side", 0, side)]))  # type: ignore[list-item]


def settle(log: EmbeddedLog) -> None:
    """Flush and compact what the load wrote, so that the run's CPU time is its own (not
    RocksDB compacting the input in the background)."""
    log.db.flush()
    log.db.compact_range(None, None)


def outputs(app: App, query: Query) -> list[tuple[Any, ...]]:
    """The query's rows: its table's final rows, or every record of its topic."""
    if query.table:
        assert query.rows is not None
        return [r for k, v in app.table(query.name).items() for r in query.rows(k, v)]

    async def read(log: EmbeddedLog) -> list[tuple[Any, ...]]:
        decode, columns = msgspec.json.Decoder().decode, COLUMNS[query.name]
        parts = await read_partitions(log, query.name)
        return [tuple(row[c] for c in columns)
                for records in parts for r in records for row in [decode(r[2])]]
    return asyncio.run(read(app.log))  # type: ignore[arg-type]


def run_query(query: Query, events: Path, partitions: int, work: Path, count: int) -> Result:
    """Load a fresh log, run the query to the end of its input, check its rows."""
    data = work / f"run-{query.name}"
    shutil.rmtree(data, ignore_errors=True)
    with App(query.pipeline(), str(data)) as app:
        asyncio.run(load(app.log, events, partitions))  # type: ignore[arg-type]
        settle(app.log)  # type: ignore[arg-type]
        began, cpu = time.perf_counter(), time.process_time()
        app.run(drain=True)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        got = sorted(outputs(app, query))
    want = reference(events, query.name)
    return Result(query.name, len(got), seconds, cpu, count, got == want, len(want))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nexmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", default=",".join(QUERIES))
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path(".shoal/nexmark"))
    args = parser.parse_args(argv)
    names = [q.strip() for q in args.queries.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUERIES]
    if unknown:
        parser.error(f"unknown queries {', '.join(unknown)} (known: {', '.join(QUERIES)})")
    events = events_dir(args.work, args.events, args.seed)
    print(f"Nexmark NX-lite v1, {args.events:,} events, {args.partitions} partitions")
    print(HEADER)
    equal = True
    for name in names:
        result = run_query(QUERIES[name], events, args.partitions, args.work, args.events)
        print(result.line(), flush=True)
        equal = equal and result.equal
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
