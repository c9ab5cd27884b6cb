"""Hopping windows computed from panes: one accumulator per key and pane (an `advance`-long
slice of time) instead of one per key and window, so a record costs one update however many
windows contain it (size / advance of them). A window's result is the merge of its panes,
computed when it closes (Flink's window slicing).

Used for hopping windows that emit 'final' with an aggregator whose result does not depend
on the order of its inputs (`Aggregator.commutative`: count, sum, min, max, mean) and a size
that is a multiple of the advance; results equal the per-window computation (float sums up
to rounding: they add in pane order). Panes live in
the store `<name>.panes`; closed windows go to the table's store as the per-window
aggregator writes them (queryable until their retention), so open windows are not queryable
before they close.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from engine.api.errors import LateRecord
from engine.api.keys import key_reader
from engine.api.processor import Emit, Processor, WindowResult, require_key
from engine.api.state import META, KeyValueStore, releaser, split_window_key, window_key
from engine.api.streamtime import StreamClock
from operators.windowing import Closed

if TYPE_CHECKING:
    from operators.aggregate import WindowAggregate

FOREVER = 1 << 62


class PaneAggregator(Processor):
    """panes[(key, pane start)] = (acc, latest time); windows due by end in a heap."""

    def __init__(self, store: KeyValueStore, panes: KeyValueStore, node: WindowAggregate,
                 emit: Emit | None) -> None:
        self.store, self.panes, self.node, self.emit = store, panes, node, emit
        self.agg = node.aggregator
        self.size, self.advance, self.grace = node.windows.size, node.windows.advance, node.grace
        self.key_text = key_reader(node.key_type)
        self.clock = StreamClock(store)
        self.due: list[tuple[int, bytes]] = []  # (window end, window key), not yet emitted
        self.pending: set[bytes] = set()
        self.release = releaser(store)
        self.closed = Closed()
        for wk, entry in store.items(None, META):
            self.closed.add(entry[3], wk)
        for pk, _ in panes.items(None, META):
            key, start = split_window_key(pk)
            self._schedule(key, start)

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a windowed aggregation")
        now = self.clock.observe(ts)
        start = ts - ts % self.advance
        if now >= start + self.size + self.grace:  # every window holding ts has closed
            self.clock.late_by(now - start - self.size + 1)
            raise LateRecord(f"event time {ts} is behind stream time {now} by more than the "
                             f"window size plus grace ({self.grace} ms)")
        pk = window_key(key, start)
        entry = self.panes.get(pk)
        if entry is None:
            self.panes.put(pk, (self.agg.add(self.agg.initial(), value), ts))
            self._schedule(key, start)
        else:
            self.panes.put(pk, (self.agg.add(entry[0], value), max(ts, entry[1])))
        if self.due and self.due[0][0] + self.grace <= now:
            self._close(now)

    def _schedule(self, key: bytes, pane: int) -> None:
        """Every window holding the pane that is still open and not yet scheduled."""
        now = self.clock.now
        for start in range(max(0, pane - self.size + self.advance), pane + 1, self.advance):
            end = start + self.size
            wk = window_key(key, start)
            if end + self.grace > now and wk not in self.pending \
                    and self.store.get(wk) is None:  # not closed already (a drained run)
                self.pending.add(wk)
                heapq.heappush(self.due, (end, wk))

    def _close(self, now: int) -> None:
        """Emit every window whose end + grace has passed `now`, merged from its panes; a
        window's first pane is then no longer needed."""
        while self.due and self.due[0][0] + self.grace <= now:
            end, wk = heapq.heappop(self.due)
            self.pending.discard(wk)
            key, start = split_window_key(wk)
            merged, latest = self._merged(key, start)
            self.panes.delete(window_key(key, start))
            if merged is None:
                continue
            self.store.put(wk, (merged, True, latest, end))
            self.release(wk)
            self.closed.add(end, wk)
            if self.emit is not None:
                self.emit(key, WindowResult(self.key_text(key), start, end,
                                            self.agg.result(merged)), latest, True)
        for wk in self.closed.expired(self.clock.now - self.node.retention):
            self.store.delete(wk)
            self.release(wk)

    def _merged(self, key: bytes, start: int) -> tuple[Any, int]:
        """The merge of the window's panes (None: it has none), and its latest time."""
        merge = self.agg.merge
        assert merge is not None
        merged, latest = None, 0
        for pane in range(start, start + self.size, self.advance):
            entry = self.panes.get(window_key(key, pane))
            if entry is not None:
                merged = entry[0] if merged is None else merge(merged, entry[0])
                latest = max(latest, entry[1])
        return merged, latest

    def before_commit(self) -> None:
        self.clock.save()

    def idle(self, elapsed_ms: int) -> None:
        self.clock.idle(elapsed_ms)
        self._close(self.clock.now)

    def finish(self) -> None:
        self._close(FOREVER)

    def lateness(self) -> tuple[int, int, int]:
        return self.clock.lateness()
