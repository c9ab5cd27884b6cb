"""The log protocol the runtime programs against. Embedded and Kafka logs implement it.

The runtime hands every commit to `Transport.commit` as one CommitBatch (outputs in order
plus the input positions they consumed); the embedded log writes it as one atomic
WriteBatch, a Kafka log produces, waits for acks, then commits the offsets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from engine.api import Headers, OutRecord, TopicPartition
from engine.transport.partitioner import Partitioner

RecordTuple = tuple[int, bytes | None, bytes | None, int, Headers | None]


@dataclass(frozen=True)
class StateWrite:
    """One task's changes to one store: (backend key, bytes or None) pairs, keys prefixed by
    the 4-byte partition; `n` is how many records the task had run when it made them (a
    restore from a changelog keeps, per key, the change with the largest n up to the
    committed one)."""

    store: str
    partition: int
    changes: list[tuple[bytes, bytes | None]]
    n: int


def changelog_topic(store: str) -> str:
    """The changelog topic of a (pipeline-qualified) store."""
    return f"{store}-changelog"


def progress_topic(group: str) -> str:
    """Where a group's tasks save their progress on a log whose offset commits cannot carry
    it (Kafka): one record per commit and task, keyed by the task id."""
    return f"{group}.progress"


Routed = tuple[str, int | None, list[OutRecord]]
"""Records for a topic, in a given partition (None: the log routes each by its key)."""


@dataclass
class CommitBatch:
    """What one commit makes durable, all or nothing where the log allows it: outputs, the
    state changes they go with, the input positions they consumed, and each task's progress
    (how far its inputs' lanes got, what it told its readers)."""

    outputs: list[Routed] = field(default_factory=list)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    state: list[StateWrite] = field(default_factory=list)
    progress: dict[str, tuple[dict[TopicPartition, int], bytes]] = field(default_factory=dict)
    """task id -> (the task's positions in this batch, its progress)"""
    purge: dict[TopicPartition, int] = field(default_factory=dict)
    """Internal-topic partitions whose records below the offset were consumed for good
    (committed by their only reader): the log deletes them where it can."""


@dataclass(frozen=True)
class TopicDescription:
    """A topic's partitions (their end offsets) and each group's committed positions."""

    topic: str
    end_offsets: list[int]
    groups: dict[str, list[int]]

    def lag(self, group: str) -> int:
        """Records of this topic that `group` has not committed yet."""
        positions = self.groups.get(group, [0] * len(self.end_offsets))
        return sum(end - pos for end, pos in zip(self.end_offsets, positions, strict=True))


class AssignmentListener(Protocol):
    """Told which partitions this worker owns (all of them on the embedded log)."""

    async def on_assigned(self, partitions: list[TopicPartition]) -> None: ...

    async def on_revoked(self, partitions: list[TopicPartition]) -> None: ...


class Consumer(Protocol):
    """Reads assigned partitions from positions the listener sets with `seek`."""

    positions: dict[TopicPartition, int]

    async def subscribe(self, topics: list[str], listener: AssignmentListener) -> None: ...

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    async def poll(self, max_records: int) -> dict[TopicPartition, list[RecordTuple]]: ...

    def caught_up(self) -> bool:
        """True when every assigned partition has been read to its end."""
        ...

    def ends(self) -> dict[TopicPartition, int]:
        """The end offset of each assigned partition, where the log told it (fresh)."""
        ...

    async def close(self) -> None: ...


class PartitionReader(Protocol):
    """Reads given partitions from their beginning, outside any group (global tables)."""

    async def poll(self, max_records: int) -> dict[TopicPartition, list[RecordTuple]]:
        """What has arrived since the last poll (up to `max_records` per partition), at
        once: an empty dict when nothing is new."""
        ...

    async def close(self) -> None: ...


class Transport(Protocol):
    """A partitioned, replayable log with consumer-group offsets."""

    name: str
    exactly_once: bool
    changelogs: bool
    partitioner: Partitioner
    on_event: Callable[[str], None] | None  # where to say what a user should know

    async def create_topic(self, topic: str, partitions: int, compact: bool = False,
                           retention_ms: int | None = None) -> None:
        """Create `topic`; compact=True keeps the latest record per key (changelogs);
        retention_ms: how long the broker keeps records (None: its default)."""
        ...

    async def topics(self) -> dict[str, int]: ...

    async def describe_topic(self, topic: str) -> TopicDescription: ...

    async def end_offsets(self, topic: str) -> list[int]: ...

    async def start_offsets(self, topic: str) -> list[int]:
        """The first offset each partition of `topic` still holds (records below it were
        deleted: consumed internal records, or retention)."""
        ...

    async def committed(self, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        ...

    async def progress(self, group: str, tasks: dict[str, dict[TopicPartition, int]]
                       ) -> dict[str, bytes]:
        """The saved progress of each task (given its committed positions) that has any."""
        ...

    async def read(self, tp: TopicPartition, offset: int, max_records: int) -> list[RecordTuple]:
        ...

    def consumer(self, group: str, partitions: frozenset[int] | None = None) -> Consumer:
        """A member of `group`; partitions: own only these partitions of every topic (local
        logs: in-process workers sharing one log) instead of what the group assigns."""
        ...

    def partition_reader(self, tps: list[TopicPartition]) -> PartitionReader: ...

    async def produce(self, topic: str, records: list[OutRecord]) -> None: ...

    async def commit(self, group: str, batch: CommitBatch) -> None: ...

    async def read_changelog(self, store: str, partition: int, committed_n: int
                             ) -> list[tuple[bytes, bytes | None]]:
        """A store partition's changes as of the committed progress: per key, the last one
        made by at most `committed_n` records (only where `changelogs` is true)."""
        ...

    async def close(self) -> None: ...


async def read_range(log: Transport, tp: TopicPartition, start: int, end: int,
                     chunk: int = 10_000) -> AsyncIterator[list[RecordTuple]]:
    """The records of `tp` from offset `start` up to `end` (exclusive), a chunk at a time."""
    while start < end:
        batch = await log.read(tp, start, min(chunk, end - start))
        if not batch:
            return
        yield batch
        start = batch[-1][0] + 1


async def read_partitions(log: Transport, topic: str) -> list[list[RecordTuple]]:
    """Every record of `topic`, per partition, up to the end offsets it has now."""
    out: list[list[RecordTuple]] = []
    for partition, end in enumerate(await log.end_offsets(topic)):
        records: list[RecordTuple] = []
        async for batch in read_range(log, (topic, partition), 0, end):
            records += batch
        out.append(records)
    return out
