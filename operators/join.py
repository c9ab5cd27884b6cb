"""Joins. Stream-table: each stream record looks up the table's current value for its key.

The join node reads the table node's store, so the two must share a task: the planner puts
them in one sub-topology (`links`) and the worker checks that their inputs are
co-partitioned. Table updates never trigger the join; only stream records do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.api import FuseContext
from engine.api.processor import Emit, Processor, ProcessorContext
from engine.api.serde import key_to_bytes
from engine.api.state import KeyValueStore
from operators.aggregate import StatefulNode

Joiner = Callable[[Any, Any], Any]


class JoinNode(StatefulNode):
    """What joins share: inputs must be co-partitioned; no store of their own by default."""

    __slots__ = ()

    @property
    def stores(self) -> tuple[str, ...]:
        return ()

    @property
    def copartitioned(self) -> bool:
        return True


class TwoSidedJoin(JoinNode):
    """A join fed by both parents: the fused call says which side a record came from."""

    __slots__ = ()

    def fuse(self, ctx: FuseContext, var: str) -> str:
        ctx.stage("operator", self.name)
        side = self.parents.index(ctx.came_from) if ctx.came_from in self.parents else 0
        ctx.w.line(f"proc_{self.id}(k, {var}, ts, {side})")
        return "v"


@dataclass(frozen=True, slots=True)
class StreamTableJoin(JoinNode):
    """stream ⋈ table on the record key; how = 'inner' (needs a row) or 'left'."""

    table: StatefulNode
    joiner: Joiner
    how: str

    @property
    def links(self) -> tuple[int, ...]:
        return (self.table.id,)

    def describe(self) -> dict[str, Any]:
        return {"join": f"stream-table {self.how}", "table": self.table.name}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return Lookup(ctx.store(self.table.name), self.table.table_value, None, self.joiner,
                      self.how, emit)


class Lookup:
    """Emits joiner(value, row) for each stream record, row = the table's row for the
    record key or key_fn(value) (None: no row; left joins only)."""

    def __init__(self, table: KeyValueStore, row: Callable[[Any], Any],
                 key_fn: Callable[[Any], Any] | None, joiner: Joiner, how: str,
                 emit: Emit) -> None:
        self.table, self.row, self.key_fn, self.joiner = table, row, key_fn, joiner
        self.inner, self.emit = how == "inner", emit

    def process(self, key: bytes | None, value: Any, ts: int) -> None:
        if self.key_fn is None:
            if key is None:
                raise ValueError("a stream-table join needs a key; this record has none")
            stored = self.table.get(key)
        else:  # a global table: key_fn(value) None means no row
            lookup = key_to_bytes(self.key_fn(value))
            stored = None if lookup is None else self.table.get(lookup)
        row = None if stored is None else self.row(stored)
        if row is None and self.inner:
            return
        self.emit(key, self.joiner(value, row), ts)


@dataclass(frozen=True, slots=True)
class JoinedTable(TwoSidedJoin):
    """A join of two tables whose result is a table, materialized under the join's name."""

    left: StatefulNode
    right: StatefulNode
    joiner: Joiner
    how: str
    join_kind: ClassVar[str] = "table-table"

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.name,)  # the joined table, queryable and joinable in turn

    def describe(self) -> dict[str, Any]:
        return {"join": f"{self.join_kind} {self.how}", "left": self.left.name,
                "right": self.right.name, "store": self.name}


@dataclass(frozen=True, slots=True)
class TableTableJoin(JoinedTable):
    """left ⋈ right on the key; a change on either side emits the joined row (None deletes
    it). how: 'inner', 'left' or 'outer'."""

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return RowJoin(ctx.store(self.left.name), ctx.store(self.right.name), self,
                       materialized(ctx.store(self.name), emit))


def materialized(store: KeyValueStore, emit: Emit) -> Emit:
    """`emit` that first keeps each change in `store` (None deletes): a joined table."""

    def keep(key: bytes | None, value: Any, ts: int) -> None:
        if key is not None:
            store.put(key, value)
        emit(key, value, ts)

    return keep


class RowJoin:
    """Recomputes the joined row of a key whenever either side changes."""

    def __init__(self, left: KeyValueStore, right: KeyValueStore, node: TableTableJoin,
                 emit: Emit) -> None:
        self.stores, self.node, self.emit = (left, right), node, emit

    def _row(self, side: int, key: bytes) -> Any:
        stored = self.stores[side].get(key)
        table = self.node.left if side == 0 else self.node.right
        return None if stored is None else table.table_value(stored)

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        if key is None:
            raise ValueError("a table-table join needs keys; this change has none")
        left = value if side == 0 else self._row(0, key)
        right = value if side == 1 else self._row(1, key)
        how = self.node.how
        present = (left is not None and right is not None) or (
            how == "left" and left is not None) or (
            how == "outer" and (left is not None or right is not None))
        self.emit(key, self.node.joiner(left, right) if present else None, ts)
