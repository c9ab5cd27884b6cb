"""TestDriver: run a pipeline in process on an in-memory log, deterministically.

    driver = TestDriver(p)
    driver.pipe("orders", {"order_id": "o-1", ...})
    assert driver.values("orders.large") == [...]
    assert driver.dead_letters()[0].stage == "schema"

Every `pipe` processes the new input to the end and commits, so what you read back is what a
real run would have written. No data directory, no threads, no event loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from engine.api import Headers
from engine.api.records import is_control
from engine.api.serde import key_from_bytes, key_to_bytes
from engine.dsl import Pipeline
from engine.plan import plan
from engine.query import View, table_views, unknown_table
from engine.runtime import Worker, run_sync
from engine.state import DictBackend
from engine.transport import MemoryLog


@dataclass(frozen=True)
class Output:
    """A record a pipeline wrote, with its value decoded from JSON when it is JSON."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any
    timestamp: int
    headers: dict[str, str]


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


def _headers(headers: Headers | None) -> dict[str, str]:
    return {str(k): bytes(v).decode("utf-8", "replace") for k, v in headers or []}


class TestDriver:
    """Feeds records to a pipeline and reads back what it wrote."""

    __test__ = False  # not a pytest test class

    def __init__(self, pipeline: Pipeline, partitions: int | Mapping[str, int] = 1,
                 start_time: int = 0) -> None:
        """partitions: of every input topic, or per topic ({topic: count}, default 1)."""
        counts = {t: partitions for t in plan(pipeline).external_sources} if isinstance(
            partitions, int) else {**partitions}
        self.plan = plan(pipeline, counts)
        self.log = MemoryLog()
        self.time = start_time
        for topic in (*self.plan.external_sources, *self.plan.global_topics):
            run_sync(self.log.create_topic(topic, counts.get(topic, 1)))
        self.worker = Worker(self.plan, self.log,
                             backends=lambda name: DictBackend(self.log.state_dict(name)))
        run_sync(self.worker.start())

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
        for task in self.worker.tasks.values():
            task.last_input -= ms / 1000
        self.worker.tick(time.monotonic())
        self.process()

    def advance(self, ms: int) -> None:
        """Move the driver's record-timestamp clock forward."""
        self.time += ms

    def process(self) -> None:
        """Process until nothing is left, committing after each round."""
        while True:
            n = run_sync(self.worker.step())
            committed = run_sync(self.worker.commit())
            if n == 0 and not committed:
                return

    def read(self, topic: str) -> list[Output]:
        """Every record of `topic`, partition by partition, in offset order."""
        if topic not in run_sync(self.log.topics()):
            return []
        out = []
        for partition, end in enumerate(run_sync(self.log.end_offsets(topic))):
            for off, k, v, ts, h in run_sync(self.log.read((topic, partition), 0, end)):
                if not is_control(h):
                    out.append(Output(topic, partition, off, key_from_bytes(k), _decode(v), ts,
                                      _headers(h)))
        return out

    def values(self, topic: str) -> list[Any]:
        """The decoded values of `topic`."""
        return [o.value for o in self.read(topic)]

    def table(self, name: str) -> View:
        """The table `name` as committed so far: get(key), items(...), windows(key, ...)."""
        counts = run_sync(self.log.topics())
        views = table_views(self.plan, counts, lambda q: DictBackend(self.log.state_dict(q)),
                            self.worker.global_tables.rows())
        if name not in views:
            raise unknown_table(name, views)
        return views[name]

    def dead_letters(self) -> list[DeadLetter]:
        """Records of the pipeline's dead-letter topic with their reasons."""
        out = []
        for o in self.read(self.plan.dead_letter_topic):
            h = o.headers
            raw = o.value if isinstance(o.value, bytes) or o.value is None else _encode(o.value)
            out.append(DeadLetter(h["shoal.stage"], h["shoal.operator"], h["shoal.error"],
                                  h.get("shoal.source.topic", ""),
                                  int(h.get("shoal.source.partition", -1)),
                                  int(h.get("shoal.source.offset", -1)), o.key, raw,
                                  h.get("shoal.emitted.by")))
        return out
