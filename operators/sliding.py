"""Sliding windows with Kafka Streams semantics (KIP-450).

Windows are [start, end] with both ends inclusive and end - start = d. Each record at t has
a left window [max(0, t - d), ...] (clamped at 0 as Kafka Streams does: records before d
share [0, d]), and a right window [t + 1, t + 1 + d] when that window holds a record. A
window's value aggregates the records inside it in arrival order, so the processor keeps the
raw records of each key, numbered by arrival, for as long as a window holding them can still
be created (t + 1 + d + grace). A window closes once stream time > end + grace; a record
whose every window has closed is late. Results carry the window's largest record time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from engine.api.aggregators import Aggregator
from engine.api.errors import LateRecord
from engine.api.keys import key_reader
from engine.api.processor import (
    Emit,
    Processor,
    ProcessorContext,
    WindowResult,
    require_key,
)
from engine.api.state import KeyValueStore, meta_key, split_window_key, window_key
from engine.api.streamtime import StreamClock
from engine.api.windows import SlidingWindows
from operators.windowing import Entry, WindowBook, WindowedNode

ARRIVALS = meta_key("arrivals")  # the arrival counter
_ARRIVAL = itemgetter(0)


@dataclass(frozen=True, slots=True)
class SlidingAggregate(WindowedNode):
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

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return SlidingAggregator(ctx.store(self.name), ctx.store(f"{self.name}.records"),
                                 self, emit)


class SlidingAggregator(Processor):
    """Windows: window_key(key, start) -> Entry; records: window_key(key, ts) ->
    [(arrival number, value), ...]."""

    def __init__(self, store: KeyValueStore, records: KeyValueStore, node: SlidingAggregate,
                 emit: Emit | None) -> None:
        self.store, self.records, self.node, self.agg = store, records, node, node.aggregator
        self.emit = None if node.emit_mode == "final" else emit
        self.d, self.grace = node.windows.size, node.grace
        self.key_text = key_reader(node.key_type)
        self.clock = StreamClock(store)
        self.book = WindowBook(store, node, self.clock, node.grace, emit)
        self.buffered = [(split_window_key(rk)[1], rk) for rk, _ in records.items()]
        heapq.heapify(self.buffered)
        self.arrivals: int = store.get(ARRIVALS) or 0

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a sliding window")
        now = self.clock.observe(ts)
        d, grace = self.d, self.grace
        if ts + d + grace < now:
            self._advance()
            self.clock.late_by(now - ts - d)
            raise LateRecord(f"event time {ts}: every sliding window holding it closed "
                             f"(stream time {now}, size {d} ms, grace {grace} ms)")
        rk = window_key(key, ts)
        self.arrivals += 1
        self.records.put(rk, [*(self.records.get(rk) or []), (self.arrivals, value)])
        heapq.heappush(self.buffered, (ts, rk))
        touched = self._grow(key, value, ts)
        for start in sorted(self._starts(key, ts) - touched.keys()):
            if start + d + grace >= now and self.store.get(window_key(key, start)) is None:
                entry = self._build(key, start)
                if entry is not None:
                    touched[start] = entry
                    self.book.opened(start + d, window_key(key, start))
        for start, entry in sorted(touched.items()):
            self.store.put(window_key(key, start), entry)
            if self.emit is not None:
                self.emit(key, WindowResult(self.key_text(key), start, start + d,
                                            self.agg.result(entry[0])), entry[2])
        self._advance()

    def _grow(self, key: bytes, value: Any, ts: int) -> dict[int, Entry]:
        """The open windows that hold `ts`, with the value added."""
        touched: dict[int, Entry] = {}
        for wk, (acc, closed, max_ts, end) in list(self.store.items(
                window_key(key, ts - self.d), window_key(key, ts + 1))):
            if not closed:
                touched[split_window_key(wk)[1]] = (self.agg.add(acc, value), False,
                                                    max(max_ts, ts), end)
        return touched

    def _starts(self, key: bytes, ts: int) -> set[int]:
        """Starts of the windows a record at `ts` may create: its left and right windows and
        the right windows of the records before it that it falls in."""
        d = self.d
        before = self.records.items(window_key(key, ts - d - 1), window_key(key, ts))
        return {max(0, ts - d), ts + 1} | {split_window_key(rk)[1] + 1 for rk, _ in before}

    def _build(self, key: bytes, start: int) -> Entry | None:
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
        return acc, False, seen, start + self.d

    def _advance(self) -> None:
        """Close due windows and forget records no window can be built from any more."""
        if self.book.due():
            self.book.close_due()
        horizon = self.clock.now - 1 - self.d - self.grace
        while self.buffered and self.buffered[0][0] < horizon:
            self.records.delete(heapq.heappop(self.buffered)[1])

    def before_commit(self) -> None:
        self.clock.save()
        self.store.put(ARRIVALS, self.arrivals)

    def idle(self, elapsed_ms: int) -> None:
        self.clock.idle(elapsed_ms)
        self._advance()

    def finish(self) -> None:
        self.book.close_all()

    def lateness(self) -> tuple[int, int, int]:
        return self.clock.lateness()
