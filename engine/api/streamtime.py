"""One stream clock for windows, sessions and joins: the largest event time a processor has
seen, persisted with its commits, moved on by wall-clock idleness; and its late records."""

from __future__ import annotations

from engine.api.state import KeyValueStore, meta_key

CLOCK = meta_key("clock")
NEVER = -(1 << 62)  # stream time before any record


class StreamClock:
    """Stream time and lateness counters of one processor, kept in `store` under CLOCK."""

    def __init__(self, store: KeyValueStore) -> None:
        self.store = store
        stored = store.get(CLOCK)
        saved: tuple[int, int, int, int] = (NEVER, 0, 0, 0) if stored is None else stored
        self.now, self.seen, self.late, self.needed = saved
        self.last_record = self.now

    def observe(self, ts: int) -> int:
        """Count a record at event time `ts`; returns the stream time after it."""
        self.seen += 1
        if ts > self.now:
            self.now = ts
        self.last_record = self.now
        return self.now

    def late_by(self, ms: int) -> None:
        """Count a late record that a grace of `ms` would have kept."""
        self.late += 1
        if ms > self.needed:
            self.needed = ms

    def idle(self, elapsed_ms: int) -> None:
        """Wall-clock idleness: stream time moves to the last record's plus `elapsed_ms`."""
        self.now = max(self.now, self.last_record + elapsed_ms)

    def save(self) -> None:
        """Persist with the coming commit (once per commit, not per record)."""
        self.store.put(CLOCK, (self.now, self.seen, self.late, self.needed))

    def lateness(self) -> tuple[int, int, int]:
        """(records seen, late, the grace that would have kept them all)."""
        return self.seen, self.late, self.needed
