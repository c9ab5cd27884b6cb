"""The worker: runs every task of a plan on one asyncio loop, batch at a time."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.api import ConfigError, TopicPartition
from engine.physical import PhysicalPlan
from engine.runtime.commit import commit
from engine.runtime.exchange import Exchange
from engine.runtime.globals import GlobalTables
from engine.runtime.lanes import ENDED, IDLE_STATE
from engine.runtime.rebalance import LocalStores, Rebalancing
from engine.runtime.stats import Lateness, Placement, RunStats
from engine.runtime.task import Task
from engine.runtime.taskenv import StoreBackends, TaskEnv
from engine.runtime.topics import Layout, prepare_topics
from engine.state import CACHE_ENTRIES, Backend
from engine.transport.base import CommitBatch, Consumer, Transport

Observer = Callable[[RunStats], None]
LATE_WARNING = 0.01  # warn when more than this share of an operator's input was late
EventSink = Callable[[str], None]


def late_warning(found: Lateness) -> str:
    """One line about an operator that dropped more than 1% of its input as late."""
    return (f"warning: {found.late:,} of {found.seen:,} records ({found.share:.1%}) reaching "
            f"'{found.operator}' were late (grace {found.grace:,} ms); a grace of "
            f"{found.needed:,} ms would have kept them")


@dataclass
class WorkerConfig:
    """How a worker batches, commits and stops. until_caught_up: stop once every input is
    idle at its end (windows stay open); drain: the inputs end where they end at the start,
    and every window, session and unmatched join row is emitted before stopping."""

    max_poll_records: int = 1_000
    run_records: int | None = None  # records a task runs per step (None: all it can)
    partitions: frozenset[int] | None = None  # own only these partitions (in-process workers)
    commit_interval_ms: int | None = None
    commit_records: int | None = None
    idle_sleep_s: float = 0.05
    until_caught_up: bool = False
    drain: bool = False
    cache_entries: int = CACHE_ENTRIES  # per task and store: least recently used go first
    debug: bool = False  # dead letters carry the failing function's traceback


class Worker(Rebalancing):
    """Owns the tasks of the partitions assigned to it and commits their work."""

    def __init__(self, plan: PhysicalPlan, transport: Transport,
                 config: WorkerConfig | None = None, observer: Observer | None = None,
                 backends: StoreBackends | None = None,
                 local: LocalStores | None = None) -> None:
        self.plan, self.transport = plan, transport
        self.backends, self.local = backends, local
        self.config = config or WorkerConfig()
        self.observer = observer
        self.on_event: EventSink | None = None
        self.warned: set[str] = set()  # inputs already warned about misplaced records
        self.group = plan.pipeline
        self.stats = RunStats()
        self.tasks: dict[tuple[int, int], Task] = {}
        self.parked: dict[tuple[int, int], Task] = {}  # revoked, kept until the assignment
        self.last_progress: dict[str, bytes] = {}
        self.routes: dict[TopicPartition, Task] = {}
        self.layout: Layout | None = None
        self.env: TaskEnv | None = None
        self.consumer: Consumer | None = None
        self.exchange: Exchange | None = None
        self._external = frozenset(plan.external_sources)
        self._sinks = frozenset(plan.sink_topics)
        self._interval = (self.config.commit_interval_ms or plan.commit_interval_ms) / 1000
        self._max_pending = self.config.commit_records or plan.commit_records
        self._last_commit = time.monotonic()
        self._commit_lock = asyncio.Lock()
        self.global_tables = GlobalTables(plan.global_tables, transport)

    # -- start-up ------------------------------------------------------------------------
    async def prepare_topics(self) -> Layout:
        """Check the source topics; create internal, sink and dead-letter topics."""
        if self.plan.stores and self.backends is None:
            raise ConfigError(f"pipeline '{self.plan.pipeline}' keeps state "
                              f"({', '.join(self.plan.stores)}) but this run has no store")
        if self.layout is None:
            self.layout = await prepare_topics(self.plan, self.transport)
        return self.layout

    async def start(self) -> None:
        """Prepare topics, load global tables, snapshot the input ends of a drained run, and
        subscribe."""
        self.transport.on_event = self._event
        layout = await self.prepare_topics()
        if self.plan.global_tables:
            await self.global_tables.bootstrap()
            skipped = self.global_tables.skipped
            self._event(f"global tables loaded: {len(self.global_tables)} rows of "
                        f"{', '.join(self.global_tables.stores)}" + (
                            f" ({skipped} undecodable records skipped)" if skipped else ""))
        ends = None
        if self.config.drain:
            ends = {(t, p): end for t in self.plan.external_sources
                    for p, end in enumerate(await self.transport.end_offsets(t))}
        local = self.transport.exactly_once and self.config.partitions is None
        self.env = TaskEnv(
            self.plan.pipeline, self.plan.on_error, self.plan.dead_letter_topic,
            layout.counts, layout.writers, self.backends or _no_state,
            self.global_tables.stores, not self.transport.exactly_once,
            self.transport.partitioner, ends, told=local,
            cache_entries=self.config.cache_entries, codec=self.plan.codec,
            debug=self.config.debug)
        self.consumer = self.transport.consumer(self.group, self.config.partitions)
        if local:  # every task is ours, commits are atomic: no commit between them
            self.exchange = Exchange(self.consumer)
        topics = [t for sub in self.plan.subtopologies for t in sub.sources]
        await self.consumer.subscribe(topics, self)

    # -- the loop ------------------------------------------------------------------------
    async def step(self) -> int:
        """Poll once, queue what came, note the inputs at their end, and run every task's
        releasable records (the task with the oldest first); returns records read and run
        (0: nothing happened)."""
        assert self.consumer is not None
        await self.global_tables.refresh()
        batches = await self.consumer.poll(self.config.max_poll_records)
        polled = sum(len(records) for records in batches.values())
        for tp, records in batches.items():
            task = self.routes.get(tp)
            if task is not None:  # else fetched just before its partition was revoked
                task.enqueue(tp, records)
                if tp[0] in self._external:
                    self.stats.records_in += len(records)
        for tp, end in self.consumer.ends().items():
            task = self.routes.get(tp)
            if task is not None and tp in task.external and task.fetched.get(tp, -1) >= end:
                task.at_end(tp, end)
        touched: Iterable[Task] = self.tasks.values()
        ran = self._run(touched)
        while self.exchange is not None and sum(t.pending for t in self.tasks.values()) \
                < self._max_pending:
            moved = self.exchange.hand_over(touched, self.routes)
            touched = moved
            more = self._run(moved)
            if not more:
                break
            ran += more
        return polled + ran

    def _run(self, tasks: Iterable[Task]) -> int:
        """Let `tasks` run what they can, the one with the oldest next record first."""
        ran = 0
        for task in sorted(tasks, key=_oldest_first):
            ran += task.run_ready(self.config.run_records)
            if self.config.drain and task.drained():
                ran += 1
        return ran

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
        """Run the commit procedure; True when anything was committed (or a task was told
        what lets it go on)."""
        async with self._commit_lock:  # a rebalance callback may commit concurrently
            woken = False
            if self.exchange is not None:  # what was handed over, and the bounds now
                woken = bool(self.exchange.hand_over(self.tasks.values(), self.routes))
            handed = self.exchange.take() if self.exchange is not None else None
            began = time.monotonic()
            batch = await commit(list(self.tasks.values()), self.transport, self.group,
                                 handed)
            if batch is None:
                return woken
            self.stats.observe_commit(time.monotonic() - began)
            if self.local is not None and self.transport.changelogs:
                for write in batch.state:
                    self.local.write(write.store, write.changes)
            self._last_commit = time.monotonic()
        self._count(batch)
        return True

    def _count(self, batch: CommitBatch) -> None:
        self.stats.commits += 1
        for task_id, (_, progress) in batch.progress.items():
            self.last_progress[task_id] = progress
        self._warn_misplaced()
        now_ms = time.time() * 1000
        for topic, _, records in batch.outputs:
            if topic in self._sinks and records:
                self.stats.out[topic] = self.stats.out.get(topic, 0) + len(records)
                self.stats.observe_latency((now_ms - records[-1][2]) / 1000)
        tasks = self.tasks.values()
        self.stats.dead_lettered = sum(t.deadletters.count for t in tasks)
        self.stats.dead_by_stage = dict(sum((t.deadletters.by_stage for t in tasks), Counter()))
        self.stats.late = sum(sum(t.deadletters.late.values()) for t in tasks)

    def quiet(self) -> bool:
        """Nothing left to do in a bounded run: every input is idle (or ended) and empty,
        nothing waits for a commit (and, drained, every task finished)."""
        if self.consumer is None or not self.consumer.caught_up():
            return False
        return all(not task.needs_commit() and (task.finished or not self.config.drain)
                   and all(lane.state in (IDLE_STATE, ENDED) and lane.empty and not lane.held
                           for lane in task.lanes)
                   for task in self.tasks.values())

    async def run(self, stop: asyncio.Event | None = None) -> RunStats:
        """Process until stopped (or, bounded, until quiet), committing along the way."""
        if self.consumer is None:
            await self.start()
        assert self.consumer is not None
        stop = stop or asyncio.Event()
        bounded = self.config.until_caught_up or self.config.drain
        while not stop.is_set():
            if await self.step() == 0:
                self.tick(time.monotonic())
                if not await self.commit():
                    if bounded and self.quiet() and await self._caught_up():
                        break
                    await asyncio.sleep(self.config.idle_sleep_s)
            elif self.commit_due():
                await self.commit()
            self._notify()
            await asyncio.sleep(0)
        await self.commit()
        self.stats.drained = self.config.drain and stop.is_set() is False
        self.stats.lateness = self.lateness()
        self.stats.misplaced = self.misplaced()
        self._notify()
        await self.consumer.close()
        await self.global_tables.close()
        if self.local is not None:  # a clean stop: keep the local stores, checkpointed
            self._drop_parked()
            self.local.keep({t.id: self.last_progress[t.id] for t in self.tasks.values()
                             if t.id in self.last_progress})
        return self.stats

    def lateness(self, tasks: Iterable[Task] | None = None) -> list[Lateness]:
        """Per window or join operator: records seen and late, summed over the tasks."""
        found: dict[str, tuple[int, int, int, int]] = {}
        for task in self.tasks.values() if tasks is None else tasks:
            for name, (seen, late, needed, grace) in task.lateness().items():
                s, lt, nd, _ = found.get(name, (0, 0, 0, grace))
                found[name] = (s + seen, lt + late, max(nd, needed), grace)
        return [Lateness(name, *counts) for name, counts in sorted(found.items())]

    def misplaced(self) -> list[Placement]:
        """The keyed inputs some of whose sampled records were in the wrong partition."""
        found: dict[str, Placement] = {}
        for task in self.tasks.values():
            for topic, counts in task.placement.items():
                found.setdefault(topic, Placement(topic)).add(counts)
        return [p for _, p in sorted(found.items()) if p.wrong]

    def _warn_misplaced(self) -> None:
        """Say once per input when records are found in the wrong partition."""
        for found in self.misplaced():
            if found.topic not in self.warned:
                self.warned.add(found.topic)
                self._event(found.warning())

    def _warn_late(self, tasks: Iterable[Task]) -> None:
        """Say so when more than 1% of a window's or join's input was late (so far)."""
        for found in self.lateness(tasks):
            if found.share > LATE_WARNING:
                self._event(late_warning(found))

    def _event(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    async def _caught_up(self) -> bool:
        """Fresh end offsets agree with the positions (a fetch high watermark can predate
        our own latest commit to an internal topic)."""
        assert self.consumer is not None
        positions = dict(self.consumer.positions)
        for topic in {t for t, _ in positions}:
            ends = await self.transport.end_offsets(topic)
            if any(pos < ends[p] for (t, p), pos in positions.items() if t == topic):
                return False
        return True

    def _notify(self) -> None:
        if self.observer is not None:
            self.observer(self.stats)


def _oldest_first(task: Task) -> int:
    head = task.head()
    return head if head is not None else 1 << 62


def _no_state(name: str) -> Backend:
    raise RuntimeError(f"store '{name}' used but this run has no state backend")
