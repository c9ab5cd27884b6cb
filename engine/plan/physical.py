"""The physical plan: sub-topologies with their fused code, stores and internal topics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.api import Node
from engine.api.processor import GlobalTableSpec

RecordTuple = tuple[int, bytes | None, bytes | None, int, Any]

Buffer = list[tuple[bytes | None, bytes | None, int, Any]]
DeadHandler = Callable[
    [int, Exception, str, int, int, bytes | None, bytes | None, int, Any], None
]
RunFn = Callable[[list[RecordTuple], int], None]
MakeProcessor = Callable[[int, Callable[..., None]], Any]
ChainFactory = Callable[[list[Buffer], DeadHandler, MakeProcessor], dict[str, RunFn]]


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
    sources: tuple[str, ...]
    outputs: tuple[tuple[str, str], ...]
    stages: tuple[tuple[str, str], ...]
    stores: tuple[str, ...]
    code: str
    factory: ChainFactory


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
    idle_timeout_ms: int | None = None
    global_tables: tuple[GlobalTableSpec, ...] = ()

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
        """Every state store (= queryable table) name."""
        return tuple(name for s in self.subtopologies for name in s.stores)

    @property
    def sink_topics(self) -> tuple[str, ...]:
        """User-visible topics the pipeline writes."""
        return tuple(t for s in self.subtopologies for t, kind in s.outputs if kind == "sink")
