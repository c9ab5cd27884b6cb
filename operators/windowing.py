"""What windowed aggregations share: the windowed node's facts, and the book of its windows.

Every windowed store keeps `window_key(key, start) -> (accumulator, closed, max event time,
end)`. A window closes once stream time passes its end plus the processor's span (grace,
and for sessions the gap too); 'final' emits it then, as an expired result carrying its max
event time. Closed windows stay queryable until end + retention, then are deleted; the
store is told it may drop them from its cache (`releaser`), so memory holds the open ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from engine.api.aggregators import Aggregator
from engine.api.keys import key_reader
from engine.api.nodes import TableNode
from engine.api.processor import Emit, WindowResult
from engine.api.state import META, KeyValueStore, releaser, split_window_key, window_keys
from engine.api.streamtime import StreamClock

Entry = tuple[Any, bool, int, int]  # accumulator, closed, max event time, end
FOREVER = 1 << 62


class WindowedNode(TableNode):
    """A windowed aggregation: its table is keyed by (key, window start)."""

    __slots__ = ()
    aggregator: Aggregator
    grace: int
    emit_mode: str
    retention: int

    @property
    def windowed(self) -> bool:
        return True

    def window_end(self, start: int, stored: Any) -> int:
        return int(stored[3])

    def table_value(self, stored: Any) -> Any:
        return self.aggregator.result(stored[0])

    def table_time(self, stored: Any) -> int:
        return int(stored[2])


class Closed:
    """Closed windows kept until their retention is up, by end: the keys of the windows
    ending together (tumbling, hopping) are packed into one bytearray under one heap entry,
    so the book costs about the key's bytes per window."""

    def __init__(self) -> None:
        self.ends: list[int] = []  # a heap of the distinct ends
        self.keys: dict[int, bytearray] = {}  # end -> its window keys, concatenated

    def __len__(self) -> int:
        return len(self.ends)

    def add(self, end: int, wk: bytes) -> None:
        """Keep the window `wk` ending at `end`."""
        keys = self.keys.get(end)
        if keys is None:
            self.keys[end] = bytearray(wk)
            heapq.heappush(self.ends, end)
        else:
            keys += wk

    def expired(self, before: int) -> Iterator[bytes]:
        """Take the windows ending at or before `before`, by end then key."""
        while self.ends and self.ends[0] <= before:
            yield from sorted(window_keys(self.keys.pop(heapq.heappop(self.ends))))


class WindowBook:
    """Open and closed windows of one processor (heaps by end) over its store."""

    def __init__(self, store: KeyValueStore, node: WindowedNode, clock: StreamClock,
                 span: int, emit: Emit | None) -> None:
        self.store, self.clock, self.span = store, clock, span
        self.emit = emit if node.emit_mode == "final" else None
        self.result, self.retention = node.aggregator.result, node.retention
        self.key_text = key_reader(node.key_type)
        self.release = releaser(store)
        self.open: list[tuple[int, bytes]] = []
        self.closed = Closed()
        for wk, entry in store.items(None, META):
            if entry[1]:
                self.closed.add(entry[3], wk)
            else:
                self.open.append((entry[3], wk))
        heapq.heapify(self.open)

    def opened(self, end: int, wk: bytes) -> None:
        """Track a window that was created or grew to `end`."""
        heapq.heappush(self.open, (end, wk))

    def due(self) -> bool:
        """True when a window's time is up (a cheap test before close_due)."""
        return bool(self.open) and self.open[0][0] + self.span < self.clock.now

    def close_due(self) -> None:
        """Close the windows whose end + span is behind stream time; purge old ones."""
        self._close(self.clock.now - self.span)

    def close_all(self) -> None:
        """The input ended: close every open window now (stream time stays as it is)."""
        self._close(FOREVER)

    def _close(self, before: int) -> None:
        store = self.store
        while self.open and self.open[0][0] < before:
            end, wk = heapq.heappop(self.open)
            entry = store.get(wk)
            if entry is None or entry[1] or entry[3] != end:
                continue  # merged away, grown since, or already closed
            store.put(wk, (entry[0], True, entry[2], end))
            self.release(wk)
            self.closed.add(end, wk)
            if self.emit is not None:
                key, start = split_window_key(wk)
                self.emit(key, WindowResult(self.key_text(key), start, end,
                                            self.result(entry[0])), entry[2], True)
        if self.closed:
            for wk in self.closed.expired(self.clock.now - self.retention):
                store.delete(wk)
                self.release(wk)
