"""An in-memory log for the test driver: the embedded log's semantics, no files."""

from __future__ import annotations

from collections.abc import Iterator

from engine.transport.base import RecordTuple
from engine.transport.local import Append, LocalLog, Progress, StateChanges, TopicMeta


class MemoryLog(LocalLog):
    """Keeps records in lists; a commit is applied whole or not at all."""

    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.partitions: dict[tuple[int, int], list[RecordTuple]] = {}
        self.state: dict[str, dict[bytes, bytes]] = {}

    def state_dict(self, store: str) -> dict[bytes, bytes]:
        """The committed bytes of `store` (shared with the store backend that reads it)."""
        return self.state.setdefault(store, {})

    def _store(self, appends: Iterator[Append], ends: dict[tuple[int, int], int],
               offsets: dict[tuple[str, str, int], int], new_topics: dict[str, TopicMeta],
               state: StateChanges, progress: Progress) -> None:
        staged = [(tid, p, (off, k, v, ts, h)) for tid, p, off, (k, v, ts, h) in appends]
        for tid, p, record in staged:
            self.partitions.setdefault((tid, p), []).append(record)
        for write in state:
            data = self.state_dict(write.store)
            for key, value in write.changes:
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value

    def _read(self, topic_id: int, partition: int, start: int, stop: int) -> list[RecordTuple]:
        return self.partitions.get((topic_id, partition), [])[start:stop]
