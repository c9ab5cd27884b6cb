"""Aggregations and tables in the DSL: keyed streams aggregate into queryable tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.api import PlanError
from engine.api import aggregators as agg
from engine.api.aggregators import Aggregator, Field
from engine.api.keys import KeySpec, key_type_name
from engine.api.nodes import TableNode
from engine.api.windows import SessionWindows, SlidingWindows, TimeWindows, WindowSpec
from engine.dsl.checks import check_fn, check_name
from operators import Repartition
from operators.aggregate import (
    Aggregate,
    Materialize,
    TableFilter,
    TableMap,
    WindowAggregate,
)
from operators.fk_join import FKRespond, FKResult, FKSubscribe
from operators.join import TableTableJoin
from operators.regroup import GroupAggregate, TableRegroup, check_subtract
from operators.session import SessionAggregate
from operators.sliding import SlidingAggregate

if TYPE_CHECKING:
    from engine.dsl.pipeline import Pipeline, Stream

EMIT_MODES = ("updates", "final")
DAY = 86_400_000


class Aggregations:
    """count/sum/min/max/mean/collect/reduce/aggregate for keyed and windowed streams."""

    pipeline: Pipeline
    node_id: int

    def aggregate(self, aggregator: Aggregator, name: str) -> Table:
        """Aggregate with a custom (or built-in) Aggregator into the table `name`."""
        if not isinstance(aggregator, Aggregator):
            raise TypeError("aggregate() takes an Aggregator (from engine import "
                            "Aggregator, aggregators: Aggregator(initial, add, ...) or "
                            "aggregators.top_n(...))")
        check_name(name, "aggregate", required=True)
        return self._aggregate(aggregator, name)

    def _aggregate(self, aggregator: Aggregator, name: str) -> Table:
        stream = self.pipeline._add(Aggregate, (self.node_id,), name, aggregator=aggregator)
        return Table(self.pipeline, stream.node_id)

    def count(self, name: str) -> Table:
        """Records per key."""
        return self.aggregate(agg.count(), name)

    def sum(self, field: Field = None, *, name: str) -> Table:
        """Sum of a field (name or function) per key."""
        return self.aggregate(agg.sum_of(field), name)

    def min(self, field: Field = None, *, name: str) -> Table:
        """Smallest value of a field per key."""
        return self.aggregate(agg.min_of(field), name)

    def max(self, field: Field = None, *, name: str) -> Table:
        """Largest value of a field per key."""
        return self.aggregate(agg.max_of(field), name)

    def mean(self, field: Field = None, *, name: str) -> Table:
        """Mean of a field per key."""
        return self.aggregate(agg.mean_of(field), name)

    def collect(self, field: Field = None, *, name: str) -> Table:
        """Every value (of a field) per key, in arrival order."""
        return self.aggregate(agg.collect(field), name)

    def top_n(self, n: int, by: Field, *, name: str) -> Table:
        """The `n` whole records with the largest `by` per key (or window), best first; of
        equal ones the earlier arrival ranks first. An updating table of lists.

            >>> p = Pipeline("auctions")
            >>> bids = p.stream("bids", key="auction")
            >>> top = bids.top_n(10, by="price", name="top-bids")
        """
        return self.aggregate(agg.top_n(n, by), name)

    def max_by(self, by: Field, *, name: str, ties: bool = False) -> Table:
        """The whole record with the largest `by` per key (or window); the first to arrive
        of equal ones. ties=True: the list of all records sharing the largest `by`.

            >>> p = Pipeline("auctions")
            >>> winning = p.stream("bids", key="auction").max_by("price", name="winning")
        """
        return self.aggregate(agg.max_by(by, ties), name)

    def min_by(self, by: Field, *, name: str, ties: bool = False) -> Table:
        """The whole record with the smallest `by` per key (or window); the first to arrive
        of equal ones. ties=True: the list of all records sharing the smallest `by`.

            >>> p = Pipeline("auctions")
            >>> first = p.stream("bids", key="auction").min_by("ts", name="first-bid")
        """
        return self.aggregate(agg.min_by(by, ties), name)

    def reduce(self, fn: Callable[[Any, Any], Any], *, name: str) -> Table:
        """fn(previous, value) folded per key."""
        if not callable(fn):
            raise TypeError("reduce() expects a callable")
        return self.aggregate(agg.reduce(fn), name)


@dataclass(frozen=True)
class WindowedStream(Aggregations):
    """A keyed stream cut into windows; its aggregations are windowed tables."""

    pipeline: Pipeline
    node_id: int
    windows: WindowSpec
    grace: int
    emit: str
    retention: int

    def _aggregate(self, aggregator: Aggregator, name: str) -> Table:
        if isinstance(self.windows, SessionWindows):
            if aggregator.merge is None:
                raise ValueError(f"session windows merge sessions: the {aggregator.label} "
                                 "aggregator needs a merge function")
            stream = self.pipeline._add(
                SessionAggregate, (self.node_id,), name, aggregator=aggregator,
                windows=self.windows, grace=self.grace, emit_mode=self.emit,
                retention=self.retention)
            return Table(self.pipeline, stream.node_id, windowed=True)
        if isinstance(self.windows, SlidingWindows):
            stream = self.pipeline._add(
                SlidingAggregate, (self.node_id,), name, aggregator=aggregator,
                windows=self.windows, grace=self.grace, emit_mode=self.emit,
                retention=self.retention)
            return Table(self.pipeline, stream.node_id, windowed=True)
        stream = self.pipeline._add(
            WindowAggregate, (self.node_id,), name, aggregator=aggregator,
            windows=self.windows, grace=self.grace, emit_mode=self.emit,
            retention=self.retention)
        return Table(self.pipeline, stream.node_id, windowed=True)


def windowed(stream: Stream, windows: WindowSpec, grace: int, emit: str,
             retention: int | None) -> WindowedStream:
    """Validate window arguments and build the WindowedStream."""
    if not isinstance(windows, TimeWindows | SessionWindows | SlidingWindows):
        raise TypeError("window() takes windows.tumbling/hopping/session/sliding(...)")
    if not isinstance(grace, int) or grace < 0:
        raise ValueError(f"grace must be >= 0 ms, got {grace!r}")
    if emit not in EMIT_MODES:
        raise ValueError(f"emit must be one of {EMIT_MODES}, got {emit!r}")
    size = getattr(windows, "size", 0) or getattr(windows, "gap", 0)
    keep = max(size + grace, DAY) if retention is None else retention
    if keep < size + grace:
        raise ValueError(f"retention ({keep} ms) must cover size + grace ({size + grace} ms)")
    return WindowedStream(stream.pipeline, stream.node_id, windows, grace, emit, keep)


@dataclass(frozen=True)
class Table:
    """A table: the latest value per key (or per key and window). Queryable by its name."""

    pipeline: Pipeline
    node_id: int
    windowed: bool = False

    @property
    def name(self) -> str:
        """The table's (store's) name."""
        return self.pipeline.nodes[self.node_id].name

    def to_stream(self) -> Stream:
        """The table's changes as a stream."""
        return self.pipeline.stream_at(self.node_id)

    def map_values(self, fn: Callable[[Any], Any], name: str | None = None, *,
                   materialized: str | None = None) -> Table:
        """A table of fn(value) per key; deletes stay deletes. materialized: keep the result
        in a store of that name (queryable, and joinable)."""
        if not callable(fn):
            raise TypeError("map_values() expects a callable")
        node = self.pipeline._add(TableMap, (self.node_id,), name, fn=fn)
        return Table(self.pipeline, node.node_id, self.windowed)._materialize(materialized)

    def filter(self, fn: Callable[[Any], Any], name: str | None = None, *,
               materialized: str | None = None) -> Table:
        """A table of the rows fn accepts; a row it rejects is deleted downstream.
        materialized: keep the result in a store of that name, so that it can be joined.

            >>> p = Pipeline("shop")
            >>> products = p.table("products", key="sku", name="products")
            >>> garden = products.filter(lambda r: r["category"] == "garden",
            ...                          materialized="garden-products")
            >>> orders = p.stream("orders", key="sku").join(garden, name="garden-orders")
        """
        if not callable(fn):
            raise TypeError("filter() expects a callable")
        node = self.pipeline._add(TableFilter, (self.node_id,), name, fn=fn)
        return Table(self.pipeline, node.node_id, self.windowed)._materialize(materialized)

    def _materialize(self, name: str | None) -> Table:
        """This table kept in the store `name` (itself when name is None)."""
        if name is None:
            return self
        check_name(name, "materialized", required=True)
        if self.windowed:
            raise PlanError("materialized= is for non-windowed tables")
        node = self.pipeline._add(Materialize, (self.node_id,), name)
        return Table(self.pipeline, node.node_id)

    def join(self, other: Table, joiner: Callable[[Any, Any], Any], how: str = "inner", *,
             name: str, on: Callable[[Any], Any] | None = None) -> Table:
        """A table of joiner(left_row, right_row) per key of this table, kept up to date by
        changes on either side; a key without a joined row is deleted. how: inner, left or
        outer (missing rows are None).
        - without on=: rows of equal keys join;
        - with on=fn (a foreign-key join): each row joins the other table's row whose key
          is fn(row) (None: no partner); how: inner or left."""
        if not isinstance(other, Table) or other.pipeline is not self.pipeline:
            raise TypeError("join() takes a Table of the same pipeline")
        left, right = (self.pipeline.nodes[t.node_id] for t in (self, other))
        if not callable(joiner):
            raise TypeError("join() expects a callable joiner")
        hows = ("inner", "left", "outer") if on is None else ("inner", "left")
        if how not in hows:
            kind = "table-table" if on is None else "foreign-key"
            raise ValueError(f"a {kind} join is {' or '.join(map(repr, hows))}, got {how!r}")
        if on is not None and not callable(on):
            raise TypeError("join(on=...) expects a callable giving the foreign key")
        for node in (left, right):
            if not isinstance(node, TableNode) or node.windowed:
                raise PlanError(f"join() needs materialized, non-windowed tables; "
                                f"'{node.name}' is not one")
        check_name(name, "join", required=True)
        if on is not None:
            return foreign_key_join(self, other, joiner, how, name, on)
        joined = self.pipeline._add(TableTableJoin, (self.node_id, other.node_id), name,
                                    left=left, right=right, joiner=joiner, how=how)
        return Table(self.pipeline, joined.node_id)

    def to(self, topic: str, name: str | None = None) -> None:
        """Write the table's changes (None = delete) to `topic`."""
        self.to_stream().to(topic, name)

    def group_by(self, fn: Callable[[Any], Any], *, name: str,
                 key_type: KeySpec = None) -> GroupedTable:
        """Re-group the rows by fn(row) to aggregate them (count, sum, mean, or an
        Aggregator with subtract=): a row that changes leaves its old group and joins its
        new one, so the aggregates follow the table (Kafka Streams' groupBy with adder and
        subtractor). Each group's changes go through `<pipeline>-<name>-repartition`.

            >>> p = Pipeline("auctions")
            >>> winning = p.stream("bids", key="auction").max_by("price", name="winning")
            >>> per_category = winning.group_by(lambda b: b["category"], name="by-category")
            >>> average = per_category.mean("price", name="average-winning-price")
        """
        check_fn(fn, "group_by")
        check_name(name, "group_by", required=True)
        if self.windowed:
            raise PlanError(f"group_by() needs a non-windowed table; '{self.name}' is "
                            "windowed (to_stream() it and key_by(...) instead)")
        typed = key_type_name(key_type)
        regroup = self.pipeline._add(TableRegroup, (self.node_id,), name, fn=fn,
                                     group_key_type=typed, key_type=typed)
        moved = self.pipeline._add(Repartition, (regroup.node_id,), f"{name}.repartition",
                                   topic=f"{self.pipeline.name}-{name}-repartition")
        return GroupedTable(self.pipeline, moved.node_id)


@dataclass(frozen=True)
class GroupedTable(Aggregations):
    """A table's rows re-grouped (Table.group_by): aggregations that can subtract a row."""

    pipeline: Pipeline
    node_id: int

    def _aggregate(self, aggregator: Aggregator, name: str) -> Table:
        stream = self.pipeline._add(GroupAggregate, (self.node_id,), name,
                                    aggregator=check_subtract(aggregator))
        return Table(self.pipeline, stream.node_id)


@dataclass(frozen=True)
class GlobalTable:
    """A table every worker reads in full (p.global_table); streams join it on any key."""

    pipeline: Pipeline
    node_id: int

    @property
    def name(self) -> str:
        """The table's name."""
        return self.pipeline.nodes[self.node_id].name


def foreign_key_join(left: Table, right: Table, joiner: Callable[[Any, Any], Any], how: str,
                     name: str, on: Callable[[Any], Any]) -> Table:
    """The foreign-key join's nodes and its three internal topics (operators/fk_join.py)."""
    p = left.pipeline
    left_node, right_node = p.nodes[left.node_id], p.nodes[right.node_id]
    sub = p._add(FKSubscribe, (left.node_id,), f"{name}.subscribe", on=on, left=left_node,
                 key_type=right_node.key_type)  # emits foreign keys: right's keys
    to_right = p._add(Repartition, (sub.node_id,), f"{name}.subscription",
                      topic=f"{p.name}-{name}-subscription")
    copy = p._add(Repartition, (left.node_id,), f"{name}.left-copy",
                  topic=f"{p.name}-{name}-left", tombstones=True, like=left.node_id)
    respond = p._add(FKRespond, (to_right.node_id, right.node_id), f"{name}.respond",
                     right=right_node, key_type=left_node.key_type)
    to_left = p._add(Repartition, (respond.node_id,), f"{name}.response",
                     topic=f"{p.name}-{name}-response", like=left.node_id)
    result = p._add(FKResult, (copy.node_id, to_left.node_id), name, left=left_node,
                    right=right_node, subscribe=p.nodes[sub.node_id], joiner=joiner, how=how)
    return Table(p, result.node_id)
