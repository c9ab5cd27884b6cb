"""TestDriver: run a pipeline in process on an in-memory log, deterministically.

    driver = TestDriver(p)
    driver.pipe("orders", {"order_id": "o-1", ...})
    assert driver.values("orders.large") == [...]
    assert driver.dead_letters()[0].stage == "schema"

Every `pipe` processes the new input to the end and commits, so what you read back is what a
real run would have written. No data directory, no threads, no event loop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from engine.api import Headers
from engine.api.records import headers_text, is_control
from engine.api.serde import key_from_bytes, key_to_bytes
from engine.dsl import Pipeline
from engine.job import Job
from engine.planner import plan
from engine.query import View, unknown_table
from engine.runtime import Worker, WorkerConfig, run_sync
from engine.transport import MemoryLog, read_partitions


@dataclass(frozen=True)
class Output:
    """A record a pipeline wrote, with its value decoded from JSON when it is JSON."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any
    timestamp: int
    headers: dict[str, str | None]


@dataclass(frozen=True)
class DeadLetter:
    """A record that went to the dead-letter topic, and why."""

    stage: str
    operator: str
    error: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    emitted_by: str | None = None  # a result of this processor failed (not an input record)


def _encode(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return msgspec.json.encode(value)


def _decode(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw


@dataclass(frozen=True)
class Schedule:
    """How a TestDriver runs its pipeline: in-process workers sharing the partitions, under a
    seeded random schedule (the same seed gives the same schedule). Results must not depend
    on any of it.

    workers: how many workers share the partitions (partition p of every topic goes to one);
    poll: (least, most) records fetched per partition in a step; run: (least, most) records
    a task runs per step (None: all it can); commit: the chance of a commit after a step that
    did something (a worker with nothing to do always commits); crashes: how many times a
    worker is killed at a random step (its uncommitted work is lost) and restarted;
    rebalances: how many times the partitions are dealt anew among fresh workers (after a
    commit), at a random step."""

    workers: int = 1
    seed: int = 0
    poll: tuple[int, int] = (1_000, 1_000)
    run: tuple[int, int] | None = None
    commit: float = 1.0
    crashes: int = 0
    rebalances: int = 0


class TestDriver:
    """Feeds records to a pipeline and reads back what it wrote."""

    __test__ = False  # not a pytest test class

    def __init__(self, pipeline: Pipeline, partitions: int | Mapping[str, int] = 1,
                 start_time: int = 0, schedule: Schedule | None = None) -> None:
        """partitions: of every input topic, or per topic ({topic: count}, default 1)."""
        counts = {t: partitions for t in plan(pipeline).external_sources} if isinstance(
            partitions, int) else {**partitions}
        self.plan = plan(pipeline, counts)
        self.log = MemoryLog()
        self.job = Job(self.plan, self.log)
        self.time = start_time
        self.schedule = schedule or Schedule()
        self.rng = random.Random(self.schedule.seed)
        self.events = {"crashes": self.schedule.crashes,
                       "rebalances": self.schedule.rebalances}
        for topic in (*self.plan.external_sources, *self.plan.global_topics):
            run_sync(self.log.create_topic(topic, counts.get(topic, 1)))
        self.workers: list[Worker] = []
        self._deal()

    @property
    def worker(self) -> Worker:
        """The (first) worker."""
        return self.workers[0]

    def _deal(self, drain: bool = False) -> None:
        """Deal the partitions among fresh workers (seeded)."""
        counts = run_sync(self.log.topics())
        partitions = list(range(max(counts.values())))
        self.rng.shuffle(partitions)
        groups = [frozenset(partitions[i::self.schedule.workers])
                  for i in range(min(self.schedule.workers, len(partitions)))]
        self.workers = [self._worker(group, drain) for group in groups]

    def _worker(self, partitions: frozenset[int], drain: bool = False) -> Worker:
        config = WorkerConfig(partitions=partitions if self.schedule.workers > 1 else None,
                              drain=drain)
        worker = self.job.worker(config)
        run_sync(worker.start())
        return worker

    def pipe(self, topic: str, value: Any, key: Any = None, timestamp: int | None = None,
             headers: Headers | None = None) -> None:
        """Append one record (dict/Struct -> JSON, bytes as is) and process it."""
        self.pipe_many(topic, [value], key=key, timestamp=timestamp, headers=headers)

    def pipe_many(self, topic: str, values: Iterable[Any], key: Any = None,
                  timestamp: int | None = None, headers: Headers | None = None) -> None:
        """Append several records with the same key and process them."""
        self.append(topic, values, key, timestamp, headers)
        self.process()

    def append(self, topic: str, values: Iterable[Any], key: Any = None,
               timestamp: int | None = None, headers: Headers | None = None) -> None:
        """Append records without processing them: several appends and one process()
        leave changes in flight together, as a busy log does."""
        ts = self.time if timestamp is None else timestamp
        records = [(key_to_bytes(key), _encode(v), ts, headers) for v in values]
        run_sync(self.log.produce(topic, records))

    def idle(self, ms: int) -> None:
        """Let `ms` of wall-clock time pass with no input (drives idle_timeout_ms)."""
        for worker in self.workers:
            for task in worker.tasks.values():
                task.last_input -= ms / 1000
            worker.tick(time.monotonic())
        self.process()

    def advance(self, ms: int) -> None:
        """Move the driver's record-timestamp clock forward."""
        self.time += ms

    def drain(self) -> None:
        """End the input where it ends now and process it all: every window, session and
        unmatched join row is emitted as final (later input falling into them is late)."""
        self.process()
        self._deal(drain=True)
        self.process()
        self._deal()

    def process(self) -> None:
        """Process until no worker has anything left to do, under the schedule."""
        while True:
            busy = False
            for i in self.rng.sample(range(len(self.workers)), len(self.workers)):
                if i < len(self.workers):  # (a rebalance may deal to fewer workers)
                    busy = self._step(self.workers[i]) or busy
                    busy = self._event() or busy
            if not busy:
                return

    def _step(self, worker: Worker) -> bool:
        """One step of `worker` (poll, run) and maybe a commit; True if anything happened."""
        low, high = self.schedule.poll
        worker.config.max_poll_records = self.rng.randint(low, high)
        if self.schedule.run is not None:
            worker.config.run_records = self.rng.randint(*self.schedule.run)
        done = run_sync(worker.step())
        if done and self.rng.random() >= self.schedule.commit:
            return True
        return run_sync(worker.commit()) or bool(done)

    def _event(self) -> bool:
        """Maybe kill and restart a worker, or deal the partitions anew (seeded); True when
        that happened."""
        if self.events["crashes"] and self.rng.random() < 0.05:
            self.events["crashes"] -= 1
            i = self.rng.randrange(len(self.workers))
            config = self.workers[i].config  # its uncommitted work is lost
            self.workers[i] = self._worker(config.partitions or frozenset(), config.drain)
            return True
        if self.events["rebalances"] and self.rng.random() < 0.03:
            self.events["rebalances"] -= 1
            for worker in self.workers:
                run_sync(worker.commit())
            self._deal(self.workers[0].config.drain)
            return True
        return False

    def read(self, topic: str) -> list[Output]:
        """Every record of `topic`, partition by partition, in offset order."""
        if topic not in run_sync(self.log.topics()):
            return []
        return [Output(topic, partition, off, key_from_bytes(k), _decode(v), ts, headers_text(h))
                for partition, records in enumerate(run_sync(read_partitions(self.log, topic)))
                for off, k, v, ts, h in records if not is_control(h)]

    def values(self, topic: str) -> list[Any]:
        """The decoded values of `topic`."""
        return [o.value for o in self.read(topic)]

    def table(self, name: str) -> View:
        """The table `name` as committed so far: get(key), items(...), windows(key, ...)."""
        counts = run_sync(self.log.topics())
        views = self.job.views(counts, self.workers[0].global_tables.rows())
        if name not in views:
            raise unknown_table(name, views)
        return views[name]

    def dead_letters(self) -> list[DeadLetter]:
        """Records of the pipeline's dead-letter topic with their reasons."""
        out = []
        for o in self.read(self.plan.dead_letter_topic):
            h = {name: text or "" for name, text in o.headers.items()}
            raw = o.value if isinstance(o.value, bytes) or o.value is None else _encode(o.value)
            out.append(DeadLetter(h["shoal.stage"], h["shoal.operator"], h["shoal.error"],
                                  h.get("shoal.source.topic", ""),
                                  int(h.get("shoal.source.partition", -1)),
                                  int(h.get("shoal.source.offset", -1)), o.key, raw,
                                  h.get("shoal.emitted.by")))
        return out
