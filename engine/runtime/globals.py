"""Global tables: every worker keeps a full copy of each, read from all partitions of its
topic, so any task can join against any key without co-partitioning.

As in Kafka Streams, a global table is read to the end of its topic before processing
starts and then follows the topic (new records are applied before each poll). It is not
synchronised with the event time of the streams joined to it, and needs no changelog: its
topic is its changelog, re-read at each start. The copy lives in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from engine.api import TopicPartition, TransportError
from engine.api.processor import GlobalTableSpec
from engine.transport import PartitionReader, RecordTuple, Transport


class GlobalStore:
    """One global table's rows; read-only to processors (the topic is the only writer)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: dict[bytes, Any] = {}

    def get(self, key: bytes) -> Any | None:
        return self.rows.get(key)

    def put(self, key: bytes, value: Any) -> None:
        raise TypeError(f"global table '{self.name}' is read-only: it follows its topic")

    def delete(self, key: bytes) -> None:
        self.put(key, None)

    def items(self, start: bytes | None = None, end: bytes | None = None
              ) -> Iterator[tuple[bytes, Any]]:
        for key in sorted(self.rows):
            if (start is None or key >= start) and (end is None or key < end):
                yield key, self.rows[key]


class GlobalTables:
    """The global tables of a plan, loaded and kept up to date by one partition reader."""

    def __init__(self, specs: tuple[GlobalTableSpec, ...], transport: Transport) -> None:
        self.specs = {s.topic: s for s in specs}
        self.stores = {s.name: GlobalStore(s.name) for s in specs}
        self.transport = transport
        self.reader: PartitionReader | None = None
        self.positions: dict[TopicPartition, int] = {}
        self.skipped = 0  # records that could not be decoded

    async def bootstrap(self, timeout_s: float = 60.0) -> None:
        """Read every partition of every global topic to its current end."""
        if not self.specs:
            return
        ends = {(t, p): end for t in self.specs
                for p, end in enumerate(await self.transport.end_offsets(t))}
        self.positions = {tp: 0 for tp in ends}
        self.reader = self.transport.partition_reader(list(ends))
        deadline = time.monotonic() + timeout_s
        while any(self.positions[tp] < end for tp, end in ends.items()):
            if not await self.refresh():
                if time.monotonic() > deadline:
                    raise TransportError("global tables did not load within "
                                         f"{timeout_s:.0f} s")
                await asyncio.sleep(0.01)

    async def refresh(self, max_records: int = 10_000) -> int:
        """Apply what arrived on the global topics since the last call; returns how much."""
        if self.reader is None:
            return 0
        n = 0
        for tp, records in (await self.reader.poll(max_records)).items():
            self.apply(tp, records)
            n += len(records)
        return n

    def apply(self, tp: TopicPartition, records: list[RecordTuple]) -> None:
        """Upsert (or delete, for a null value) each record's row."""
        spec, rows = self.specs[tp[0]], self.stores[self.specs[tp[0]].name].rows
        for _, key, raw, _, _ in records:
            try:
                row = spec.row(key, raw)
            except Exception:
                self.skipped += 1
                continue
            if row is not None:
                if row[1] is None:
                    rows.pop(row[0], None)
                else:
                    rows[row[0]] = row[1]
        self.positions[tp] = records[-1][0] + 1

    def rows(self) -> dict[str, dict[bytes, Any]]:
        """Each global table's rows (live: they follow the topic), for queries."""
        return {name: store.rows for name, store in self.stores.items()}

    def __len__(self) -> int:
        return sum(len(s.rows) for s in self.stores.values())

    async def close(self) -> None:
        """Stop the reader."""
        if self.reader is not None:
            await self.reader.close()
            self.reader = None
