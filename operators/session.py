"""Session windows: per-key activity sessions that merge, with Kafka Streams semantics.

A record at time t joins every open session [start, end] of its key with end >= t - gap and
start <= t + gap; they merge into one (aggregator.merge). A session closes once stream time
> end + gap + grace ('final' emits it then); a record landing only in closed time is late.
Results carry the session's largest record time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from engine.api.state import KeyValueStore, split_window_key, window_key
from engine.api.streamtime import StreamClock
from engine.api.windows import SessionWindows
from operators.windowing import WindowBook, WindowedNode


@dataclass(frozen=True, slots=True)
class SessionAggregate(WindowedNode):
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

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return SessionAggregator(ctx.store(self.name), self, emit)


class SessionAggregator(Processor):
    """Keeps sessions in the store as window_key(key, start) -> Entry."""

    def __init__(self, store: KeyValueStore, node: SessionAggregate, emit: Emit | None
                 ) -> None:
        self.store, self.node, self.agg = store, node, node.aggregator
        self.emit = None if node.emit_mode == "final" else emit
        merge = node.aggregator.merge
        assert merge is not None, "the DSL requires a merge function for sessions"
        self.merge: Callable[[Any, Any], Any] = merge
        self.gap = node.windows.gap
        self.key_text = key_reader(node.key_type)
        self.span = node.windows.gap + node.grace
        self.clock = StreamClock(store)
        self.book = WindowBook(store, node, self.clock, self.span, emit)

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a session window")
        now = self.clock.observe(ts)
        gap = self.gap
        joined = [(wk, entry) for wk, entry in self.store.items(
                      window_key(key, -(1 << 62)), window_key(key, ts + gap + 1))
                  if not entry[1] and entry[3] >= ts - gap]
        start, end, max_ts = ts, ts, ts
        acc = self.agg.add(self.agg.initial(), value)
        for wk, entry in joined:
            acc = self.merge(entry[0], acc)
            start = min(start, split_window_key(wk)[1])
            end, max_ts = max(end, entry[3]), max(max_ts, entry[2])
        if end + self.span < now:
            self.book.close_due()
            self.clock.late_by(now - end - self.gap)
            raise LateRecord(f"event time {ts} falls in a session closed at stream time "
                             f"{now} (gap {gap} ms, grace {self.node.grace} ms)")
        for wk, _ in joined:
            self.store.delete(wk)
        wk = window_key(key, start)
        self.store.put(wk, (acc, False, max_ts, end))
        self.book.opened(end, wk)
        if self.emit is not None:
            self.emit(key, WindowResult(self.key_text(key), start, end, self.agg.result(acc)),
                      max_ts)
        self.book.close_due()

    def before_commit(self) -> None:
        self.clock.save()

    def idle(self, elapsed_ms: int) -> None:
        self.clock.idle(elapsed_ms)
        self.book.close_due()

    def finish(self) -> None:
        self.book.close_all()

    def lateness(self) -> tuple[int, int, int]:
        return self.clock.lateness()
