"""Joins. Stream-table: each stream record looks up the table's current value for its key.

The join node reads the table node's store, so the two must share a task: the planner puts
them in one sub-topology (`links`) and the worker checks that their inputs are
co-partitioned. Table updates never trigger the join; only stream records do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.api.processor import Emit, Processor, ProcessorContext
from engine.api.state import KeyValueStore
from operators.aggregate import StatefulNode

Joiner = Callable[[Any, Any], Any]


@dataclass(frozen=True, slots=True)
class StreamTableJoin(StatefulNode):
    """stream ⋈ table on the record key; how = 'inner' (needs a row) or 'left'."""

    table: StatefulNode
    joiner: Joiner
    how: str

    @property
    def stores(self) -> tuple[str, ...]:
        return ()

    @property
    def links(self) -> tuple[int, ...]:
        return (self.table.id,)

    def describe(self) -> dict[str, Any]:
        return {"join": f"stream-table {self.how}", "table": self.table.name}

    def processor(self, ctx: ProcessorContext, emit: Emit) -> Processor:
        return TableLookup(ctx.store(self.table.name), self, emit)


class TableLookup:
    """Emits joiner(value, row) for each stream record (row None: no match, left only)."""

    def __init__(self, store: KeyValueStore, node: StreamTableJoin, emit: Emit) -> None:
        self.store, self.node, self.emit = store, node, emit
        self.inner = node.how == "inner"

    def process(self, key: bytes | None, value: Any, ts: int) -> None:
        if key is None:
            raise ValueError("a stream-table join needs a key; this record has none")
        stored = self.store.get(key)
        row = None if stored is None else self.node.table.table_value(stored)
        if row is None and self.inner:
            return
        self.emit(key, self.node.joiner(value, row), ts)
