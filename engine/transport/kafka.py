"""The Kafka transport (aiokafka): the same protocol as the embedded log, over a broker.

A commit produces every output, changelog and progress record (acks=all), waits for all
acks, and only then commits the input offsets, so an offset never passes an output that was
not written. A crash between the two re-processes the batch: internal topics and state stay
exactly-once (readers drop replayed sequence numbers; restores skip uncommitted changes, see
kafka_state.py); sinks get the batch again (at-least-once), numbered so consumers can tell.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.errors import CommitFailedError, KafkaError

from engine.api import ConfigError, OutRecord, TransportError, UnknownTopicError
from engine.api import TopicPartition as TP
from engine.api.state import store_key
from engine.transport.base import (
    CommitBatch,
    RecordTuple,
    Routed,
    TopicDescription,
    changelog_topic,
    progress_topic,
    read_range,
)
from engine.transport.kafka_admin import reset_group, time_offset
from engine.transport.kafka_config import KafkaSettings
from engine.transport.kafka_group import (
    CoPartitionAssignor,
    GroupConsumer,
    KafkaPartitionReader,
    records_of,
)
from engine.transport.kafka_state import (
    changelog_record,
    find_progress,
    progress_record,
    restorable,
)
from engine.transport.partitioner import Partitioner

TOPIC_EXISTS = 36
READ_STALL_S = 30  # a read with no progress for this long fails rather than end short


class KafkaTransport:
    """A Kafka cluster reached at `bootstrap` (HOST:PORT)."""

    name = "kafka"
    exactly_once = False
    changelogs = True

    def __init__(self, bootstrap: str, settings: KafkaSettings | None = None) -> None:
        self.bootstrap = bootstrap
        self.settings = settings or KafkaSettings()
        self.connect_timeout_s = self.settings.connect_timeout_s
        self.session_timeout_ms = self.settings.session_timeout_ms
        self.partitioner = Partitioner()
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._groups: dict[str, GroupConsumer] = {}
        self._counts: dict[str, int] = {}
        self.on_event: Callable[[str], None] | None = None
        self.purging = True  # DeleteRecords on consumed internal records, until refused

    # -- connections ---------------------------------------------------------------------
    async def _start(self, make: Callable[[], Any]) -> Any:
        """Start a fresh client from `make`, retrying until `connect_timeout_s` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        while True:
            client = make()
            try:
                await asyncio.wait_for(client.start(), max(0.1, deadline - loop.time()))
                return client
            except (KafkaError, OSError, TimeoutError) as exc:
                await (client.close() if isinstance(client, AIOKafkaAdminClient)
                       else client.stop())
                if loop.time() + 0.5 >= deadline:
                    reason = str(exc) or type(exc).__name__
                    raise TransportError(
                        f"cannot reach the Kafka broker at {self.bootstrap} within "
                        f"{self.connect_timeout_s:g}s ({reason})") from None
                await asyncio.sleep(0.5)

    async def start_client(self, make: Callable[[], Any]) -> Any:
        """A started client from `make` (retried like every connection of this transport)."""
        return await self._start(make)

    def forget(self, topics: Iterable[str]) -> None:
        """Drop cached partition counts of `topics` (deleted or recreated)."""
        for topic in topics:
            self._counts.pop(topic, None)

    async def admin(self) -> AIOKafkaAdminClient:
        """The admin client, connected on first use."""
        if self._admin is None:
            self._admin = await self._start(lambda: AIOKafkaAdminClient(
                **self.settings.admin(self.bootstrap)))
        return self._admin

    async def producer(self) -> AIOKafkaProducer:
        """The producer (acks=all), connected on first use."""
        if self._producer is None:
            self._producer = await self._start(lambda: AIOKafkaProducer(
                **self.settings.producer(self.bootstrap)))
        return self._producer

    async def reader(self) -> AIOKafkaConsumer:
        """A group-less consumer for reads and high watermarks."""
        if self._reader is None:
            self._reader = await self._start(lambda: AIOKafkaConsumer(
                **self.settings.reader(self.bootstrap)))
        return self._reader

    def partition_reader(self, tps: list[TP]) -> KafkaPartitionReader:
        """A group-less reader of `tps` from their beginning (its own consumer)."""
        return KafkaPartitionReader(lambda: self._start(lambda: AIOKafkaConsumer(
            **self.settings.reader(self.bootstrap))), tps)

    # -- topics --------------------------------------------------------------------------
    async def topics(self) -> dict[str, int]:
        """Every non-internal topic with its partition count."""
        admin = await self.admin()
        described = await admin.describe_topics()
        counts = {t["topic"]: len(t["partitions"]) for t in described
                  if not t["topic"].startswith("__") and t.get("error_code", 0) == 0}
        self._counts.update(counts)
        return dict(sorted(counts.items()))

    async def partitions(self, topic: str) -> int:
        """Partition count of `topic` (cached)."""
        if topic not in self._counts:
            await self.topics()
        if topic not in self._counts:
            raise UnknownTopicError(topic)
        return self._counts[topic]

    async def create_topic(self, topic: str, partitions: int, compact: bool = False,
                           retention_ms: int | None = None) -> None:
        """Create `topic` (replication 1; compacted for changelogs; `retention.ms` when
        given); fine when it exists with that many partitions."""
        admin = await self.admin()
        configs = {"cleanup.policy": "compact"} if compact else {}
        if retention_ms is not None:
            configs["retention.ms"] = str(retention_ms)
        response = await admin.create_topics([NewTopic(topic, partitions, 1,
                                                       topic_configs=configs)])
        for name, code, *rest in response.topic_errors:
            if code == TOPIC_EXISTS:
                self._counts.pop(topic, None)
                existing = await self.partitions(topic)
                if existing != partitions:
                    raise ConfigError(f"topic '{topic}' exists with {existing} "
                                      f"partitions, not {partitions}")
            elif code != 0:
                raise TransportError(f"cannot create topic '{name}': error {code} {rest}")
        self._counts[topic] = partitions

    # -- reading -------------------------------------------------------------------------
    async def end_offsets(self, topic: str) -> list[int]:
        """True log ends, from fetch high watermarks (ListOffsets may lag on some brokers,
        Tansu's does): raises rather than fall back to a listed end that may be short."""
        tps = [TopicPartition(topic, p) for p in range(await self.partitions(topic))]
        reader = await self.reader()
        reader.assign(tps)
        listed = await reader.end_offsets(tps)
        for tp in tps:
            reader.seek(tp, listed[tp])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_STALL_S
        while any(reader.highwater(tp) is None for tp in tps):
            if loop.time() > deadline:
                raise TransportError(f"no fetch answer for '{topic}' within "
                                     f"{READ_STALL_S}s: cannot tell where its log ends")
            await reader.getmany(*tps, timeout_ms=100)
        return [max(reader.highwater(tp) or 0, listed[tp]) for tp in tps]

    async def start_offsets(self, topic: str) -> list[int]:
        """The log start offset of each partition (ListOffsets, earliest)."""
        tps = [TopicPartition(topic, p) for p in range(await self.partitions(topic))]
        found = await (await self.reader()).beginning_offsets(tps)
        return [found[tp] for tp in tps]

    async def read(self, tp: TP, offset: int, max_records: int) -> list[RecordTuple]:
        """Up to `max_records` records of a partition from `offset`; fewer only when the
        partition's high watermark (from fetch answers) is reached. An empty fetch answer
        before that is not the end: reading goes on, and raises after READ_STALL_S with
        no progress."""
        part = TopicPartition(*tp)
        reader = await self.reader()
        reader.assign([part])
        reader.seek(part, offset)
        out: list[RecordTuple] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_STALL_S
        while len(out) < max_records:
            fetched = await reader.getmany(part, timeout_ms=200,
                                           max_records=max_records - len(out))
            if fetched.get(part):
                out += records_of(fetched[part])
                deadline = loop.time() + READ_STALL_S
            high = reader.highwater(part)
            if high is not None and (out[-1][0] + 1 if out else offset) >= high:
                break
            if loop.time() > deadline:
                raise TransportError(f"reading {tp[0]}[{tp[1]}] stalled at offset "
                                     f"{out[-1][0] + 1 if out else offset} (its end: {high})")
        return out[:max_records]

    async def committed(self, group: str, tps: list[TP]) -> dict[TP, int]:
        """The group's committed positions (0 where it has none)."""
        admin = await self.admin()
        found = await admin.list_consumer_group_offsets(
            group, partitions=[TopicPartition(*tp) for tp in tps])
        out = {tp: 0 for tp in tps}
        for tp, meta in found.items():
            if meta.offset >= 0:
                out[(tp.topic, tp.partition)] = meta.offset
        return out

    async def describe_topic(self, topic: str) -> TopicDescription:
        """End offsets and the committed positions of every group that has any."""
        ends = await self.end_offsets(topic)
        tps = [(topic, p) for p in range(len(ends))]
        groups: dict[str, list[int]] = {}
        for entry in await (await self.admin()).list_consumer_groups():
            positions = await self.committed(entry[0], tps)
            if any(positions.values()):
                groups[entry[0]] = [positions[tp] for tp in tps]
        return TopicDescription(topic, ends, groups)

    # -- group members -------------------------------------------------------------------
    def consumer(self, group: str, partitions: frozenset[int] | None = None) -> GroupConsumer:
        """A member of `group` using the co-partitioning assignor (the group assigns its
        partitions: `partitions` is for local logs only)."""
        if partitions is not None:
            raise ValueError("on Kafka the consumer group assigns the partitions")
        def make() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                **self.settings.consumer(self.bootstrap), group_id=group,
                auto_offset_reset="earliest",
                partition_assignment_strategy=(CoPartitionAssignor(lambda: member.previous),))

        member = GroupConsumer(make, self._start)
        self._groups[group] = member
        return member

    # -- writing -------------------------------------------------------------------------
    async def _route(self, outputs: list[Routed]) -> dict[tuple[str, int], list[OutRecord]]:
        """Group records by (topic, partition): the given one, else Kafka's partitioner on
        the key."""
        routed: dict[tuple[str, int], list[OutRecord]] = {}
        for topic, partition, records in outputs:
            if partition is not None:
                routed.setdefault((topic, partition), []).extend(records)
                continue
            count, place = await self.partitions(topic), self.partitioner.partition
            for record in records:
                routed.setdefault((topic, place(topic, record[0], count)), []).append(record)
        return routed

    async def _send_all(self, routed: dict[tuple[str, int], list[OutRecord]]) -> None:
        """Send every (topic, partition) group as record batches; wait for all acks."""
        producer = await self.producer()
        futures = []
        for (topic, p), records in routed.items():
            batch = producer.create_batch()
            for key, value, ts, headers in records:
                if batch.append(key=key, value=value, timestamp=ts,
                                headers=headers or []) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=p))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=ts, headers=headers or [])
            futures.append(await producer.send_batch(batch, topic, partition=p))
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise TransportError(f"{len(failed)} produce batches failed: {failed[0]!r}")

    async def produce(self, topic: str, records: list[OutRecord]) -> None:
        """Append records to `topic` and wait until the broker acknowledged all of them."""
        await self._send_all(await self._route([(topic, None, records)]))

    async def commit(self, group: str, batch: CommitBatch) -> None:
        """Produce the outputs, the state changes (to changelog topics) and the tasks'
        progress, await every ack, then commit the group's offsets."""
        now = int(time.time() * 1000)
        outputs = list(batch.outputs)
        for write in batch.state:
            outputs.append((changelog_topic(write.store), write.partition, [
                changelog_record(store_key(key), value, write.n, now)
                for key, value in write.changes]))
        if batch.progress:
            outputs.append((progress_topic(group), None, [
                progress_record(task, positions, raw, now)
                for task, (positions, raw) in batch.progress.items()]))
        await self._send_all(await self._route(outputs))
        if not batch.positions:
            return
        member = self._groups.get(group)
        if member is None:
            raise TransportError(f"no member of group '{group}' to commit offsets with")
        try:
            await member.commit(batch.positions)
        except CommitFailedError:
            # The group is rebalancing: the outputs are acknowledged, the offsets stay where
            # they were; whoever owns these partitions next replays the batch from them
            # (readers drop the replayed records of internal topics).
            return
        except KafkaError as exc:
            raise TransportError(f"offset commit for group '{group}' failed: {exc!r}") from None
        if batch.purge and self.purging:
            await self._purge(batch.purge)

    async def _purge(self, below: dict[TP, int]) -> None:
        """Delete consumed internal records (DeleteRecords); a broker that refuses turns
        purging off for this transport, said once."""
        try:
            await (await self.admin()).delete_records(
                {TopicPartition(*tp): RecordsToDelete(off) for tp, off in below.items()})
        except KafkaError as exc:
            self.purging = False
            if self.on_event is not None:
                self.on_event(f"consumed records of internal topics are kept: the broker "
                              f"refused to delete them ({type(exc).__name__}); give those "
                              "topics a retention instead")

    async def progress(self, group: str, tasks: dict[str, dict[TP, int]]) -> dict[str, bytes]:
        """Each task's progress saved with the positions it committed (kafka_state.py)."""
        topic = progress_topic(group)
        if topic not in await self.topics():
            return {}
        count = await self.partitions(topic)
        out: dict[str, bytes] = {}
        for task, committed in tasks.items():
            p = self.partitioner.hash(task.encode()) % count
            records = await self.read_all((topic, p))
            found = find_progress(records, task, committed)
            if found is not None:
                out[task] = found
        return out

    async def read_changelog(self, store: str, partition: int, committed_n: int
                             ) -> list[tuple[bytes, bytes | None]]:
        """A store partition's changes as of its task's committed progress (backend keys),
        per key the one made by the most records up to `committed_n` (kafka_state.py)."""
        records = await self.read_all((changelog_topic(store), partition))
        return list(restorable(records, partition, committed_n).items())

    # -- reset ---------------------------------------------------------------------------
    async def has_store(self, store: str) -> bool:
        """True when `store` (pipeline-qualified) has a changelog topic."""
        return changelog_topic(store) in await self.topics()

    async def offset_for_time(self, tp: TP, ts: int) -> int:
        """The first offset of `tp` whose record timestamp is >= ts (the end when none)."""
        return await time_offset(self, tp, ts)

    async def reset(self, group: str, positions: dict[TP, int], internal: list[str],
                    stores: list[str]) -> None:
        """Move a stopped `group` to `positions`; recreate its internal, changelog and
        progress topics empty, its positions there at 0 (refused while a worker runs). Not
        atomic on Kafka: a reset interrupted half way is finished by running it again."""
        counts = await self.topics()
        empty = {t: (counts[t], False) for t in internal if t in counts}
        empty |= {changelog_topic(s): (counts[changelog_topic(s)], True) for s in stores
                  if changelog_topic(s) in counts}
        if progress_topic(group) in counts:
            empty[progress_topic(group)] = (counts[progress_topic(group)], True)
        await reset_group(self, group, positions, empty, internal)

    async def read_all(self, tp: TP) -> list[RecordTuple]:
        """Every record of a partition, to its true end (a fetch high watermark)."""
        end = (await self.end_offsets(tp[0]))[tp[1]]
        return [r async for batch in read_range(self, tp, 0, end) for r in batch]

    async def close(self) -> None:
        """Leave groups and close every client."""
        for member in self._groups.values():
            await member.close()
        for client in (self._reader, self._producer):
            if client is not None:
                await client.stop()
        if self._admin is not None:
            await self._admin.close()
