"""Session windows: per-key activity sessions that merge, with Kafka Streams semantics.

A record at time t joins every session [start, end] of its key with end >= t - gap and
start <= t + gap; they merge into one (aggregator.merge). A session closes once stream time
> end + gap + grace ('final' emits it then); a record landing only in closed time is late.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.api.aggregators import Aggregator
from engine.api.errors import LateRecord
from engine.api.processor import Emit, Processor, ProcessorContext, WindowResult
from engine.api.serde import key_from_bytes
from engine.api.state import KeyValueStore, split_window_key, window_key
from engine.api.windows import SessionWindows
from operators.aggregate import STREAM_TIME, StatefulNode, WindowClock

Entry = tuple[Any, bool, int, int]  # accumulator, closed, end, max event time


@dataclass(frozen=True, slots=True)
class SessionAggregate(StatefulNode):
    """Per-key aggregate per session."""

    aggregator: Aggregator
    windows: SessionWindows
    grace: int
    emit_mode: str
    retention: int

    def describe(self) -> dict[str, Any]:
        return {"aggregate": self.aggregator.label, "windows": "session",
                "gap_ms": self.windows.gap, "grace_ms": self.grace, "emit": self.emit_mode,
                "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return SessionAggregator(ctx.store(self.name), self, emit)

    @property
    def windowed(self) -> bool:
        return True

    def window_end(self, start: int, stored: Any) -> int:
        return int(stored[2])

    def table_value(self, stored: Any) -> Any:
        return self.aggregator.result(stored[0])


class SessionAggregator(WindowClock):
    """Keeps sessions in the store as window_key(key, start) -> Entry."""

    def __init__(self, store: KeyValueStore, node: SessionAggregate, emit: Emit) -> None:
        self.node, self.emit = node, emit
        self.agg = node.aggregator
        merge = node.aggregator.merge
        assert merge is not None, "the DSL requires a merge function for sessions"
        self.merge: Callable[[Any, Any], Any] = merge
        self.span = node.windows.gap + node.grace
        self._start_clock(store, [(end, wk, closed) for wk, (_, closed, end, _)
                                  in store.items(None, STREAM_TIME)])

    def process(self, key: bytes | None, value: Any, ts: int) -> None:
        key = self._observe(key, ts)
        gap = self.node.windows.gap
        joined = [(wk, entry) for wk, entry in self.store.items(
                      window_key(key, -(1 << 62)), window_key(key, ts + gap + 1))
                  if not entry[1] and entry[2] >= ts - gap]
        start, end, max_ts = ts, ts, ts
        acc = self.agg.add(self.agg.initial(), value)
        for wk, entry in joined:
            acc = self.merge(entry[0], acc)
            start = min(start, split_window_key(wk)[1])
            end, max_ts = max(end, entry[2]), max(max_ts, entry[3])
        if end + self.span < self.stream_time:
            self._advance()
            raise LateRecord(f"event time {ts} falls in a session closed at stream time "
                             f"{self.stream_time} (gap {gap} ms, grace {self.node.grace} ms)")
        for wk, _ in joined:
            self.store.delete(wk)
        wk = window_key(key, start)
        self.store.put(wk, (acc, False, end, max_ts))
        heapq.heappush(self.open, (end, wk))
        if self.node.emit_mode != "final":
            self.emit(key, WindowResult(key_from_bytes(key), start, end, self.agg.result(acc)),
                      ts)
        self._advance()

    def _advance(self) -> None:
        now = self.stream_time
        while self.open and self.open[0][0] + self.span < now:
            end, wk = heapq.heappop(self.open)
            entry = self.store.get(wk)
            if entry is None or entry[1] or entry[2] != end:
                continue  # merged away or grown since this heap entry was pushed
            self.store.put(wk, (entry[0], True, end, entry[3]))
            heapq.heappush(self.closed, (end, wk))
            if self.node.emit_mode == "final":
                key, start = split_window_key(wk)
                self.emit(key, WindowResult(key_from_bytes(key), start, end,
                                            self.agg.result(entry[0])), entry[3])
        while self.closed and self.closed[0][0] + self.node.retention <= now:
            self.store.delete(heapq.heappop(self.closed)[1])
