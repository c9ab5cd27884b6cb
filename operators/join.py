"""Joins. Stream-table: each stream record looks up the table's current value for its key.
Table-table: a change on either side recomputes the key's joined row.

The join node reads the table nodes' stores, so they share a task: the planner puts them in
one sub-topology (`links` or parents) and makes their inputs co-partitioned. Table updates
never trigger a stream-table join; only stream records do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.api.keys import json_key
from engine.api.nodes import ProcessorNode, TableNode
from engine.api.processor import (
    Emit,
    Processor,
    ProcessorContext,
    require_key,
    require_value,
)
from engine.api.state import KeyValueStore

Joiner = Callable[[Any, Any], Any]


class JoinNode(ProcessorNode):
    """What joins share: their inputs must be co-partitioned."""

    __slots__ = ()

    @property
    def copartitioned(self) -> bool:
        return True


class TwoSidedJoin(JoinNode):
    """A join fed by both parents: the fused call says which side a record came from."""

    __slots__ = ()

    @property
    def sided(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class StreamTableJoin(JoinNode):
    """stream ⋈ table on the record key; how = 'inner' (needs a row) or 'left'."""

    table: TableNode
    joiner: Joiner
    how: str

    @property
    def links(self) -> tuple[int, ...]:
        return (self.table.id,)

    def describe(self) -> dict[str, Any]:
        return {"join": f"stream-table {self.how}", "table": self.table.name}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return Lookup(ctx.store(self.table.name), self.table.table_value, None, self.joiner,
                      self.how, emit)


class Lookup(Processor):
    """Emits joiner(value, row) for each stream record, row = the table's row for the
    record key or key_fn(value) (None: no row; left joins only)."""

    def __init__(self, table: KeyValueStore, row: Callable[[Any], Any],
                 key_fn: Callable[[Any], Any] | None, joiner: Joiner, how: str,
                 emit: Emit | None, lookup_key: Callable[[Any], bytes | None] = json_key
                 ) -> None:
        self.table, self.row, self.key_fn, self.joiner = table, row, key_fn, joiner
        self.lookup_key = lookup_key  # key_fn's result as the table writes its keys
        self.inner, self.emit = how == "inner", emit

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        require_value(value, "a stream-table join")
        if self.key_fn is None:
            stored = self.table.get(require_key(key, "a stream-table join"))
        else:  # a global table: key_fn(value) None means no row
            lookup = self.lookup_key(self.key_fn(value))
            stored = None if lookup is None else self.table.get(lookup)
        row = None if stored is None else self.row(stored)
        if (row is not None or not self.inner) and self.emit is not None:
            self.emit(key, self.joiner(value, row), ts)


@dataclass(frozen=True, slots=True)
class JoinedTable(TwoSidedJoin, TableNode):
    """A join of two tables whose result is a table, materialized under the join's name
    (queryable, and joinable in turn)."""

    left: TableNode
    right: TableNode
    joiner: Joiner
    how: str
    join_kind: ClassVar[str] = "table-table"

    def describe(self) -> dict[str, Any]:
        return {"join": f"{self.join_kind} {self.how}", "left": self.left.name,
                "right": self.right.name, "store": self.name}


@dataclass(frozen=True, slots=True)
class TableTableJoin(JoinedTable):
    """left ⋈ right on the key; a change on either side emits the joined row (None deletes
    it). how: 'inner', 'left' or 'outer'."""

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return RowJoin(ctx.store(self.left.name), ctx.store(self.right.name), self,
                       Materializer(ctx.store(self.name), emit))


class Materializer:
    """Keeps each change of a joined table in its store and passes it on; a delete of a key
    that has no row is not passed on (nothing to delete, as in Kafka Streams)."""

    def __init__(self, store: KeyValueStore, emit: Emit | None) -> None:
        self.store, self.emit = store, emit

    def __call__(self, key: bytes, value: Any, ts: int) -> None:
        if value is None and self.store.get(key) is None:
            return
        self.store.put(key, None if value is None else (value, ts))
        if self.emit is not None:
            self.emit(key, value, ts)


class RowJoin(Processor):
    """Recomputes the joined row of a key whenever either side changes; the row's time is
    the later of the two sides' (the other side's time counts only while it has a row)."""

    def __init__(self, left: KeyValueStore, right: KeyValueStore, node: TableTableJoin,
                 keep: Materializer) -> None:
        self.stores, self.node, self.keep = (left, right), node, keep
        self.tables = (node.left, node.right)

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a table-table join")
        stored = self.stores[1 - side].get(key)
        other = None
        if stored is not None:
            table = self.tables[1 - side]
            other, ts = table.table_value(stored), max(ts, table.table_time(stored))
        left, right = (value, other) if side == 0 else (other, value)
        how = self.node.how
        present = (left is not None and right is not None) or (
            how == "left" and left is not None) or (
            how == "outer" and (left is not None or right is not None))
        self.keep(key, self.node.joiner(left, right) if present else None, ts)
