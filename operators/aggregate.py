"""Aggregations into tables, per key and per time window (tumbling and hopping), and tables
read from topics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.api import FuseContext
from engine.api.aggregators import Aggregator
from engine.api.codegen import Fused
from engine.api.errors import LateRecord
from engine.api.keys import key_reader
from engine.api.nodes import Node, TableNode
from engine.api.processor import (
    Emit,
    Processor,
    ProcessorContext,
    WindowResult,
    require_key,
)
from engine.api.state import KeyValueStore, window_key
from engine.api.streamtime import StreamClock
from engine.api.windows import TimeWindows
from operators.panes import PaneAggregator
from operators.windowing import WindowBook, WindowedNode


@dataclass(frozen=True, slots=True)
class Aggregate(TableNode):
    """Per-key running aggregate; emits the new result for every record."""

    aggregator: Aggregator

    def describe(self) -> dict[str, Any]:
        return {"aggregate": self.aggregator.label, "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return KeyAggregator(ctx.store(self.name), self.aggregator, emit)

    def table_value(self, stored: Any) -> Any:
        return self.aggregator.result(stored[0])


class KeyAggregator(Processor):
    """acc[key] = add(acc[key], value); emits result(acc[key]) stamped with the largest
    event time the key has seen (as Kafka Streams' aggregations do)."""

    def __init__(self, store: KeyValueStore, agg: Aggregator, emit: Emit | None) -> None:
        self.store, self.agg, self.emit = store, agg, emit

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "an aggregation")
        old = self.store.get(key)
        if old is None:
            acc = self.agg.add(self.agg.initial(), value)
        else:
            acc, ts = self.agg.add(old[0], value), max(ts, old[1])
        self.store.put(key, (acc, ts))
        if self.emit is not None:
            self.emit(key, self.agg.result(acc), ts)


@dataclass(frozen=True, slots=True)
class WindowAggregate(WindowedNode):
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

    @property
    def panes(self) -> bool:
        """Hopping windows emitted final with an order-blind aggregator are computed from
        panes (operators/panes.py): one update per record instead of one per window."""
        size, advance = self.windows.size, self.windows.advance
        return (self.emit_mode == "final" and advance < size and size % advance == 0
                and self.aggregator.commutative and self.aggregator.merge is not None)

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.name, f"{self.name}.panes") if self.panes else (self.name,)

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        if self.panes:
            return PaneAggregator(ctx.store(self.name), ctx.store(f"{self.name}.panes"), self,
                                  emit)
        return WindowAggregator(ctx.store(self.name), self, emit)


class WindowAggregator(Processor):
    """Kafka Streams semantics: stream time is the largest time this processor has seen;
    a window [start, end) accepts records until stream time >= end + grace, then closes
    (emit 'final' sends its one result then) and is kept for queries until end + retention.
    A record whose windows are all closed is late. Results carry the window's largest
    record time."""

    def __init__(self, store: KeyValueStore, node: WindowAggregate, emit: Emit | None) -> None:
        self.node, self.store, self.agg = node, store, node.aggregator
        self.emit = None if node.emit_mode == "final" else emit
        self.size, self.grace = node.windows.size, node.grace
        self.tumbling = node.windows.advance == node.windows.size
        self.key_text = key_reader(node.key_type)
        self.clock = StreamClock(store)
        self.book = WindowBook(store, node, self.clock, node.grace - 1, emit)
        self._keys: dict[tuple[bytes, int], bytes] = {}

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a windowed aggregation")
        now = self.clock.observe(ts)
        if self.tumbling:  # the common case: one window, no list of windows
            start = ts - ts % self.size
            accepted = now < start + self.size + self.grace and self._add(key, start, value, ts)
            last_end = start + self.size
        else:
            accepted, last_end = False, ts
            for window in self.node.windows.windows_for(ts):
                last_end = window.end
                if now < window.end + self.grace:
                    accepted = self._add(key, window.start, value, ts) or accepted
        if self.book.due():
            self.book.close_due()
        if not accepted:
            self.clock.late_by(now - last_end + 1)
            raise LateRecord(f"event time {ts} is behind stream time {now} by more than the "
                             f"window size plus grace ({self.grace} ms)")

    def _add(self, key: bytes, start: int, value: Any, ts: int) -> bool:
        """Add to the window; False when it was already finalized (by a drained run)."""
        wk = self._keys.get((key, start))
        if wk is None:
            if len(self._keys) > 10_000:  # a memo of the hot windows only
                self._keys.clear()
            wk = self._keys[(key, start)] = window_key(key, start)
        entry = self.store.get(wk)
        end = start + self.size
        if entry is None:
            acc, latest = self.agg.add(self.agg.initial(), value), ts
            self.book.opened(end, wk)
        elif entry[1]:
            return False
        else:
            acc, latest = self.agg.add(entry[0], value), max(ts, entry[2])
        self.store.put(wk, (acc, False, latest, end))
        if self.emit is not None:
            self.emit(key, WindowResult(self.key_text(key), start, end, self.agg.result(acc)),
                      latest)
        return True

    def before_commit(self) -> None:
        self.clock.save()

    def idle(self, elapsed_ms: int) -> None:
        self.clock.idle(elapsed_ms)
        self.book.close_due()

    def finish(self) -> None:
        self.book.close_all()

    def lateness(self) -> tuple[int, int, int]:
        return self.clock.lateness()


@dataclass(frozen=True, slots=True)
class Materialize(TableNode):
    """Keeps the latest value per key of a changelog stream (None deletes); a table."""

    def describe(self) -> dict[str, Any]:
        return {"store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return Latest(ctx.store(self.name), emit)


class Latest(Processor):
    """store[key] = (value, time), or delete on None; emits every change."""

    def __init__(self, store: KeyValueStore, emit: Emit | None) -> None:
        self.store, self.emit = store, emit

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        self.store.put(require_key(key, "a table"), None if value is None else (value, ts))
        if self.emit is not None:
            self.emit(key, value, ts)


@dataclass(frozen=True, slots=True)
class TableFilter(Node):
    """Table filter: a row that fails the predicate becomes a delete (None)."""

    fn: Any

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("operator", self.name)
        out = ctx.w.fresh("v")
        ctx.w.line(f"{out} = {var} if {var} is None or {ctx.w.const(self.fn, 'fn')}({var}) "
                   "else None")
        return Fused(out)


@dataclass(frozen=True, slots=True)
class TableMap(Node):
    """Table map_values: deletes (None) stay deletes."""

    fn: Any

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("operator", self.name)
        out = ctx.w.fresh("v")
        ctx.w.line(f"{out} = None if {var} is None else {ctx.w.const(self.fn, 'fn')}({var})")
        return Fused(out)
