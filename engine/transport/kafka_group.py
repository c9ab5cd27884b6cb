"""Kafka consumers: the co-partitioning assignor, the group consumer and the group-less
partition reader."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

from engine.api import TopicPartition as TP
from engine.transport.base import AssignmentListener, RecordTuple

CLOSE_WAIT_S = 2.0


def records_of(fetched: list[Any]) -> list[RecordTuple]:
    """aiokafka's consumer records as the transport's record tuples."""
    return [(r.offset, r.key, r.value, r.timestamp, list(r.headers) or None) for r in fetched]

class CoPartitionAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Gives partition p of every subscribed topic to the same member, so a task (one
    partition of one sub-topology, across all its source topics) is never split; and keeps
    each member's previous partitions where the balance allows (`sticky_owners`), so a
    rebalance moves as few tasks as it can. A member sends the partitions it held last
    (`previous`) in its subscription's user data."""

    name = "shoal-copartition"
    version = 0

    def __init__(self, previous: Callable[[], Iterable[int]] = tuple) -> None:
        self.previous = previous

    @classmethod
    def assign(cls, cluster: Any, members: Mapping[str, ConsumerProtocolMemberMetadata]
               ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = sorted({t for m in members.values() for t in m.subscription})
        counts = {t: len(cluster.partitions_for_topic(t) or ()) for t in topics}
        held = {m: _partitions_of(meta.user_data) for m, meta in members.items()}
        plan: dict[str, dict[str, list[int]]] = {m: defaultdict(list) for m in members}
        for p, owner in enumerate(sticky_owners(max(counts.values(), default=0), held)):
            for topic in topics:
                if p < counts[topic] and topic in members[owner].subscription:
                    plan[owner][topic].append(p)
        return {m: ConsumerProtocolMemberAssignment(cls.version, sorted(a.items()), b"")
                for m, a in plan.items()}

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        held = sorted(self.previous())
        return ConsumerProtocolMemberMetadata(self.version, sorted(topics),
                                              b",".join(str(p).encode() for p in held))

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        """The assignor keeps no state (the group consumer records what it got)."""


def sticky_owners(width: int, held: Mapping[str, set[int]]) -> list[str]:
    """The owner of each of partitions 0..width-1: balanced (counts differ by at most one;
    members holding more get the larger shares), each member keeping as many of the
    partitions it `held` as its share allows, the rest handed out in order. Deterministic:
    every member computing it gets the same answer."""
    order = sorted(held, key=lambda m: (-len({p for p in held[m] if p < width}), m))
    base, extra = divmod(width, len(order)) if order else (0, 0)
    quota = {m: base + (i < extra) for i, m in enumerate(order)}
    owners: list[str | None] = [None] * width
    for m in order:
        for p in sorted(held[m]):
            if p < width and owners[p] is None and quota[m] > 0:
                owners[p], quota[m] = m, quota[m] - 1
    free = iter(p for p in range(width) if owners[p] is None)
    for m in order:
        for _ in range(quota[m]):
            owners[next(free)] = m
    return [m for m in owners if m is not None]


def _partitions_of(user_data: bytes | None) -> set[int]:
    """The partitions a member says it held (none when it says nothing readable)."""
    try:
        return {int(p) for p in (user_data or b"").split(b",") if p}
    except ValueError:
        return set()


class _Bridge(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forwards aiokafka's rebalance callbacks to the worker."""

    def __init__(self, consumer: GroupConsumer, listener: AssignmentListener) -> None:
        self.consumer = consumer
        self.listener = listener

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in revoked]
        await self.listener.on_revoked(tps)
        for tp in tps:
            self.consumer.positions.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        tps = sorted((tp.topic, tp.partition) for tp in assigned)
        self.consumer.previous = {p for _, p in tps}
        await self.listener.on_assigned(tps)
        self.consumer.assigned_once = True  # only now: restores above may take a while


class GroupConsumer:
    """A member of the pipeline's consumer group; positions are set by the worker."""

    def __init__(self, make: Callable[[], AIOKafkaConsumer],
                 start: Callable[[Callable[[], AIOKafkaConsumer]], Awaitable[AIOKafkaConsumer]]
                 ) -> None:
        self._make = make
        self._start = start
        self.consumer: AIOKafkaConsumer | None = None
        self.positions: dict[TP, int] = {}
        self.assigned_once = False
        self.previous: set[int] = set()  # partitions of the last assignment (sticky)

    async def subscribe(self, topics: list[str], listener: AssignmentListener) -> None:
        """Join the group; assignments arrive through `listener` while polling."""
        self.consumer = await self._start(self._make)
        self.consumer.subscribe(topics, listener=_Bridge(self, listener))

    @property
    def member(self) -> AIOKafkaConsumer:
        """The started aiokafka consumer."""
        if self.consumer is None:
            raise RuntimeError("subscribe() first")
        return self.consumer

    def seek(self, tp: TP, offset: int) -> None:
        """Next offset to read from `tp`."""
        self.member.seek(TopicPartition(*tp), offset)
        self.positions[tp] = offset

    async def poll(self, max_records: int) -> dict[TP, list[RecordTuple]]:
        """Up to `max_records` records of each assigned partition, partition by partition
        (aiokafka alone would drain one partition's prefetched data before the next, which
        sends event time back and forth through repartition topics). Waits at most 100 ms
        when nothing is buffered."""
        fetched: dict[TopicPartition, list[Any]] = {}
        for tp in list(self.positions):
            part = TopicPartition(*tp)
            fetched.update(await self._getmany(part, timeout_ms=0, max_records=max_records))
        if not any(fetched.values()):
            fetched = await self._getmany(timeout_ms=100, max_records=max_records)
        out: dict[TP, list[RecordTuple]] = {}
        for tp, records in fetched.items():
            key = (tp.topic, tp.partition)
            if key not in self.positions or not records:
                continue
            out[key] = records_of(records)
            self.positions[key] = records[-1].offset + 1
        return out

    async def _getmany(self, *parts: TopicPartition, timeout_ms: int, max_records: int
                       ) -> dict[TopicPartition, list[Any]]:
        """aiokafka's getmany, but never longer than its timeout and a moment: while a
        rebalance is in progress aiokafka waits for its end, and the worker must get its turn
        back meanwhile (a SIGTERM during a slow join ends the process within seconds)."""
        try:
            return dict(await asyncio.wait_for(
                self.member.getmany(*parts, timeout_ms=timeout_ms, max_records=max_records),
                timeout_ms / 1000 + 0.2))
        except TimeoutError:
            return {}

    def caught_up(self) -> bool:
        """True when every assigned partition is read up to its high watermark (from fetch
        responses, which Tansu reports correctly; ListOffsets may lag behind)."""
        if not self.assigned_once:
            return False
        for tp, position in self.positions.items():
            high = self.member.highwater(TopicPartition(*tp))
            if high is None or position < high:
                return False
        return True

    def ends(self) -> dict[TP, int]:
        """The high watermark of each assigned partition as the latest fetch response for
        it told (absent until one came: such a partition holds its task back)."""
        member = self.member
        out: dict[TP, int] = {}
        for tp in self.positions:
            high = member.highwater(TopicPartition(*tp))
            if high is not None:
                out[tp] = high
        return out

    async def commit(self, positions: dict[TP, int]) -> None:
        """Commit the group's positions (only those still assigned to this member)."""
        owned = {TopicPartition(*tp): off for tp, off in positions.items()
                 if tp in self.positions}
        if owned:
            await self.member.commit(owned)

    async def close(self) -> None:
        """Leave the group, waiting at most CLOSE_WAIT_S: in the middle of a rebalance
        aiokafka first waits for the broker's answer to its join (seconds); the positions
        are committed already, and the broker drops a member that does not come back."""
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consumer.stop(), CLOSE_WAIT_S)


class KafkaPartitionReader:
    """A group-less consumer over given partitions, from their beginning (global tables)."""

    def __init__(self, start: Callable[[], Awaitable[AIOKafkaConsumer]],
                 tps: list[TP]) -> None:
        self.start, self.tps = start, [TopicPartition(*tp) for tp in tps]
        self.consumer: AIOKafkaConsumer | None = None

    async def poll(self, max_records: int) -> dict[TP, list[RecordTuple]]:
        """Records fetched since the last poll, without waiting for more."""
        if self.consumer is None:
            self.consumer = await self.start()
            self.consumer.assign(self.tps)
            await self.consumer.seek_to_beginning(*self.tps)
        fetched = await self.consumer.getmany(*self.tps, timeout_ms=0, max_records=max_records)
        return {(tp.topic, tp.partition): records_of(records)
                for tp, records in fetched.items() if records}

    async def close(self) -> None:
        """Stop the consumer."""
        if self.consumer is not None:
            await self.consumer.stop()
