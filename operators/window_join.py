"""Stream-stream joins within a time window, with Kafka Streams semantics.

A left record at tl and a right record at tr join when tl - before <= tr <= tl + after (an
interval join), when both fall in the same tumbling window [ws, ws + size) (a window join), or
when tl - before <= tr <= until(left) (bounds from the left record's fields: an auction and
its bids up to its `expires`); the joined result carries the later of the two times. Both
sides are buffered per key (stores `<name>.left` / `<name>.right`, key b"k" + record key ->
[[t, value, matched], ...] sorted by t), so a lookup is one point read that the store's cache
usually answers. Each arrival first expires what its stream time closes, then joins every
buffered partner at once. A record expires once stream time passes its deadline (its last
possible partner's time + grace): then, for left/outer joins, an unmatched record is emitted
with a None partner (never earlier, never twice; at its own time) and it is purged. A record
that arrives when some partner it could have had may be gone is late.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from operator import itemgetter
from typing import Any, NoReturn

from engine.api import callable_name
from engine.api.errors import LateRecord
from engine.api.processor import (
    Emit,
    Processor,
    ProcessorContext,
    require_key,
    require_value,
)
from engine.api.state import KeyValueStore
from engine.api.streamtime import StreamClock
from operators.join import Joiner, TwoSidedJoin

_TIME = itemgetter(0)
_WHAT = "a stream-stream join"
_EXPIRED = itemgetter(0, 1, 2)  # time, right (0) before left (1), key: Kafka Streams' order
FOREVER = 1 << 62


@dataclass(frozen=True, slots=True)
class WindowJoin(TwoSidedJoin):
    """left ⋈ right within [before, after] ms, in the same tumbling window of `window` ms
    (when > 0), or from left.t - before up to until(left) (when set); how = inner, left or
    outer."""

    joiner: Joiner
    how: str
    before: int
    after: int
    grace: int
    window: int = 0
    until: Callable[[Any], int] | None = None

    def deadline(self, ts: int, side: int, value: Any) -> int:
        """The last stream time at which a buffered record of `side` may meet a partner."""
        if self.window:
            return ts - ts % self.window + self.window - 1 + self.grace
        if self.until is not None:  # a later left may still reach back `before` from a right
            return (self.until(value) if side == 0 else ts + 2 * self.before) + self.grace
        return ts + (self.after if side == 0 else self.before) + self.grace

    def closes(self, ts: int, side: int, value: Any) -> int:
        """The last stream time at which a record of `side` may arrive (later: late)."""
        if self.until is not None:  # every partner it could have is still buffered
            return ts + (self.before if side == 0 else 0) + self.grace
        return self.deadline(ts, side, value)

    def bounds(self, ts: int, side: int, value: Any) -> tuple[int, int]:
        """The times a partner of a record of `side` at `ts` may have (inclusive; for a
        right record of an until= join, the left partners also need until(left) >= ts)."""
        if self.window:
            start = ts - ts % self.window
            return start, start + self.window - 1
        if self.until is not None:
            return ((ts - self.before, self.until(value)) if side == 0
                    else (-FOREVER, ts + self.before))
        return ((ts - self.before, ts + self.after) if side == 0
                else (ts - self.after, ts + self.before))

    @property
    def stores(self) -> tuple[str, ...]:
        return (f"{self.name}.left", f"{self.name}.right")

    def describe(self) -> dict[str, Any]:
        within = ({"window_ms": self.window} if self.window
                  else {"before_ms": self.before, "until": callable_name(self.until)}
                  if self.until is not None
                  else {"before_ms": self.before, "after_ms": self.after})
        return {"join": f"stream-stream {self.how}", **within, "grace_ms": self.grace}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        kind = BufferJoin if self.window or self.until is not None else IntervalJoin
        return kind(ctx.store(self.stores[0]), ctx.store(self.stores[1]), self, emit)


class BufferJoin(Processor):
    """The join's buffers, stream time and per side an expiry heap of (expires at, buffer
    key): a side whose records all live as long (an interval join's) pushes near the end of
    its own heap, not through the other side's."""

    def __init__(self, left: KeyValueStore, right: KeyValueStore, node: WindowJoin,
                 emit: Emit | None) -> None:
        self.sides, self.node, self.emit = (left, right), node, emit
        self.clock = StreamClock(left)
        self.deadline = node.deadline
        keep = emit is not None
        self.keep = (keep and node.how != "inner", keep and node.how == "outer")
        self.expiry: tuple[list[tuple[int, bytes]], ...] = ([], [])
        for side, store in enumerate(self.sides):
            heap = self.expiry[side]
            for bk, entries in store.items(b"k", b"l"):
                heap.append((min(self.deadline(t, side, v) for t, v, _ in entries), bk))
            heapify(heap)

    def due(self, now: int) -> bool:
        """True when a buffered record of either side expired before `now`."""
        left, right = self.expiry
        return bool((left and left[0][0] < now) or (right and right[0][0] < now))

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, _WHAT)
        require_value(value, _WHAT)
        now = self.clock.observe(ts)
        if self.due(now):
            self._expire(now)  # first, as Kafka Streams does (never a partner of this one)
        deadline = self.deadline(ts, side, value)
        closes = self.node.closes(ts, side, value)
        if closes < now:
            self._late(ts, now, closes)
        bk = b"k" + key
        partners = self.sides[1 - side].get(bk)
        matched = self._match(key, bk, partners, value, ts, side) if partners else False
        if deadline < now:  # an until= left whose window has ended: it met all it can
            if not matched and self.keep[side] and self.emit is not None:
                pair = (value, None) if side == 0 else (None, value)
                self.emit(key, self.node.joiner(*pair), ts, True)
            return
        own = self.sides[side]
        entries = own.get(bk) or []
        if not entries or ts < entries[0][0] or self.node.until is not None:
            heappush(self.expiry[side], (deadline, bk))
        bisect.insort_right(entries, [ts, value, matched], key=_TIME)
        own.put(bk, entries)

    def _late(self, ts: int, now: int, closes: int) -> NoReturn:
        """Count a late record and refuse it."""
        self.clock.late_by(now - closes + self.node.grace)
        raise LateRecord(f"event time {ts}: its join window closed (stream time "
                         f"{now}, grace {self.node.grace} ms)")

    def _match(self, key: bytes, bk: bytes, partners: list[list[Any]], value: Any, ts: int,
               side: int) -> bool:
        """Join `value` with every buffered partner (of key `bk`) in its window; True if
        there was one."""
        found = self._partners(partners, value, ts, side)
        if not found:
            return False
        joiner, emit = self.node.joiner, self.emit
        flag = self.keep[1 - side]  # only partners that may be emitted unmatched
        for entry in found:
            if flag and not entry[2]:
                entry[2] = True
                self.sides[1 - side].put(bk, partners)
            if emit is not None:
                t = entry[0]
                emit(key, joiner(value, entry[1]) if side == 0 else joiner(entry[1], value),
                     ts if ts > t else t)
        return True

    def _partners(self, partners: list[list[Any]], value: Any, ts: int, side: int
                  ) -> list[list[Any]]:
        """The buffered partners (in time order) a record of `side` at `ts` meets."""
        lo, hi = self.node.bounds(ts, side, value)
        first = bisect.bisect_left(partners, lo, key=_TIME)
        last = bisect.bisect_right(partners, hi, key=_TIME)
        found = partners[first:last]
        until = self.node.until
        if until is not None and side == 1:
            found = [entry for entry in found if until(entry[1]) >= ts]
        return found

    def _expire(self, now: int) -> None:
        """Purge every record whose window has passed; emit the unmatched ones of kept sides
        ordered as Kafka Streams' outer-join store orders them: by time, right before left,
        then key."""
        due: list[tuple[int, int, bytes, Any]] = []
        for side, heap in enumerate(self.expiry):
            store, keep, split = self.sides[side], self.keep[side], self._split
            while heap and heap[0][0] < now:
                bk = heappop(heap)[1]
                entries = store.get(bk) or []
                gone, rest = split(entries, side, now)
                if keep:
                    due.extend((t, 1 - side, bk, value) for t, value, matched in gone
                               if not matched)
                if len(rest) != len(entries):
                    store.put(bk, rest or None)
                if rest:
                    heappush(heap, (self._next_purge(rest, side), bk))
        if due and self.emit is not None:
            due.sort(key=_EXPIRED)
            joiner = self.node.joiner
            for t, left, bk, value in due:
                pair = (value, None) if left else (None, value)
                self.emit(bk[1:], joiner(*pair), t, True)

    def _next_purge(self, rest: list[list[Any]], side: int) -> int:
        """When to look at a key's buffer again: when its first record expires if that must
        be emitted unmatched; else once half of it has expired (a long buffer of a hot key is
        not copied once per expired record; expired records are never matched anyway)."""
        deadline = self.deadline
        if self.node.until is not None and side == 0:
            return min(deadline(t, side, v) for t, v, _ in rest)
        entry = rest[0] if self.keep[side] else rest[len(rest) // 2]
        return deadline(entry[0], side, entry[1])

    def _split(self, entries: list[list[Any]], side: int, now: int
               ) -> tuple[list[list[Any]], list[list[Any]]]:
        """The entries whose deadline has passed, and the rest (in time order)."""
        deadline = self.deadline
        if self.node.until is not None and side == 0:  # deadlines not in time order
            keep = [deadline(e[0], side, e[1]) >= now for e in entries]
            return ([e for e, k in zip(entries, keep, strict=True) if not k],
                    [e for e, k in zip(entries, keep, strict=True) if k])
        cut = bisect.bisect_left(entries, now, key=lambda e: deadline(e[0], side, e[1]))
        return entries[:cut], entries[cut:]

    def before_commit(self) -> None:
        self.clock.save()

    def idle(self, elapsed_ms: int) -> None:
        """Wall-clock idle time moves stream time on, so unmatched records still expire."""
        self.clock.idle(elapsed_ms)
        self._expire(self.clock.now)

    def finish(self) -> None:
        """The input ended: every buffered record has seen all its partners."""
        self._expire(FOREVER)

    def lateness(self) -> tuple[int, int, int]:
        return self.clock.lateness()


class IntervalJoin(BufferJoin):
    """An interval join (the common case), its bounds computed inline: per side, how far
    past its own time a record stays buffered (`span`, grace included) and the partner
    times it meets around its own (`within`)."""

    def __init__(self, left: KeyValueStore, right: KeyValueStore, node: WindowJoin,
                 emit: Emit | None) -> None:
        super().__init__(left, right, node, emit)
        self.span = (node.after + node.grace, node.before + node.grace)
        self.within = ((node.before, node.after), (node.after, node.before))
        self.gets = (left.get, right.get)

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        if key is None or value is None:
            key = require_key(key, _WHAT)
            require_value(value, _WHAT)
        clock = self.clock  # StreamClock.observe, inline
        clock.seen += 1
        if ts > clock.now:
            clock.now = ts
        now = clock.last_record = clock.now
        left, right = self.expiry
        if (left and left[0][0] < now) or (right and right[0][0] < now):  # self.due(now)
            self._expire(now)  # first, as Kafka Streams does (never a partner of this one)
        deadline = ts + self.span[side]
        if deadline < now:
            self._late(ts, now, deadline)
        bk = b"k" + key
        partners = self.gets[1 - side](bk)
        matched = self._match(key, bk, partners, value, ts, side) if partners else False
        own = self.sides[side]
        entries = self.gets[side](bk)
        if not entries:
            heappush(self.expiry[side], (deadline, bk))
            entries = [[ts, value, matched]]
        elif ts >= entries[-1][0]:
            entries.append([ts, value, matched])
        else:
            if ts < entries[0][0]:
                heappush(self.expiry[side], (deadline, bk))
            bisect.insort_right(entries, [ts, value, matched], key=_TIME)
        own.put(bk, entries)

    def _partners(self, partners: list[list[Any]], value: Any, ts: int, side: int
                  ) -> list[list[Any]]:
        """Partners within [ts - before, ts + after] of a left record (a right one's
        mirrored)."""
        back, ahead = self.within[side]
        lo, hi = ts - back, ts + ahead
        if len(partners) == 1:  # the common case: no bisection, no copy
            return partners if lo <= partners[0][0] <= hi else []
        return partners[bisect.bisect_left(partners, lo, key=_TIME):
                        bisect.bisect_right(partners, hi, key=_TIME)]

    def _next_purge(self, rest: list[list[Any]], side: int) -> int:
        t: int = (rest[0] if self.keep[side] else rest[len(rest) // 2])[0]
        return t + self.span[side]

    def _split(self, entries: list[list[Any]], side: int, now: int
               ) -> tuple[list[list[Any]], list[list[Any]]]:
        limit = now - self.span[side]  # the first time still to be kept
        if not entries or entries[-1][0] < limit:
            return entries, []
        cut = bisect.bisect_left(entries, limit, key=_TIME)
        return entries[:cut], entries[cut:]
