"""Shared core of the single-process logs (embedded RocksDB and in-memory).

Topic metadata, end offsets, committed offsets and tasks' progress live in memory here; a
subclass makes each commit durable with `_store`, all of it or none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from engine.api import ConfigError, OutRecord, TopicPartition, UnknownTopicError
from engine.transport.base import (
    AssignmentListener,
    CommitBatch,
    RecordTuple,
    Routed,
    StateWrite,
    TopicDescription,
)
from engine.transport.partitioner import Partitioner

Append = tuple[int, int, int, OutRecord]  # topic id, partition, offset, record
StateChanges = list[StateWrite]
Progress = dict[tuple[str, str], bytes]  # (group, task id) -> the task's saved progress


@dataclass(frozen=True)
class TopicMeta:
    """A topic's stable numeric id and partition count."""

    id: int
    partitions: int


class LocalLog:
    """Partitioned topics with offsets, committed atomically by `_store`."""

    name = "embedded"
    exactly_once = True
    changelogs = False

    def __init__(self) -> None:
        self.meta: dict[str, TopicMeta] = {}
        self.ends: dict[tuple[int, int], int] = {}
        self.offsets: dict[tuple[str, str, int], int] = {}
        self.saved: Progress = {}
        self.partitioner = Partitioner()
        self.on_event: Callable[[str], None] | None = None

    # -- storage hooks -------------------------------------------------------------------
    def _store(self, appends: Iterator[Append], ends: dict[tuple[int, int], int],
               offsets: dict[tuple[str, str, int], int], new_topics: dict[str, TopicMeta],
               state: StateChanges, progress: Progress) -> None:
        raise NotImplementedError

    def _read(self, topic_id: int, partition: int, start: int, stop: int) -> list[RecordTuple]:
        """Records [start, stop) of a partition (from its first kept one, if later)."""
        raise NotImplementedError

    # -- topics --------------------------------------------------------------------------
    def _meta(self, topic: str) -> TopicMeta:
        meta = self.meta.get(topic)
        if meta is None:
            raise UnknownTopicError(topic)
        return meta

    async def create_topic(self, topic: str, partitions: int, compact: bool = False,
                           retention_ms: int | None = None) -> None:
        """Create `topic`; a no-op when it exists with the same partition count. (Local logs
        keep every record: `compact` and `retention_ms` change nothing here.)"""
        if partitions < 1:
            raise ConfigError(f"topic '{topic}' needs at least 1 partition, got {partitions}")
        existing = self.meta.get(topic)
        if existing is not None:
            if existing.partitions != partitions:
                raise ConfigError(f"topic '{topic}' exists with {existing.partitions} "
                                  f"partitions, not {partitions}")
            return
        meta = TopicMeta(max((m.id for m in self.meta.values()), default=0) + 1, partitions)
        self._store(iter(()), {}, {}, {topic: meta}, [], {})
        self.meta[topic] = meta

    async def topics(self) -> dict[str, int]:
        """Every topic with its partition count."""
        return {name: m.partitions for name, m in sorted(self.meta.items())}

    async def describe_topic(self, topic: str) -> TopicDescription:
        """Partitions with their end offsets, and every group's committed positions."""
        ends = await self.end_offsets(topic)
        groups: dict[str, list[int]] = {}
        for (group, name, p), position in sorted(self.offsets.items()):
            if name == topic and group:
                groups.setdefault(group, [0] * len(ends))[p] = position
        return TopicDescription(topic, ends, groups)

    async def end_offsets(self, topic: str) -> list[int]:
        """Offset after the last record of each partition of `topic`."""
        meta = self._meta(topic)
        return [self.ends.get((meta.id, p), 0) for p in range(meta.partitions)]

    async def start_offsets(self, topic: str) -> list[int]:
        """The first offset each partition of `topic` still holds."""
        meta = self._meta(topic)
        return [self._first(meta.id, p) for p in range(meta.partitions)]

    def _first(self, topic_id: int, partition: int) -> int:
        return 0

    async def committed(self, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Committed positions of `group` (0 where it never committed)."""
        return {tp: self.offsets.get((group, tp[0], tp[1]), 0) for tp in tps}

    async def progress(self, group: str, tasks: dict[str, dict[TopicPartition, int]]
                       ) -> dict[str, bytes]:
        """Each task's progress, saved in the same write as its positions."""
        return {task: found for task in tasks
                if (found := self.saved.get((group, task))) is not None}

    async def read(self, tp: TopicPartition, offset: int, max_records: int) -> list[RecordTuple]:
        """Up to `max_records` records of a partition from `offset`."""
        meta = self._meta(tp[0])
        stop = min(self.ends.get((meta.id, tp[1]), 0), offset + max_records)
        return self._read(meta.id, tp[1], offset, stop) if stop > offset else []

    def partition_reader(self, tps: list[TopicPartition]) -> LocalConsumer:
        """A reader of `tps` from their first records."""
        reader = LocalConsumer(self)
        for tp in tps:
            reader.seek(tp, 0)
        return reader

    def consumer(self, group: str, partitions: frozenset[int] | None = None) -> LocalConsumer:
        """A consumer that owns every partition (or `partitions`) of the topics it
        subscribes to."""
        return LocalConsumer(self, partitions)

    # -- writes --------------------------------------------------------------------------
    def _appends(self, outputs: list[Routed],
                 ends: dict[tuple[int, int], int]) -> Iterator[Append]:
        part = self.partitioner
        for topic, partition, records in outputs:
            meta = self._meta(topic)
            n, tid = meta.partitions, meta.id
            for record in records:
                p = partition if partition is not None else part.partition(topic, record[0], n)
                slot = (tid, p)
                off = ends.get(slot)
                if off is None:
                    off = self.ends.get(slot, 0)
                ends[slot] = off + 1
                yield tid, p, off, record

    async def produce(self, topic: str, records: list[OutRecord]) -> None:
        """Append records to `topic` (partition by key), durably and at once."""
        await self.commit("", CommitBatch(outputs=[(topic, None, records)]))

    async def commit(self, group: str, batch: CommitBatch) -> None:
        """Append the outputs and record the group's positions and its tasks' progress in
        one atomic write."""
        ends: dict[tuple[int, int], int] = {}
        offsets = {(group, t, p): off for (t, p), off in batch.positions.items()}
        progress = {(group, task): raw for task, (_, raw) in batch.progress.items()}
        for topic, _, _ in batch.outputs:
            self._meta(topic)
        self._store(self._appends(batch.outputs, ends), ends, offsets, {}, batch.state,
                    progress)
        self.ends.update(ends)
        self.offsets.update(offsets)
        self.saved.update(progress)
        if batch.purge:
            self._purge({(self._meta(t).id, p): off for (t, p), off in batch.purge.items()})

    def _purge(self, below: dict[tuple[int, int], int]) -> None:
        """Delete records below these offsets where the log can (here: nowhere)."""

    async def read_changelog(self, store: str, partition: int, committed_n: int
                             ) -> list[tuple[bytes, bytes | None]]:
        """No changelogs here: state is written with the commit itself."""
        return []

    async def close(self) -> None:
        """Release resources; the base keeps none."""


class LocalConsumer:
    """Reads every partition of its topics from positions set by `seek`."""

    def __init__(self, log: LocalLog, partitions: frozenset[int] | None = None) -> None:
        self.log = log
        self.owned = partitions
        self.positions: dict[TopicPartition, int] = {}

    async def subscribe(self, topics: list[str], listener: AssignmentListener) -> None:
        """Assign all partitions of `topics` (or those owned) to this consumer."""
        tps = [(t, p) for t in topics for p in range(self.log._meta(t).partitions)
               if self.owned is None or p in self.owned]
        for tp in tps:
            self.positions.setdefault(tp, 0)
        await listener.on_assigned(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Next offset to read from `tp`."""
        self.positions[tp] = offset

    async def poll(self, max_records: int) -> dict[TopicPartition, list[RecordTuple]]:
        """Up to `max_records` records per partition that has any."""
        batches: dict[TopicPartition, list[RecordTuple]] = {}
        for tp, pos in self.positions.items():
            records = await self.log.read(tp, pos, max_records)
            if records:
                batches[tp] = records
                self.positions[tp] = records[-1][0] + 1
        return batches

    def caught_up(self) -> bool:
        """True when every position is at its partition's end."""
        ends = self.ends()
        return all(pos >= ends[tp] for tp, pos in self.positions.items())

    def ends(self) -> dict[TopicPartition, int]:
        """Every assigned partition's end (one process writes the log: always fresh)."""
        log = self.log
        return {(t, p): log.ends.get((log._meta(t).id, p), 0) for t, p in self.positions}

    async def close(self) -> None:
        """Nothing to release."""
