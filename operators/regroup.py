"""Re-aggregation of a changing table (Kafka Streams' KTable.groupBy(...).aggregate with an
adder and a subtractor).

Each change of a row (key k: old -> new) leaves the old row's group and joins the new row's:
`TableRegroup` keeps the last row per key (store `<name>.rows`) and emits [0, old] keyed by
the old group and [1, new] keyed by the new one; a repartition brings each group's changes to
one task, where a `GroupAggregate` applies `add` or `subtract` and deletes a group left
empty. Sums, counts and means of a table stay exact as its rows change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.api.aggregators import Aggregator
from engine.api.keys import key_encoder
from engine.api.nodes import ProcessorNode, TableNode
from engine.api.processor import Emit, Processor, ProcessorContext, require_key
from engine.api.state import KeyValueStore


@dataclass(frozen=True, slots=True)
class TableRegroup(ProcessorNode):
    """Emits each table change as a subtraction from the old row's group and an addition to
    the new row's group (`fn(row)`, written as `group_key_type`)."""

    fn: Callable[[Any], Any]
    group_key_type: str = "json"

    @property
    def stores(self) -> tuple[str, ...]:
        return (f"{self.name}.rows",)

    def describe(self) -> dict[str, Any]:
        return {"regroup": True, "store": self.stores[0]}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return Regroup(ctx.store(self.stores[0]), self.fn,
                       key_encoder(self.group_key_type), emit)


class Regroup(Processor):
    """rows[key] = [group key, row]; a change emits [0, old row] to the old group and
    [1, new row] to the new group."""

    def __init__(self, rows: KeyValueStore, fn: Callable[[Any], Any],
                 encode: Callable[[Any], bytes | None], emit: Emit | None) -> None:
        self.rows, self.fn, self.encode, self.emit = rows, fn, encode, emit

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a table's group_by")
        old = self.rows.get(key)
        group = None if value is None else self.encode(self.fn(value))
        self.rows.put(key, None if group is None else [group, value])
        if self.emit is None:
            return
        if old is not None:
            self.emit(old[0], [0, old[1]], ts)
        if group is not None:
            self.emit(group, [1, value], ts)


@dataclass(frozen=True, slots=True)
class GroupAggregate(TableNode):
    """Per group, `aggregator` over the rows in it: [1, row] adds a row, [0, row] subtracts
    one; a group whose last row left is deleted (as in SQL, no empty groups)."""

    aggregator: Aggregator

    def describe(self) -> dict[str, Any]:
        return {"aggregate": f"{self.aggregator.label} (add/subtract)", "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        if self.aggregator.subtract is None:
            raise ValueError(f"'{self.name}': {self.aggregator.label} cannot subtract")
        return Grouped(ctx.store(self.name), self.aggregator, emit)

    def table_value(self, stored: Any) -> Any:
        return self.aggregator.result(stored[0][1])


class Grouped(Processor):
    """acc[group] = [rows in the group, aggregate]; emits the result, or None (a delete)
    when the group is left empty."""

    def __init__(self, store: KeyValueStore, agg: Aggregator, emit: Emit | None) -> None:
        self.store, self.agg, self.emit = store, agg, emit
        assert agg.subtract is not None
        self.subtract = agg.subtract

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a group_by aggregation")
        add, row = value
        old = self.store.get(key)
        n, acc = old[0] if old is not None else (0, self.agg.initial())
        if old is not None:
            ts = max(ts, old[1])
        n, acc = (n + 1, self.agg.add(acc, row)) if add else (n - 1, self.subtract(acc, row))
        self.store.put(key, None if n == 0 else ([n, acc], ts))
        if self.emit is not None:
            self.emit(key, None if n == 0 else self.agg.result(acc), ts)


def check_subtract(aggregator: Aggregator) -> Aggregator:
    """`aggregator`, if it can subtract a row (else a clear error for the DSL)."""
    if aggregator.subtract is None:
        raise ValueError(f"a table's group_by needs an aggregator that can subtract "
                         f"(count, sum, mean, or Aggregator(..., subtract=...)); "
                         f"{aggregator.label} cannot")
    return aggregator
