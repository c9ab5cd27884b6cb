"""Aggregations into tables, per key and per time window (tumbling and hopping)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from engine.api import FuseContext, Node
from engine.api.aggregators import Aggregator
from engine.api.errors import LateRecord
from engine.api.processor import Emit, Processor, ProcessorContext, WindowResult
from engine.api.serde import key_from_bytes
from engine.api.state import KeyValueStore, split_window_key, window_key
from engine.api.windows import TimeWindows

STREAM_TIME = b"\xff\xffstream-time"  # sorts after every window key of a key < 4 GiB


class StatefulNode(Node):
    """A node whose work needs a processor and a store named after the node."""

    __slots__ = ()

    @property
    def stores(self) -> tuple[str, ...]:
        """Store names this node owns."""
        return (self.name,)

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        """Build this node's processor for one task."""
        raise NotImplementedError

    @property
    def queryable(self) -> bool:
        """True when the node's store is a table users query (not bookkeeping)."""
        return True

    @property
    def needs_keys(self) -> bool:
        """True when the input must be keyed (equal keys meet in one task)."""
        return True

    @property
    def windowed(self) -> bool:
        """True when the store's keys are (key, window start)."""
        return False

    @property
    def window_size(self) -> int:
        """Size of each window in ms (0: not windowed)."""
        return 0

    def window_end(self, start: int, stored: Any) -> int:
        """End of the window starting at `start` whose stored entry is `stored`."""
        return start + self.window_size

    def table_value(self, stored: Any) -> Any:
        """The table's value for a stored entry (None: not a row, e.g. bookkeeping)."""
        return stored

    def fuse(self, ctx: FuseContext, var: str) -> str:
        ctx.stage("operator", self.name)
        ctx.w.line(f"proc_{self.id}(k, {var}, ts)")
        return "v"


@dataclass(frozen=True, slots=True)
class Aggregate(StatefulNode):
    """Per-key running aggregate; emits the new result for every record."""

    aggregator: Aggregator

    def describe(self) -> dict[str, Any]:
        return {"aggregate": self.aggregator.label, "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return KeyAggregator(ctx.store(self.name), self.aggregator, emit)

    def table_value(self, stored: Any) -> Any:
        return self.aggregator.result(stored)


class KeyAggregator:
    """acc[key] = add(acc[key], value); emits result(acc[key])."""

    def __init__(self, store: KeyValueStore, agg: Aggregator, emit: Emit) -> None:
        self.store, self.agg, self.emit = store, agg, emit

    def process(self, key: bytes | None, value: Any, ts: int) -> None:
        if key is None:
            raise ValueError("aggregation needs a key; this record has none")
        acc = self.store.get(key)
        acc = self.agg.add(self.agg.initial() if acc is None else acc, value)
        self.store.put(key, acc)
        self.emit(key, self.agg.result(acc), ts)


@dataclass(frozen=True, slots=True)
class WindowAggregate(StatefulNode):
    """Per-key aggregate per time window, with grace, emit mode and retention."""

    aggregator: Aggregator
    windows: TimeWindows
    grace: int
    emit_mode: str
    retention: int

    def describe(self) -> dict[str, Any]:
        return {"aggregate": self.aggregator.label, "windows": self.windows.kind,
                "size_ms": self.windows.size, "advance_ms": self.windows.advance,
                "grace_ms": self.grace, "emit": self.emit_mode, "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return WindowAggregator(ctx.store(self.name), self, emit)

    @property
    def windowed(self) -> bool:
        return True

    @property
    def window_size(self) -> int:
        """Size of each window in ms."""
        return self.windows.size

    def table_value(self, stored: Any) -> Any:
        return self.aggregator.result(stored[0])


class WindowClock:
    """What windowed processors share: a persisted stream time (the largest event time seen),
    heaps of open and closed windows by end, and the wall-clock idle advance."""

    store: KeyValueStore

    def _start_clock(self, store: KeyValueStore, windows: list[tuple[int, bytes, bool]]) -> None:
        """Load stream time and the (end, window key, closed) entries kept in `store`."""
        self.store = store
        stored = store.get(STREAM_TIME)
        self.stream_time: int = -(1 << 62) if stored is None else stored
        self.last_record_time = self.stream_time
        self.open = [(end, wk) for end, wk, closed in windows if not closed]
        self.closed = [(end, wk) for end, wk, closed in windows if closed]
        heapq.heapify(self.open)
        heapq.heapify(self.closed)

    def _observe(self, key: bytes | None, ts: int) -> bytes:
        """Move stream time to `ts` if it is newer; windows need keys."""
        if key is None:
            raise ValueError("windowed aggregation needs a key; this record has none")
        if ts > self.stream_time:
            self.stream_time = ts
        self.last_record_time = self.stream_time
        return key

    def before_commit(self) -> None:
        """Persist stream time with the commit (once, not per record)."""
        self.store.put(STREAM_TIME, self.stream_time)

    def idle(self, elapsed_ms: int) -> None:
        """Wall-clock idle time moves stream time on (design.md §4), closing windows."""
        self.stream_time = max(self.stream_time, self.last_record_time + elapsed_ms)
        self._advance()

    def _advance(self) -> None:
        raise NotImplementedError


class WindowAggregator(WindowClock):
    """Kafka Streams semantics: stream time is the largest time this processor has seen;
    a window [start, end) accepts records until stream time >= end + grace, then closes
    (emit 'final' sends its one result then) and is kept for queries until end + retention.
    A record whose windows are all closed is late."""

    def __init__(self, store: KeyValueStore, node: WindowAggregate, emit: Emit) -> None:
        self.node, self.emit = node, emit
        self.agg = node.aggregator
        self.final = node.emit_mode == "final"
        self.size, self.grace = node.windows.size, node.grace
        self.tumbling = node.windows.advance == node.windows.size
        self._keys: dict[tuple[bytes, int], bytes] = {}
        self._start_clock(store, [(split_window_key(wk)[1] + self.size, wk, closed)
                                  for wk, (_, closed, _) in store.items(None, STREAM_TIME)])

    def process(self, key: bytes | None, value: Any, ts: int) -> None:
        key = self._observe(key, ts)
        if self.tumbling:  # the common case: one window, no list of windows
            start = ts - ts % self.size
            accepted = self.stream_time < start + self.size + self.grace
            if accepted:
                self._add(key, start, value, ts)
        else:
            accepted = False
            for window in self.node.windows.windows_for(ts):
                if self.stream_time < window.end + self.grace:
                    accepted = True
                    self._add(key, window.start, value, ts)
        if self.open and self.open[0][0] + self.grace <= self.stream_time:
            self._advance()
        if not accepted:
            raise LateRecord(f"event time {ts} is behind stream time {self.stream_time} by "
                             f"more than the window size plus grace ({self.grace} ms)")

    def _add(self, key: bytes, start: int, value: Any, ts: int) -> None:
        wk = self._keys.get((key, start))
        if wk is None:
            if len(self._keys) > 100_000:
                self._keys.clear()
            wk = self._keys[(key, start)] = window_key(key, start)
        entry = self.store.get(wk)
        if entry is None:
            acc, latest = self.agg.add(self.agg.initial(), value), ts
            heapq.heappush(self.open, (start + self.size, wk))
        else:
            acc, latest = self.agg.add(entry[0], value), entry[2]
            if ts > latest:
                latest = ts
        self.store.put(wk, (acc, False, latest))
        if not self.final:
            self.emit(key, WindowResult(key_from_bytes(key), start, start + self.size,
                                        self.agg.result(acc)), ts)

    def _advance(self) -> None:
        """Close windows whose grace has passed; purge closed ones past retention."""
        grace, now = self.node.grace, self.stream_time
        while self.open and self.open[0][0] + grace <= now:
            end, wk = heapq.heappop(self.open)
            entry = self.store.get(wk)
            assert entry is not None, "an open window always has an entry"
            acc, _, max_ts = entry
            self.store.put(wk, (acc, True, max_ts))
            heapq.heappush(self.closed, (end, wk))
            if self.final:
                key, start = split_window_key(wk)
                self.emit(key, WindowResult(key_from_bytes(key), start, end,
                                            self.agg.result(acc)), max_ts)
        while self.closed and self.closed[0][0] + self.node.retention <= now:
            self.store.delete(heapq.heappop(self.closed)[1])


@dataclass(frozen=True, slots=True)
class Materialize(StatefulNode):
    """Keeps the latest value per key of a changelog stream (None deletes); a table."""

    def describe(self) -> dict[str, Any]:
        return {"store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return Latest(ctx.store(self.name), emit)


class Latest:
    """store[key] = value, or delete on None; emits every change."""

    def __init__(self, store: KeyValueStore, emit: Emit) -> None:
        self.store, self.emit = store, emit

    def process(self, key: bytes | None, value: Any, ts: int) -> None:
        if key is None:
            raise ValueError("a table needs keys; this record has none")
        self.store.put(key, value)
        self.emit(key, value, ts)


@dataclass(frozen=True, slots=True)
class TableFilter(Node):
    """Table filter: a row that fails the predicate becomes a delete (None)."""

    fn: Any

    def fuse(self, ctx: FuseContext, var: str) -> str:
        ctx.stage("operator", self.name)
        out = ctx.w.fresh("v")
        ctx.w.line(f"{out} = {var} if {var} is None or {ctx.w.const(self.fn, 'fn')}({var}) "
                   "else None")
        return out


@dataclass(frozen=True, slots=True)
class TableMap(Node):
    """Table map_values: deletes (None) stay deletes."""

    fn: Any

    def fuse(self, ctx: FuseContext, var: str) -> str:
        ctx.stage("operator", self.name)
        out = ctx.w.fresh("v")
        ctx.w.line(f"{out} = None if {var} is None else {ctx.w.const(self.fn, 'fn')}({var})")
        return out
