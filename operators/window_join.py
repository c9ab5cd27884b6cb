"""Stream-stream joins within a time window, with Kafka Streams semantics.

A left record at tl and a right record at tr join when tl - before <= tr <= tl + after.
Both sides are buffered per key (stores `<name>.left` / `<name>.right`, key b"k" + record
key -> [[t, value, matched], ...] sorted by t), so a lookup is one point read that the
store's cache usually answers. Each arrival joins every buffered partner at once. A record
expires once stream time > its time + reach + grace: then, for left/outer joins, an
unmatched record is emitted with a None partner (never earlier, never twice) and it is
purged. A record that arrives already expired is late.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from engine.api.errors import LateRecord
from engine.api.processor import Emit, Processor, ProcessorContext
from engine.api.state import KeyValueStore
from operators.join import Joiner, TwoSidedJoin

STREAM_TIME = b"t"  # buffer keys start with b"k"
_TIME = itemgetter(0)


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
    """The join's buffers, stream time and expiry heap (expires at, side, buffer key)."""

    def __init__(self, left: KeyValueStore, right: KeyValueStore, node: WindowJoin,
                 emit: Emit) -> None:
        self.sides, self.node, self.emit = (left, right), node, emit
        stored = left.get(STREAM_TIME)
        self.stream_time: int = -(1 << 62) if stored is None else stored
        self.last_record_time = self.stream_time
        # how far past its own time a record can still meet a partner, per side
        self.reach = (node.after + node.grace, node.before + node.grace)
        self.keep = (node.how != "inner", node.how == "outer")  # emit unmatched, per side
        self.expiry: list[tuple[int, int, bytes]] = []
        for side, store in enumerate(self.sides):
            for bk, entries in store.items(b"k", b"l"):
                self.expiry.append((entries[0][0] + self.reach[side], side, bk))
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
        if ts + self.reach[side] < self.stream_time:
            self._expire()
            raise LateRecord(f"event time {ts}: its join window closed (stream time "
                             f"{self.stream_time}, grace {self.node.grace} ms)")
        bk = b"k" + key
        lo, hi = ((ts - self.node.before, ts + self.node.after) if side == 0
                  else (ts - self.node.after, ts + self.node.before))
        matched = False
        other = self.sides[1 - side]
        partners = other.get(bk)
        if partners:
            first = bisect.bisect_left(partners, lo, key=_TIME)
            joiner, emit = self.node.joiner, self.emit
            flag = self.keep[1 - side]  # only partners that may be emitted unmatched
            for entry in partners[first:bisect.bisect_right(partners, hi, key=_TIME)]:
                if flag and not entry[2]:
                    entry[2] = True
                    other.put(bk, partners)
                matched = True
                emit(key, joiner(value, entry[1]) if side == 0 else joiner(entry[1], value), ts)
        own = self.sides[side]
        entries = own.get(bk) or []
        if not entries or ts < entries[0][0]:
            heapq.heappush(self.expiry, (ts + self.reach[side], side, bk))
        bisect.insort_right(entries, [ts, value, matched], key=_TIME)
        own.put(bk, entries)
        if self.expiry[0][0] < self.stream_time:
            self._expire()

    def _expire(self) -> None:
        """Purge (and emit, if unmatched and kept) every record whose window has passed."""
        expiry, now = self.expiry, self.stream_time
        while expiry and expiry[0][0] < now:
            _, side, bk = heapq.heappop(expiry)
            store, reach = self.sides[side], self.reach[side]
            entries = store.get(bk) or []
            cut = bisect.bisect_left(entries, now - reach, key=_TIME)
            if self.keep[side]:
                for t, value, matched in entries[:cut]:
                    if not matched:
                        pair = (value, None) if side == 0 else (None, value)
                        self.emit(bk[1:], self.node.joiner(*pair), t)
            rest = entries[cut:]
            store.put(bk, rest or None)
            if rest:
                heapq.heappush(expiry, (rest[0][0] + reach, side, bk))

    def idle(self, elapsed_ms: int) -> None:
        """Wall-clock idle time moves stream time on, so unmatched records still expire."""
        self.stream_time = max(self.stream_time, self.last_record_time + elapsed_ms)
        self._expire()
