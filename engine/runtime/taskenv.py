"""What the tasks of a worker share (TaskEnv), and what a processor of one task may use
(TaskContext: its partition, its stores, the worker's global tables)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engine.api import TopicPartition
from engine.api.codec import Codec
from engine.api.state import KeyValueStore
from engine.state import CACHE_ENTRIES, Backend, TaskStore
from engine.transport.partitioner import Partitioner

StoreBackends = Callable[[str], Backend]


@dataclass(frozen=True)
class TaskEnv:
    """What every task of a worker shares: the pipeline's settings and the topics' shapes."""

    namespace: str  # the pipeline: stores are `<pipeline>.<store>`
    policy: str
    dead_letter_topic: str
    counts: Mapping[str, int]  # partitions of every topic the tasks read or write
    writers: Mapping[str, int]  # internal topic -> how many tasks write it
    backends: StoreBackends
    global_tables: Mapping[str, KeyValueStore]
    number_sinks: bool  # a log without exactly-once commits: sink records get sequences
    partitioner: Partitioner
    ends: Mapping[TopicPartition, int] | None = None  # a drained run: where inputs end
    told: bool = False  # writers tell readers their bounds directly (one worker, local log)
    cache_entries: int = CACHE_ENTRIES  # per task and store
    codec: Codec = field(default_factory=Codec)  # how stored values are encoded
    debug: bool = False  # dead letters carry tracebacks (shoal run --debug)



class TaskContext:
    """What a processor of this task may use: its partition and its stores."""

    def __init__(self, partition: int, env: TaskEnv) -> None:
        self.partition = partition
        self.env = env
        self.stores: dict[str, TaskStore] = {}

    def global_table(self, name: str) -> KeyValueStore:
        """The worker's copy of global table `name`."""
        return self.env.global_tables[name]

    def store(self, name: str) -> KeyValueStore:
        """The task's store `name` (created on first use), kept as `<pipeline>.<name>`."""
        store = self.stores.get(name)
        if store is None:
            qualified = f"{self.env.namespace}.{name}"
            store = self.stores[name] = TaskStore(qualified, self.partition,
                                                  self.env.backends(qualified),
                                                  self.env.cache_entries, self.env.codec)
        return store
