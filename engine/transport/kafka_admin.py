"""Group administration on Kafka for `shoal reset`: who is in a group, where a time falls in
a partition, and moving a stopped group to new positions with its internal topics emptied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from engine.api import ConfigError, TransportError
from engine.api import TopicPartition as TP
from engine.transport.base import RecordTuple
from engine.transport.kafka_config import KafkaSettings
from engine.transport.kafka_group import CoPartitionAssignor

SCAN_CHUNK = 10_000
JOIN_TIMEOUT_S = 20


class KafkaTransport(Protocol):
    """What these functions use of engine.transport.kafka.KafkaTransport."""

    bootstrap: str
    settings: KafkaSettings

    async def admin(self) -> AIOKafkaAdminClient: ...
    async def start_client(self, make: Callable[[], Any]) -> Any: ...
    def forget(self, topics: Iterable[str]) -> None: ...
    async def start_offsets(self, topic: str) -> list[int]: ...
    async def end_offsets(self, topic: str) -> list[int]: ...
    async def read(self, tp: TP, offset: int, max_records: int) -> list[RecordTuple]: ...
    async def create_topic(self, topic: str, partitions: int, compact: bool = False,
                           retention_ms: int | None = None) -> None: ...


async def time_offset(kafka: KafkaTransport, tp: TP, ts: int) -> int:
    """The first offset of `tp` whose record timestamp is >= ts (the end when none is).
    Found by reading the partition: some brokers (Tansu) answer ListOffsets-by-time with
    the log start whatever the time."""
    start = (await kafka.start_offsets(tp[0]))[tp[1]]
    end = (await kafka.end_offsets(tp[0]))[tp[1]]
    offset = start
    while offset < end:
        records = await kafka.read(tp, offset, min(SCAN_CHUNK, end - offset))
        if not records:
            break
        for off, _, _, timestamp, _ in records:
            if timestamp >= ts:
                return int(off)
        offset = records[-1][0] + 1
    return end


async def recreate(kafka: KafkaTransport, topics: dict[str, tuple[int, bool]]) -> None:
    """Delete `topics` (name -> (partitions, compacted)) and create them again, empty.
    A broker may take a moment to finish a deletion: creation is retried for 30 s."""
    if not topics:
        return
    admin = await kafka.admin()
    await admin.delete_topics(sorted(topics))
    kafka.forget(topics)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    for name, (partitions, compact) in sorted(topics.items()):
        while True:
            try:
                await kafka.create_topic(name, partitions, compact=compact)
                break
            except TransportError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)


async def reset_group(kafka: KafkaTransport, group: str, positions: dict[TP, int],
                      empty: dict[str, tuple[int, bool]], internal: list[str]) -> None:
    """Join `group` alone (refused when another member answers), recreate the topics of
    `empty` (name -> (partitions, compacted)), then commit `positions` and 0 for every
    partition of the `internal` topics, and leave. Brokers refuse commits from outside a
    group that has had members, and Tansu lists departed members for ever, so owning every
    partition is both the check that no worker runs and the way to commit."""
    consumer = await kafka.start_client(lambda: AIOKafkaConsumer(
        **kafka.settings.consumer(kafka.bootstrap), group_id=group,
        partition_assignment_strategy=(CoPartitionAssignor(),)))
    try:
        await _own(consumer, group, set(positions), first=True)
        await recreate(kafka, empty)
        zero = {(t, p): 0 for t in internal for p in range(empty[t][0]) if t in empty}
        await _own(consumer, group, set(positions) | set(zero))
        try:
            await consumer.commit({TopicPartition(*tp): off
                                   for tp, off in {**positions, **zero}.items()})
        except KafkaError as exc:
            raise TransportError(f"the group '{group}' did not take the new positions "
                                 f"({type(exc).__name__}): run the reset again") from None
    finally:
        await consumer.stop()


async def _own(consumer: AIOKafkaConsumer, group: str, tps: set[TP], first: bool = False
               ) -> None:
    """Subscribe to the topics of `tps` and wait until this member owns all of them. On
    its `first` join, an assignment without all of them means another member answered:
    refused at once."""
    consumer.subscribe(sorted({t for t, _ in tps}))
    wanted = {TopicPartition(*tp) for tp in tps}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + JOIN_TIMEOUT_S
    while not wanted <= consumer.assignment():
        if loop.time() > deadline or (first and consumer.assignment()):
            raise ConfigError(f"group '{group}' has another live member (a worker is "
                              "running): stop every worker, then reset")
        await consumer.getmany(timeout_ms=100, max_records=1)
