"""A task: one partition of one sub-topology, with its stores and input positions."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from engine.api import OutRecord, TopicPartition
from engine.api.state import KeyValueStore
from engine.plan import SubTopology
from engine.runtime.buffers import OutputBuffers
from engine.runtime.deadletter import DeadLetters
from engine.runtime.ordering import InputQueues
from engine.state import Backend, TaskStore
from engine.transport import RecordTuple, StateWrite

StoreBackends = Callable[[str], Backend]


class TaskContext:
    """What a processor of this task may use: its partition and its stores."""

    def __init__(self, partition: int, backends: StoreBackends, namespace: str,
                 global_tables: Mapping[str, KeyValueStore] | None = None) -> None:
        self.partition = partition
        self.backends = backends
        self.namespace = namespace
        self.stores: dict[str, TaskStore] = {}
        self.global_tables = global_tables or {}

    def global_table(self, name: str) -> KeyValueStore:
        """The worker's copy of global table `name`."""
        return self.global_tables[name]

    def store(self, name: str) -> KeyValueStore:
        """The task's store `name` (created on first use), kept as `<pipeline>.<name>`."""
        store = self.stores.get(name)
        if store is None:
            qualified = f"{self.namespace}.{name}"
            store = self.stores[name] = TaskStore(qualified, self.partition,
                                                  self.backends(qualified))
        return store


class Task:
    """Runs a sub-topology's fused chains over batches of one partition's records."""

    def __init__(self, sub: SubTopology, partition: int, policy: str, outputs: OutputBuffers,
                 dead_letter_topic: str, backends: StoreBackends | None = None,
                 namespace: str = "",
                 global_tables: Mapping[str, KeyValueStore] | None = None) -> None:
        self.sub = sub
        self.partition = partition
        self.buffers: list[list[OutRecord]] = [outputs.get(t) for t, _ in sub.outputs]
        self.dead = DeadLetters(policy, sub.stages, outputs.get(dead_letter_topic))
        self.context = TaskContext(partition, backends or _no_state, namespace, global_tables)
        nodes = {n.id: n for n in sub.nodes}

        self.processors: list[Any] = []
        self.last_input = time.monotonic()
        self.last_idle = 0.0

        def make_proc(node_id: int, emit: Callable[..., None]) -> Any:
            proc = nodes[node_id].processor(self.context, emit)  # type: ignore[attr-defined]
            self.processors.append(proc)
            return proc

        self.runs = sub.factory(self.buffers, self.dead, make_proc)
        self.positions: dict[TopicPartition, int] = {}
        self.pending = 0
        self.inputs = InputQueues()

    @property
    def id(self) -> str:
        """Task id as Kafka Streams writes it: `<sub-topology>_<partition>`."""
        return f"{self.sub.id}_{self.partition}"

    def process(self, tp: TopicPartition, records: list[RecordTuple]) -> None:
        """Queue one fetched batch of `tp`; `drain` runs it."""
        self.inputs.add(tp, records)

    def head(self, waiting: set[TopicPartition]) -> int | None:
        """Event time of the next record this task would run (None: nothing runnable)."""
        return self.inputs.head(waiting)

    def drain(self, waiting: set[TopicPartition], limit: int,
              horizon: int | None = None) -> int:
        """Run up to `limit` queued records, none newer than `horizon`, in event-time order
        across this task's inputs (see engine/runtime/ordering.py); returns how many ran."""
        ran = 0
        for tp, run in self.inputs.take(waiting, limit, horizon):
            self._run(tp, run)
            ran += len(run)
        return ran

    def _run(self, tp: TopicPartition, records: list[RecordTuple]) -> None:
        """Push records of `tp` through the chain; outputs stay buffered until commit."""
        self.runs[tp[0]](records, tp[1])
        self.positions[tp] = records[-1][0] + 1
        self.pending += len(records)
        self.last_input = time.monotonic()

    def idle(self, now: float, timeout_ms: int) -> bool:
        """Advance time-driven processors when no input came for `timeout_ms` (wall clock)."""
        elapsed = int((now - self.last_input) * 1000)
        if elapsed < timeout_ms or (now - self.last_idle) * 1000 < timeout_ms:
            return False  # not quiet long enough, or already moved on in this period
        self.last_idle = now
        for proc in self.processors:
            if hasattr(proc, "idle"):
                try:
                    proc.idle(elapsed)
                except Exception as exc:  # raised downstream of a window it closed
                    self.dead(0, exc, "(idle timeout)", self.partition, -1, None, None, 0, None)
        self.pending += 1  # state may have changed: make the next commit happen
        return True

    def flush_state(self) -> list[StateWrite]:
        """The dirty entries of every store, for the same commit."""
        for proc in self.processors if self.pending else ():  # else stream time is as stored
            if hasattr(proc, "before_commit"):
                proc.before_commit()
        return [StateWrite(store.name, self.partition, changes, dict(self.positions))
                for store in self.context.stores.values() if (changes := store.flush())]


def _no_state(name: str) -> Backend:
    raise RuntimeError(f"store '{name}' used but this run has no state backend")
