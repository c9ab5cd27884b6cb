"""Sliding windows with Kafka Streams semantics (KIP-450).

Windows are [start, end] with both ends inclusive and end - start = d. Each record at t has
a left window [max(0, t - d), ...] (clamped at 0 as Kafka Streams does: records before d
share [0, d]), and a right window [t + 1, t + 1 + d] when that window holds a record. A
window's value aggregates the records inside it in arrival order, so the processor keeps the
raw records of each key, numbered by arrival, for as long as a window holding them can still
be created (t + 1 + d + grace). A window closes once stream time > end + grace; a record
whose every window has closed is late.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from engine.api.aggregators import Aggregator
from engine.api.errors import LateRecord
from engine.api.processor import Emit, Processor, ProcessorContext, WindowResult
from engine.api.serde import key_from_bytes
from engine.api.state import KeyValueStore, split_window_key, window_key
from engine.api.windows import SlidingWindows
from operators.aggregate import STREAM_TIME, StatefulNode, WindowClock

_ARRIVAL = itemgetter(0)
ARRIVALS = STREAM_TIME + b".arrivals"  # the arrival counter; sorts after every window key


@dataclass(frozen=True, slots=True)
class SlidingAggregate(StatefulNode):
    """Per-key aggregate per sliding window; stores `<name>` and `<name>.records`."""

    aggregator: Aggregator
    windows: SlidingWindows
    grace: int
    emit_mode: str
    retention: int

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.name, f"{self.name}.records")

    def describe(self) -> dict[str, Any]:
        return {"aggregate": self.aggregator.label, "windows": "sliding",
                "size_ms": self.windows.size, "grace_ms": self.grace, "emit": self.emit_mode,
                "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return SlidingAggregator(ctx.store(self.name), ctx.store(f"{self.name}.records"),
                                 self, emit)

    @property
    def windowed(self) -> bool:
        return True

    def window_end(self, start: int, stored: Any) -> int:
        return start + self.windows.size

    def table_value(self, stored: Any) -> Any:
        return self.aggregator.result(stored[0])


class SlidingAggregator(WindowClock):
    """Windows: window_key(key, start) -> (acc, closed, max ts); records: window_key(key,
    ts) -> [(arrival number, value), ...]."""

    def __init__(self, store: KeyValueStore, records: KeyValueStore, node: SlidingAggregate,
                 emit: Emit) -> None:
        self.node, self.emit, self.records = node, emit, records
        self.agg = node.aggregator
        self.d = node.windows.size
        self._start_clock(store, [(split_window_key(wk)[1] + self.d, wk, closed)
                                  for wk, (_, closed, _) in store.items(None, STREAM_TIME)])
        self.buffered = [(split_window_key(rk)[1], rk) for rk, _ in records.items()]
        heapq.heapify(self.buffered)
        self.arrivals: int = store.get(ARRIVALS) or 0

    def before_commit(self) -> None:
        """Persist stream time and the arrival counter with the commit."""
        super().before_commit()
        self.store.put(ARRIVALS, self.arrivals)

    def process(self, key: bytes | None, value: Any, ts: int) -> None:
        key = self._observe(key, ts)
        d, grace, now = self.d, self.node.grace, self.stream_time
        if ts + d + grace < now:
            self._advance()
            raise LateRecord(f"event time {ts}: every sliding window holding it closed "
                             f"(stream time {now}, size {d} ms, grace {grace} ms)")
        rk = window_key(key, ts)
        self.arrivals += 1
        self.records.put(rk, [*(self.records.get(rk) or []), (self.arrivals, value)])
        heapq.heappush(self.buffered, (ts, rk))
        touched: dict[int, Any] = {}
        for wk, (acc, closed, max_ts) in list(self.store.items(window_key(key, ts - d),
                                                                window_key(key, ts + 1))):
            if not closed:
                start = split_window_key(wk)[1]
                touched[start] = (self.agg.add(acc, value), False, max(max_ts, ts))
        starts = {max(0, ts - d), ts + 1} | {
            t + 1 for t in self._times(key, ts - d - 1, ts - 1)}
        created = set()
        for start in sorted(starts - touched.keys()):
            if start + d + grace >= now and self.store.get(window_key(key, start)) is None:
                entry = self._build(key, start)
                if entry is not None:
                    touched[start] = entry
                    created.add(start)
        for start, entry in sorted(touched.items()):
            self.store.put(window_key(key, start), entry)
            if start in created:
                heapq.heappush(self.open, (start + d, window_key(key, start)))
            if self.node.emit_mode != "final":
                self.emit(key, WindowResult(key_from_bytes(key), start, start + d,
                                            self.agg.result(entry[0])), ts)
        self._advance()

    def _times(self, key: bytes, first: int, last: int) -> list[int]:
        """Event times of the key's buffered records in [first, last]."""
        return [split_window_key(rk)[1] for rk, _ in
                self.records.items(window_key(key, first), window_key(key, last + 1))]

    def _build(self, key: bytes, start: int) -> tuple[Any, bool, int] | None:
        """A new window [start, start + d] from the buffered records, added in arrival order
        as an existing window would have added them (None if empty)."""
        held, seen = [], None
        for rk, values in self.records.items(window_key(key, start),
                                             window_key(key, start + self.d + 1)):
            seen = split_window_key(rk)[1]
            held.extend(values)
        if seen is None:
            return None
        acc = self.agg.initial()
        for _, value in sorted(held, key=_ARRIVAL):
            acc = self.agg.add(acc, value)
        return acc, False, seen

    def _advance(self) -> None:
        grace, now = self.node.grace, self.stream_time
        while self.open and self.open[0][0] + grace < now:
            end, wk = heapq.heappop(self.open)
            entry = self.store.get(wk)
            if entry is None or entry[1]:
                continue  # a duplicate heap entry of a window already closed
            self.store.put(wk, (entry[0], True, entry[2]))
            heapq.heappush(self.closed, (end, wk))
            if self.node.emit_mode == "final":
                key, start = split_window_key(wk)
                self.emit(key, WindowResult(key_from_bytes(key), start, end,
                                            self.agg.result(entry[0])), entry[2])
        while self.closed and self.closed[0][0] + self.node.retention <= now:
            self.store.delete(heapq.heappop(self.closed)[1])
        while self.buffered and self.buffered[0][0] + 1 + self.d + grace < now:
            self.records.delete(heapq.heappop(self.buffered)[1])
