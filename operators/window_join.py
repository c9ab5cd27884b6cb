"""Stream-stream joins within a time window, with Kafka Streams semantics.

A left record at tl and a right record at tr join when tl - before <= tr <= tl + after.
Both sides are buffered (stores `<name>.left` / `<name>.right`, key window_key(key, t) ->
[[value, matched], ...]). Each arrival joins every buffered partner at once. A record
expires once stream time > its last partner time + grace: then, for left/outer joins, an
unmatched record is emitted with a None partner (never earlier, never twice) and it is
purged. A record that arrives already expired is late.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from engine.api.errors import LateRecord
from engine.api.processor import Emit, Processor, ProcessorContext
from engine.api.state import KeyValueStore, split_window_key, window_key
from operators.aggregate import STREAM_TIME
from operators.join import Joiner, TwoSidedJoin


@dataclass(frozen=True, slots=True)
class WindowJoin(TwoSidedJoin):
    """left ⋈ right within [before, after] ms; how = inner, left or outer."""

    joiner: Joiner
    how: str
    before: int
    after: int
    grace: int

    @property
    def stores(self) -> tuple[str, ...]:
        return (f"{self.name}.left", f"{self.name}.right")

    def describe(self) -> dict[str, Any]:
        return {"join": f"stream-stream {self.how}", "before_ms": self.before,
                "after_ms": self.after, "grace_ms": self.grace}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return BufferJoin(ctx.store(self.stores[0]), ctx.store(self.stores[1]), self, emit)


class BufferJoin:
    """The join's buffers, stream time and expiry heaps."""

    def __init__(self, left: KeyValueStore, right: KeyValueStore, node: WindowJoin,
                 emit: Emit) -> None:
        self.sides, self.node, self.emit = (left, right), node, emit
        stored = left.get(STREAM_TIME)
        self.stream_time: int = -(1 << 62) if stored is None else stored
        self.last_record_time = self.stream_time
        # how far past its own time a record can still meet a partner, per side
        self.reach = (node.after, node.before)
        self.expiry: list[tuple[int, int, bytes]] = []
        for side, store in enumerate(self.sides):
            for wk, _ in store.items(None, STREAM_TIME):
                t = split_window_key(wk)[1]
                self.expiry.append((t + self.reach[side] + node.grace, side, wk))
        heapq.heapify(self.expiry)

    def before_commit(self) -> None:
        """Persist stream time with the commit."""
        self.sides[0].put(STREAM_TIME, self.stream_time)

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        if key is None:
            raise ValueError("a stream-stream join needs keys; this record has none")
        if ts > self.stream_time:
            self.stream_time = ts
        self.last_record_time = self.stream_time
        grace = self.node.grace
        if ts + self.reach[side] + grace < self.stream_time:
            self._expire()
            raise LateRecord(f"event time {ts}: its join window closed (stream time "
                             f"{self.stream_time}, grace {grace} ms)")
        other = 1 - side
        lo, hi = ((ts - self.node.before, ts + self.node.after) if side == 0
                  else (ts - self.node.after, ts + self.node.before))
        matched = False
        for wk, entries in list(self.sides[other].items(window_key(key, lo),
                                                         window_key(key, hi + 1))):
            for entry in entries:
                entry[1] = True
                matched = True
                pair = (value, entry[0]) if side == 0 else (entry[0], value)
                self.emit(key, self.node.joiner(*pair), ts)
            self.sides[other].put(wk, entries)
        wk = window_key(key, ts)
        own = self.sides[side].get(wk)
        if own is None:
            heapq.heappush(self.expiry, (ts + self.reach[side] + grace, side, wk))
        self.sides[side].put(wk, [*(own or []), [value, matched]])
        self._expire()

    def _expire(self) -> None:
        how = self.node.how
        while self.expiry and self.expiry[0][0] < self.stream_time:
            _, side, wk = heapq.heappop(self.expiry)
            entries = self.sides[side].get(wk) or []
            self.sides[side].delete(wk)
            if how == "outer" or (how == "left" and side == 0):
                key, ts = split_window_key(wk)
                for value, matched in entries:
                    if not matched:
                        pair = (value, None) if side == 0 else (None, value)
                        self.emit(key, self.node.joiner(*pair), ts)

    def idle(self, elapsed_ms: int) -> None:
        """Wall-clock idle time moves stream time on, so unmatched records still expire."""
        self.stream_time = max(self.stream_time, self.last_record_time + elapsed_ms)
        self._expire()
