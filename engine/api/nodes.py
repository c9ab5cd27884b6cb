"""The logical graph's node types. Nodes are immutable and carry their own code.

- `Node`: writes its per-record code into the fused loop of its sub-topology (`fuse`).
- `ProcessorNode`: a node whose work runs in a `Processor` built per task (aggregations,
  tables, joins); it may own stores (`stores`).
- `Materialized`: the capability of being a queryable table (read by `engine/query`).
The runtime only sees these types, so it never imports `operators`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.api.codegen import FuseContext, Fused
from engine.api.processor import Emit, Processor, ProcessorContext


@dataclass(frozen=True, slots=True)
class Node:
    """One operator of a pipeline's logical graph."""

    id: int
    name: str
    parents: tuple[int, ...]
    pipeline: str = field(default="", kw_only=True)
    key_type: str = field(default="json", kw_only=True)  # of the output's keys (api/keys.py)
    partitioner: str = field(default="murmur2", kw_only=True)  # how its keys are placed

    @property
    def kind(self) -> str:
        """Short operator kind shown in plans."""
        return type(self).__name__.lower()

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        """Write this node's per-record code reading `var` (the output of `parent`); return
        what its children read and the blocks they are nested in."""
        raise NotImplementedError(f"{self.kind} cannot be fused")

    def describe(self) -> dict[str, Any]:
        """Extra facts for `shoal describe`."""
        return {}

    @property
    def repartitions(self) -> bool:
        """True when this node ends a sub-topology by writing a repartition topic."""
        return False

    @property
    def copartitioned(self) -> bool:
        """True when all inputs of this node's task must have the same partitions (joins)."""
        return False

    @property
    def links(self) -> tuple[int, ...]:
        """Nodes (besides parents) this node must share a task with, e.g. a joined table."""
        return ()

    @property
    def keyed(self) -> bool | None:
        """Whether the output is keyed; None means 'same as the input'."""
        return None


class ProcessorNode(Node):
    """A node run by a processor built per task; the fused chain ends with a call to it and
    its children run in the emit function it is given."""

    __slots__ = ()

    @property
    def stores(self) -> tuple[str, ...]:
        """Names of the stores this node owns (stores and internal topics derive from the
        node's stable name)."""
        return ()

    @property
    def needs_keys(self) -> bool:
        """True when the input must be keyed (equal keys meet in one task)."""
        return True

    @property
    def sided(self) -> bool:
        """True when the processor needs to know which parent a record comes from."""
        return False

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        """Build this node's processor for one task (emit None: nothing downstream)."""
        raise NotImplementedError

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("operator", self.name)
        side = f", {self.parents.index(parent)}" if self.sided and parent in self.parents else ""
        ctx.w.line(f"proc_{self.id}(k, {var}, ts{side})")
        return Fused(None)


class Materialized:
    """Capability of a node whose store `name` is a queryable table."""

    __slots__ = ()

    @property
    def windowed(self) -> bool:
        """True when the store's keys are (key, window start)."""
        return False

    def window_end(self, start: int, stored: Any) -> int:
        """End of the window starting at `start` whose stored entry is `stored`."""
        return start

    def table_value(self, stored: Any) -> Any:
        """The table's value for a stored entry."""
        return stored[0]

    def table_time(self, stored: Any) -> int:
        """The time of a stored entry: the largest event time that made the row (the
        timestamp a Kafka Streams timestamped store keeps)."""
        return int(stored[1])


class TableNode(ProcessorNode, Materialized):
    """A processor node whose one store, named after it, is a queryable table; a row is
    stored as (value, time) unless the node says otherwise (windowed nodes do)."""

    __slots__ = ()

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.name,)


def callable_name(fn: Any) -> str:
    """A readable name of a user function for plans and error headers."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return str(name) if name else type(fn).__name__
