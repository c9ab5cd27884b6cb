"""The worker: runs every task of a plan on one asyncio loop, batch at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from engine.api import ConfigError, TopicPartition, UnknownTopicError
from engine.plan import InternalTopic, PhysicalPlan
from engine.runtime.buffers import OutputBuffers
from engine.runtime.commit import commit
from engine.runtime.globals import GlobalTables
from engine.runtime.stats import RunStats
from engine.runtime.task import StoreBackends, Task
from engine.transport import Consumer, RecordTuple, Transport, changelog_topic

Observer = Callable[[RunStats], None]
EventSink = Callable[[str], None]


def describe_partitions(partitions: list[TopicPartition]) -> str:
    """'orders[0,2] orders.x[0,2]' for log lines."""
    by_topic: dict[str, list[int]] = {}
    for topic, p in sorted(partitions):
        by_topic.setdefault(topic, []).append(p)
    return " ".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in by_topic.items()) or "none"


class LocalStores(Protocol):
    """A worker-local copy of stores kept in step with changelog topics (Kafka)."""

    def write(self, store: str, changes: Iterable[tuple[bytes, bytes | None]]) -> None: ...

    def reset(self, store: str, partition: int) -> None: ...


@dataclass
class WorkerConfig:
    """How a worker batches, commits and stops."""

    max_poll_records: int = 1_000
    slice_records: int = 100
    commit_interval_ms: int | None = None
    commit_records: int | None = None
    idle_sleep_s: float = 0.05
    until_caught_up: bool = False


class Worker:
    """Owns the tasks of the partitions assigned to it and commits their work."""

    def __init__(self, plan: PhysicalPlan, transport: Transport,
                 config: WorkerConfig | None = None, observer: Observer | None = None,
                 backends: StoreBackends | None = None,
                 local: LocalStores | None = None) -> None:
        self.plan = plan
        self.transport = transport
        self.backends = backends
        self.local = local
        self.config = config or WorkerConfig()
        self.observer = observer
        self.on_event: EventSink | None = None
        self.group = plan.pipeline
        self.stats = RunStats()
        self.tasks: dict[tuple[int, int], Task] = {}
        self.routes: dict[TopicPartition, Task] = {}
        self.outputs = OutputBuffers()
        self.partitions: dict[int, int] = {}
        self.consumer: Consumer | None = None
        self._external = frozenset(plan.external_sources)
        self._interval = (self.config.commit_interval_ms or plan.commit_interval_ms) / 1000
        self._max_pending = self.config.commit_records or plan.commit_records
        self._last_commit = time.monotonic()
        self._commit_lock = asyncio.Lock()
        self.global_tables = GlobalTables(plan.global_tables, transport)

    # -- start-up ------------------------------------------------------------------------
    async def prepare_topics(self) -> None:
        """Check the source topics; create internal, sink and dead-letter topics."""
        if self.plan.stores and not (self.transport.supports_state and self.backends):
            raise ConfigError(
                f"pipeline '{self.plan.pipeline}' keeps state ({', '.join(self.plan.stores)}); "
                f"state on the {self.transport.name} log (changelog topics) is not built yet: "
                "run it on the embedded log")
        existing = await self.transport.topics()
        for topic in (*self.plan.external_sources, *self.plan.global_topics):
            if topic not in existing:
                raise UnknownTopicError(topic, " (create it first, e.g. `shoal produce "
                                        f"{topic} FILE --partitions N`)")
        internal = {t.name: t for t in self.plan.internal_topics}
        for sub in self.plan.subtopologies:
            counts = [existing[t] for t in sub.sources if t in existing]
            count = max(counts) if counts else 1
            self.partitions[sub.id] = count
            if any(n.copartitioned for n in sub.nodes) and len(set(counts)) > 1:
                sizes = ", ".join(f"'{t}' has {existing[t]}" for t in sub.sources
                                  if t in existing)
                raise ConfigError(f"a join needs co-partitioned inputs, but {sizes} partitions: "
                                  "give them the same count (or key_by(..., partitions=N))")
            for store in sub.stores if self.transport.changelogs else ():
                topic = changelog_topic(self._qualified(store))
                if topic not in existing:
                    existing[topic] = count
                    await self.transport.create_topic(topic, count, compact=True)
            for topic, kind in sub.outputs:
                wanted = self._repartition_size(internal[topic], existing) \
                    if kind == "repartition" else None
                if topic not in existing:
                    existing[topic] = wanted or count
                    await self.transport.create_topic(topic, existing[topic])
        if self.plan.dead_letter_topic not in existing:
            await self.transport.create_topic(self.plan.dead_letter_topic,
                                              max(self.partitions.values()))

    def _repartition_size(self, topic: InternalTopic, existing: dict[str, int]) -> int | None:
        """The planned count, else that of the reader's other inputs (a key_by feeding a
        join takes the join's partition count), else None (the writer's count)."""
        if topic.partitions is not None:
            return topic.partitions
        reader = self.plan.subtopologies[topic.read_by]
        internal = self.plan.internal_names
        return max((existing[t] for t in reader.sources
                    if t in existing and t not in internal), default=None)

    async def start(self) -> None:
        """Prepare topics, subscribe, and count the backlog of external inputs."""
        if not self.partitions:
            await self.prepare_topics()
        if self.plan.global_tables:
            await self.global_tables.bootstrap()
            skipped = self.global_tables.skipped
            self._event(f"global tables loaded: {len(self.global_tables)} rows of "
                        f"{', '.join(self.global_tables.stores)}" + (
                            f" ({skipped} undecodable records skipped)" if skipped else ""))
        self.consumer = self.transport.consumer(self.group)
        topics = [t for sub in self.plan.subtopologies for t in sub.sources]
        await self.consumer.subscribe(topics, self)

    async def on_assigned(self, partitions: list[TopicPartition]) -> None:
        """Create the tasks for newly assigned partitions and seek to committed positions."""
        assert self.consumer is not None
        by_topic = {t: sub for sub in self.plan.subtopologies for t in sub.sources}
        committed = await self.transport.committed(self.group, partitions)
        for tp in partitions:
            sub = by_topic[tp[0]]
            task = self.tasks.get((sub.id, tp[1]))
            if task is None:
                await self._restore(sub.stores, tp[1], {
                    other: off for other, off in committed.items()
                    if other[1] == tp[1] and other[0] in sub.sources})
                task = self.tasks[(sub.id, tp[1])] = Task(
                    sub, tp[1], self.plan.on_error, self.outputs, self.plan.dead_letter_topic,
                    self.backends, self.plan.pipeline, self.global_tables.stores)
            self.routes[tp] = task
            self.consumer.seek(tp, committed[tp])
        ids = ", ".join(sorted(t.id for t in self.tasks.values()))
        self._event(f"assigned {describe_partitions(partitions)}: {len(self.tasks)} tasks ({ids})")
        for topic in {tp[0] for tp in partitions} & self._external:
            ends = await self.transport.end_offsets(topic)
            self.stats.backlog += sum(max(0, ends[p] - committed[(t, p)])
                                      for t, p in partitions if t == topic)

    def _qualified(self, store: str) -> str:
        return f"{self.plan.pipeline}.{store}"

    async def _restore(self, stores: tuple[str, ...], partition: int,
                       committed: dict[TopicPartition, int]) -> None:
        """Rebuild a task's local stores from their changelogs, up to committed input."""
        if not self.transport.changelogs or self.local is None:
            return
        for store in stores:
            name = self._qualified(store)
            self.local.reset(name, partition)
            changes = await self.transport.read_changelog(name, partition, committed)
            self.local.write(name, changes)
            self._event(f"restored {store}[{partition}] from its changelog: "
                        f"{len(changes)} changes")

    async def on_revoked(self, partitions: list[TopicPartition]) -> None:
        """Commit, then drop the tasks of revoked partitions."""
        await self.commit()
        if partitions:
            self._event(f"revoked {describe_partitions(partitions)} (committed first)")
        for tp in partitions:
            task = self.routes.pop(tp, None)
            if task is not None and not any(t is task for t in self.routes.values()):
                self.tasks.pop((task.sub.id, task.partition), None)
                if self.local is not None:  # the partition is no longer ours to serve
                    for store in task.sub.stores:
                        self.local.reset(self._qualified(store), task.partition)

    # -- the loop ------------------------------------------------------------------------
    async def step(self) -> int:
        """Poll once and push every batch through its task; returns records processed."""
        assert self.consumer is not None
        await self.global_tables.refresh()
        batches = await self.consumer.poll(self.config.max_poll_records)
        n = 0
        for tp, records in batches.items():
            self._process(tp, records)
            n += len(records)
        delivered = set(batches)
        tasks = list(self.tasks.values())
        while True:  # the task with the oldest next record takes the next slice
            stalls = [at for task in tasks
                      if (at := task.inputs.stalled_at(delivered)) is not None]
            horizon = min(stalls) if stalls else None
            ready = [(head, i) for i, task in enumerate(tasks)
                     if (head := task.head(delivered)) is not None
                     and (horizon is None or head <= horizon)]
            if not ready:
                return n
            tasks[min(ready)[1]].drain(delivered, self.config.slice_records, horizon)

    def _process(self, tp: TopicPartition, records: list[RecordTuple]) -> None:
        task = self.routes.get(tp)
        if task is None:  # fetched just before its partition was revoked
            return
        task.process(tp, records)
        if tp[0] in self._external:
            self.stats.records_in += len(records)

    def tick(self, now: float) -> int:
        """Let quiet tasks move their stream time on (pipeline idle_timeout_ms)."""
        timeout = self.plan.idle_timeout_ms
        if timeout is None:
            return 0
        return sum(task.idle(now, timeout) for task in self.tasks.values())

    def commit_due(self) -> bool:
        """True when the commit interval passed or enough records wait."""
        pending = sum(t.pending for t in self.tasks.values())
        return pending > 0 and (pending >= self._max_pending or
                                time.monotonic() - self._last_commit >= self._interval)

    async def commit(self) -> bool:
        """Run the commit procedure; True when anything was committed."""
        async with self._commit_lock:  # a rebalance callback may commit concurrently
            if not any(t.pending for t in self.tasks.values()):
                return False
            batch = await commit(list(self.tasks.values()), self.outputs, self.transport,
                                 self.group)
            if self.local is not None and self.transport.changelogs:
                for write in batch.state:
                    self.local.write(write.store, write.changes)
            self._last_commit = time.monotonic()
        self.stats.commits += 1
        for topic, records in batch.outputs:
            self.stats.out[topic] = self.stats.out.get(topic, 0) + len(records)
        self.stats.dead_lettered = sum(t.dead.count for t in self.tasks.values())
        self.stats.late = sum(t.dead.late for t in self.tasks.values())
        return True

    async def run(self, stop: asyncio.Event | None = None) -> RunStats:
        """Process until stopped (or caught up), committing along the way and at the end."""
        if self.consumer is None:
            await self.start()
        stop = stop or asyncio.Event()
        while not stop.is_set():
            n = await self.step()
            if n == 0:
                self.tick(time.monotonic())
                committed = await self.commit()
                if not committed and self.config.until_caught_up and await self._caught_up():
                    break
                if not committed:
                    await asyncio.sleep(self.config.idle_sleep_s)
            elif self.commit_due():
                await self.commit()
            self._notify()
            await asyncio.sleep(0)
        await self.commit()
        self._notify()
        await self.consumer.close()  # type: ignore[union-attr]
        await self.global_tables.close()
        return self.stats

    def _event(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    async def _caught_up(self) -> bool:
        """The consumer read everything it knows of, and fresh end offsets agree (a fetch
        high watermark can predate our own latest commit to a repartition topic)."""
        if self.consumer is None or not self.consumer.caught_up():
            return False
        positions = dict(self.consumer.positions)
        for topic in {t for t, _ in positions}:
            ends = await self.transport.end_offsets(topic)
            if any(pos < ends[p] for (t, p), pos in positions.items() if t == topic):
                return False
        return True

    def _notify(self) -> None:
        if self.observer is not None:
            self.observer(self.stats)
