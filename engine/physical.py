"""The physical plan: sub-topologies with their fused code, stores and internal topics.

This is everything the runtime needs to know of a plan; it imports no planner pass, DSL or
operator module, so the runtime loads none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.api import Node
from engine.api.codec import Codec
from engine.api.nodes import ProcessorNode
from engine.api.processor import Emit, GlobalTableSpec
from engine.api.records import Headers

RecordTuple = tuple[int, bytes | None, bytes | None, int, Headers | None]
Entry = tuple[int, int, bytes | None, Any, int, Headers | None, int, bytes | None]
"""(order time, offset, key, value, event time, headers, input index, raw value)."""


class Failed:
    """The value of an entry that cannot run: its decode, key or time stage failed in prep
    (op: that stage), or it is not a record of this pipeline (op -1)."""

    __slots__ = ("exc", "op")

    def __init__(self, op: int, exc: Exception) -> None:
        self.op, self.exc = op, exc


class Lane(Protocol):
    """What a generated prep function reads and updates: the running maximum event time."""

    ot: int


PrepFn = Callable[[list[RecordTuple], Lane], list[Entry]]
RunFn = Callable[[list[Entry]], None]
PlaceFn = Callable[[int], None]
DirectFn = Callable[[list[RecordTuple], Lane], None]
Chains = tuple[dict[int, PrepFn], RunFn, PlaceFn | None, DirectFn | None]
"""prep per external input; run; `place(ot)`: set the order time of results emitted outside
any record (idle ticks, the end of a drained input), None without processors; `direct`:
prep and run in one loop, for a task whose one input is external, None otherwise."""


class TaskRuntime(Protocol):
    """What a generated factory gets from its task."""

    @property
    def buffers(self) -> list[list[Any]]: ...

    def dead(self, op: int, exc: Exception, src: int, offset: int, key: bytes | None,
             raw: bytes | None, ts: int, headers: Headers | None) -> None: ...

    def dead_emitted(self, op: int, exc: Exception, key: bytes | None, value: Any, ts: int,
                     node: int, expired: bool, src: int, offset: int) -> None: ...

    def processor(self, node: int, emit: Emit | None) -> Callable[..., None]: ...

    def misplaced(self, topic: str, offset: int, key: bytes, null_key: bool) -> None:
        """Check that a sampled record of a keyed input is in its key's partition."""


Factory = Callable[[TaskRuntime], Chains]


@dataclass(frozen=True)
class Input:
    """One input topic of a sub-topology. Records of equal order time go by `rank` (tables,
    streams), then by input order. An internal input is written by every task of
    the sub-topology `writer`; `reaches` are the internal topics its records can reach."""

    topic: str
    internal: bool
    rank: int
    writer: int | None
    reaches: frozenset[str]


@dataclass(frozen=True)
class InternalTopic:
    """A topic the pipeline owns, e.g. `<pipeline>-<name>-repartition`."""

    name: str
    kind: str
    partitions: int | None
    written_by: int
    read_by: int


@dataclass(frozen=True)
class SubTopology:
    """A connected part of the graph between topics; runs as one task per partition."""

    id: int
    nodes: tuple[Node, ...]
    inputs: tuple[Input, ...]
    outputs: tuple[tuple[str, str], ...]
    stages: tuple[tuple[str, str], ...]
    stores: tuple[str, ...]
    code: str
    factory: Factory

    @property
    def sources(self) -> tuple[str, ...]:
        """The input topics, in the order the task ranks them."""
        return tuple(i.topic for i in self.inputs)

    @property
    def processor_nodes(self) -> dict[int, ProcessorNode]:
        """The nodes run by processors, by id."""
        return {n.id: n for n in self.nodes if isinstance(n, ProcessorNode)}

    @property
    def copartitioned(self) -> bool:
        """True when the inputs must have the same partition count (a join)."""
        return any(n.copartitioned for n in self.nodes)


@dataclass(frozen=True)
class PhysicalPlan:
    """Everything the runtime needs to run a pipeline, and what `shoal describe` prints."""

    pipeline: str
    on_error: str
    commit_interval_ms: int
    commit_records: int
    subtopologies: tuple[SubTopology, ...]
    internal_topics: tuple[InternalTopic, ...]
    dead_letter_topic: str
    dead_letter_retention_ms: int | None = None
    idle_timeout_ms: int | None = None
    global_tables: tuple[GlobalTableSpec, ...] = ()
    codec: Codec = field(default_factory=Codec, compare=False)  # values in topics and stores

    @property
    def internal_names(self) -> frozenset[str]:
        """Names of the internal topics."""
        return frozenset(t.name for t in self.internal_topics)

    @property
    def external_sources(self) -> tuple[str, ...]:
        """Source topics the pipeline reads that it does not write itself."""
        internal = self.internal_names
        return tuple(t for s in self.subtopologies for t in s.sources if t not in internal)

    @property
    def global_topics(self) -> tuple[str, ...]:
        """Topics read in full by every worker (global tables)."""
        return tuple(t.topic for t in self.global_tables)

    @property
    def stores(self) -> tuple[str, ...]:
        """Every state store name."""
        return tuple(name for s in self.subtopologies for name in s.stores)

    @property
    def sink_topics(self) -> tuple[str, ...]:
        """User-visible topics the pipeline writes."""
        return tuple(t for s in self.subtopologies for t, kind in s.outputs if kind == "sink")
