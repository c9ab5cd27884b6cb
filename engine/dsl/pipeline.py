"""The user-facing DSL: a Pipeline builds an immutable logical graph through Stream handles.

Every call validates its arguments at once, so mistakes point at the line that made them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.api import Node, PlanError
from engine.api.codec import declarable
from engine.api.keys import KeySpec, key_type_name, partitioner_name
from engine.api.nodes import TableNode
from engine.api.serde import Schema, value_decoder
from engine.api.windows import TimeWindows, WindowSpec
from engine.dsl.checks import check_fn, check_name, check_topic, pair
from engine.dsl.table import Aggregations, GlobalTable, Table, WindowedStream, windowed
from operators import Branch, BranchArm, Filter, FlatMap, KeyBy, Map, Merge, Sink, Source
from operators.aggregate import Materialize
from operators.global_table import GlobalTableJoin, GlobalTableSource
from operators.join import StreamTableJoin
from operators.source import TimeSpec
from operators.window_join import WindowJoin

ErrorPolicy = Literal["dead-letter", "skip", "fail"]
ERROR_POLICIES: tuple[str, ...] = ("dead-letter", "skip", "fail")
@dataclass
class Pipeline:
    """A named pipeline: the unit that `shoal run` executes and `shoal describe` prints.

    on_error: 'dead-letter' (default), 'skip' or 'fail'; commit_interval_ms / commit_records:
    how often work is committed; idle_timeout_ms: let stream time of quiet inputs move with
    the wall clock; types: the msgspec Structs and dataclasses values may be stored or
    repartitioned as, besides the `value=` schemas and annotated return types (no pickle);
    headers: 'forward' (a record's headers reach the outputs it makes through stateless
    operators and repartitions, as in Kafka Streams) or 'drop'; dead_letter_retention_ms:
    how long Kafka keeps `<name>.dlq` records (set when Shoal creates the topic; None: the
    broker's default; the embedded log keeps them).

        >>> p = Pipeline("orders", headers="drop")
        >>> p.stream("orders", key="order_id").to("copy")
    """

    name: str
    on_error: ErrorPolicy = "dead-letter"
    commit_interval_ms: int = 200
    commit_records: int = 50_000
    idle_timeout_ms: int | None = None
    types: tuple[type, ...] = ()
    headers: str = "forward"
    dead_letter_retention_ms: int | None = None
    nodes: list[Node] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, "Pipeline", required=True)
        if self.on_error not in ERROR_POLICIES:
            raise ValueError(f"on_error must be one of {ERROR_POLICIES}, got {self.on_error!r}")
        if self.commit_interval_ms <= 0 or self.commit_records <= 0:
            raise ValueError("commit_interval_ms and commit_records must be positive")
        if self.idle_timeout_ms is not None and self.idle_timeout_ms <= 0:
            raise ValueError("idle_timeout_ms must be positive (or None: off)")
        if self.dead_letter_retention_ms is not None and self.dead_letter_retention_ms <= 0:
            raise ValueError("dead_letter_retention_ms must be positive (or None: the "
                             "broker's default)")
        if self.headers not in ("forward", "drop"):
            raise ValueError(f"headers must be 'forward' or 'drop', got {self.headers!r}")
        self.types = tuple(self.types)
        for cls in self.types:
            if not declarable(cls):
                raise TypeError(f"Pipeline(types=...) takes msgspec Structs and dataclasses "
                                f"(the classes values are stored and sent as), got {cls!r}")

    @property
    def dead_letter_topic(self) -> str:
        """Topic that receives records the pipeline could not process."""
        return f"{self.name}.dlq"

    def stream(
        self,
        topic: str,
        value: Schema = None,
        key: str | None = None,
        time: TimeSpec = None,
        name: str | None = None,
        key_type: KeySpec = None,
        partitioner: str | None = None,
    ) -> Stream:
        """A stream over `topic`. value: msgspec Struct or dict (JSON); key: field that the
        record key holds; time: field (epoch ms) or callable giving the event time;
        key_type: how keys are written ("json" by default; int, "long", str, bytes: the
        Java serializers' bytes, see engine/api/keys.py); partitioner: how its producer
        placed keys in partitions ("murmur2" by default, as Kafka's Java client; "crc32" for
        librdkafka's default; "any" when records are not placed by their key, e.g. null
        wire keys: they are repartitioned before a join or an aggregation).

            >>> p = Pipeline("shop")
            >>> buys = p.stream("buys", key="order_id", partitioner="crc32")
        """
        check_topic(topic)
        if key is not None and not isinstance(key, str):
            raise TypeError(f"stream(key=...) must be a field name, got {type(key).__name__}")
        if time is not None and not isinstance(time, str) and not callable(time):
            raise TypeError("stream(time=...) must be a field name or a callable")
        check_name(name, "stream", required=False)
        node_name = name or f"source.{topic}"
        return self._add(Source, (), node_name, topic=topic, schema=value, key_field=key,
                         time=time, key_type=key_type_name(key_type),
                         partitioner=partitioner_name(partitioner))

    def table(self, topic: str, value: Schema = None, key: str | None = None,
              time: TimeSpec = None, *, name: str, key_type: KeySpec = None,
              partitioner: str | None = None) -> Table:
        """A table over `topic`: the latest value per key (a null value deletes the key),
        materialised in the store `name` and queryable by that name. key_type and
        partitioner: as for stream(); a table produced by a Java service with int keys is
        key_type=int.

            >>> p = Pipeline("shop")
            >>> customers = p.table("customers", key_type=int, name="customers")
        """
        check_name(name, "table", required=True)
        check_topic(topic)
        stream = self._add(Source, (), f"{name}.source", topic=topic, schema=value,
                           key_field=key, time=time, tombstones=True,
                           key_type=key_type_name(key_type),
                           partitioner=partitioner_name(partitioner))
        node = self._add(Materialize, (stream.node_id,), name)
        return Table(self, node.node_id)

    def global_table(self, topic: str, value: Schema = None, key: str | None = None, *,
                     name: str, key_type: KeySpec = None) -> GlobalTable:
        """A table over `topic` that every worker reads in full: streams join it on any key
        (join(..., key=fn)) without co-partitioning. Kept in memory; queryable as `name`."""
        check_name(name, "global_table", required=True)
        check_topic(topic)
        if key is not None and not isinstance(key, str):
            raise TypeError(f"global_table(key=...) must be a field name, got {key!r}")
        node = self._add(GlobalTableSource, (), name, topic=topic,
                         decode=value_decoder(value), key_field=key,
                         key_type=key_type_name(key_type))
        return GlobalTable(self, node.node_id)

    def place(self, partitioners: dict[str, str]) -> None:
        """Say how the producers of some input topics placed their keys, as `partitioner=`
        on stream() or table() would (`shoal run --partitioner TOPIC=NAME` calls this).

            >>> p = Pipeline("shop")
            >>> buys = p.stream("buys", key="order_id")
            >>> p.place({"buys": "crc32"})
        """
        inputs = {n.topic: i for i, n in enumerate(self.nodes)
                  if isinstance(n, Source) and not n.internal}
        unknown = sorted(set(partitioners) - set(inputs))
        if unknown:
            raise PlanError(f"pipeline '{self.name}' does not read {', '.join(unknown)} "
                            f"(inputs: {', '.join(sorted(inputs)) or 'none'})")
        for topic, spec in partitioners.items():
            node = self.nodes[inputs[topic]]
            self.nodes[inputs[topic]] = dataclasses.replace(
                node, partitioner=partitioner_name(spec))

    def _add(self, cls: type[Node], parents: tuple[int, ...], name: str | None,
             **fields: Any) -> Stream:
        """Append a node; its key type is its own (a source, a key_by) or its first
        parent's."""
        node_id = len(self.nodes)
        fields.setdefault("key_type", self.nodes[parents[0]].key_type if parents else "json")
        node = cls(node_id, name or f"{cls.__name__.lower()}-{node_id}", parents,
                   pipeline=self.name, **fields)
        self.nodes.append(node)
        return Stream(self, node_id)

    def stream_at(self, node_id: int) -> Stream:
        """A stream handle on node `node_id`'s output (a table's changes)."""
        return Stream(self, node_id)


@dataclass(frozen=True)
class Stream(Aggregations):
    """Handle on one node's output; every method adds a node and returns a new handle."""

    pipeline: Pipeline
    node_id: int

    def window(self, windows: WindowSpec, grace: int = 0, emit: str = "updates",
               retention: int | None = None) -> WindowedStream:
        """Cut this keyed stream into windows. grace: how long (ms of stream time) a window
        still accepts late records after its end; emit: 'updates' (every change) or
        'final' (one result when the window closes); retention: how long closed windows
        stay queryable (default max(size + grace, 1 day))."""
        return windowed(self, windows, grace, emit, retention)

    def map(self, fn: Callable[[Any], Any], name: str | None = None) -> Stream:
        """Replace each value by fn(value); the key is kept."""
        check_fn(fn, "map")
        check_name(name, "map", required=False)
        return self.pipeline._add(Map, (self.node_id,), name, fn=fn)

    def filter(self, fn: Callable[[Any], Any], name: str | None = None) -> Stream:
        """Keep the values for which fn(value) is true."""
        check_fn(fn, "filter")
        check_name(name, "filter", required=False)
        return self.pipeline._add(Filter, (self.node_id,), name, fn=fn)

    def flat_map(self, fn: Callable[[Any], Iterable[Any]], name: str | None = None) -> Stream:
        """Replace each value by the values fn(value) yields (zero or more)."""
        check_fn(fn, "flat_map")
        check_name(name, "flat_map", required=False)
        return self.pipeline._add(FlatMap, (self.node_id,), name, fn=fn)

    def branch(self, *predicates: Callable[[Any], Any], default: bool = False,
               name: str | None = None) -> tuple[Stream, ...]:
        """Split by predicates: each value goes to the first arm whose predicate holds;
        with default=True one more arm gets the values no predicate accepted."""
        if not predicates:
            raise ValueError("branch() needs at least one predicate")
        for predicate in predicates:
            check_fn(predicate, "branch")
        check_name(name, "branch", required=False)
        split = self.pipeline._add(Branch, (self.node_id,), name, predicates=predicates)
        base = self.pipeline.nodes[split.node_id].name
        arms = len(predicates) + (1 if default else 0)
        return tuple(
            self.pipeline._add(BranchArm, (split.node_id,), f"{base}.{i}", index=i)
            for i in range(arms)
        )

    def merge(self, *others: Stream, name: str | None = None) -> Stream:
        """One stream holding the records of this and the other streams."""
        if not others:
            raise ValueError("merge() needs at least one other stream")
        for other in others:
            if not isinstance(other, Stream) or other.pipeline is not self.pipeline:
                raise PlanError("merge() takes streams of the same pipeline")
        check_name(name, "merge", required=False)
        parents = (self.node_id, *(o.node_id for o in others))
        return self.pipeline._add(Merge, parents, name)

    def join(self, other: Stream | Table | GlobalTable,
             joiner: Callable[[Any, Any], Any] = pair, *, name: str, how: str = "inner",
             within: int | None = None, before: int | None = None, after: int | None = None,
             grace: int = 0, key: Callable[[Any], Any] | None = None,
             window: TimeWindows | None = None,
             until: Callable[[Any], int] | None = None) -> Stream:
        """Join on the record key; the joined value is joiner(left, right), a (left, right)
        tuple by default, with None for a missing side.
        - with a Stream: records whose event times differ by at most `within` ms (or
          right.t in [t - before, t + after]), that fall in the same tumbling `window`, or
          with right.t in [t - before, until(left)] (bounds from the left record, e.g. an
          auction's bids up to its `expires`); how = inner | left | outer, unmatched
          records are emitted once their window plus `grace` has passed. Each side is
          buffered for its window plus grace (with until=, the left side until until(left)
          + grace, the right side 2 * before + grace);
        - with a Table: each record looks up the table's current row; how = inner | left.
        - with a GlobalTable: the same, on key(value) if given (else the record key).
        Inputs of different partition counts are repartitioned to the larger count.

            >>> p = Pipeline("new-sellers")
            >>> people = p.stream("person", key="id", time="date_time")
            >>> sellers = p.stream("auction", time="date_time").key_by(
            ...     lambda a: a["seller"], name="by-seller")
            >>> same = people.join(sellers, window=windows.tumbling(seconds=10),
            ...                    name="same-window")
        """
        check_fn(joiner, "join")
        check_name(name, "join", required=True)
        if window is not None:
            return self._join_window(other, joiner, how, name, window, grace)
        if until is not None:
            return self._join_until(other, joiner, how, name, until, before or 0, grace)
        if isinstance(other, GlobalTable) and other.pipeline is self.pipeline:
            return self._join_global(other, joiner, how, name, key)
        if key is not None:
            raise ValueError("join(key=...) is for global tables; key_by(...) the stream to "
                             "join another stream or table on a computed key")
        if isinstance(other, Table) and other.pipeline is self.pipeline:
            return self._join_table(other, joiner, how, name)
        self._stream_partner(other, how, "join() takes a Stream or Table of the same pipeline")
        if within is None and (before is None or after is None):
            raise ValueError("a stream-stream join needs within= (or before= and after=) ms")
        lo = before if before is not None else within
        hi = after if after is not None else within
        assert lo is not None and hi is not None
        if min(lo, hi, grace) < 0:
            raise ValueError("within, before, after and grace must be >= 0 ms")
        return self.pipeline._add(WindowJoin, (self.node_id, other.node_id), name,
                                  joiner=joiner, how=how, before=lo, after=hi, grace=grace)

    def _join_window(self, other: Stream | Table | GlobalTable,
                     joiner: Callable[[Any, Any], Any], how: str, name: str,
                     window: TimeWindows, grace: int) -> Stream:
        """A window join: both records in the same tumbling window."""
        self._stream_partner(other, how, "join(window=...) joins two streams of the same "
                             "pipeline", kind="window")
        if not isinstance(window, TimeWindows) or window.advance != window.size:
            raise ValueError("join(window=...) takes a tumbling window, e.g. "
                             "windows.tumbling(seconds=10)")
        if grace < 0:
            raise ValueError("grace must be >= 0 ms")
        return self.pipeline._add(WindowJoin, (self.node_id, other.node_id), name,
                                  joiner=joiner, how=how, before=0, after=0, grace=grace,
                                  window=window.size)

    def _join_until(self, other: Stream | Table | GlobalTable,
                    joiner: Callable[[Any, Any], Any], how: str, name: str,
                    until: Callable[[Any], int], before: int, grace: int) -> Stream:
        """A join whose window ends where the left record says."""
        check_fn(until, "join(until=...)")
        self._stream_partner(other, how, "join(until=...) joins two streams of the same "
                             "pipeline")
        if min(before, grace) < 0:
            raise ValueError("before and grace must be >= 0 ms")
        return self.pipeline._add(WindowJoin, (self.node_id, other.node_id), name,
                                  joiner=joiner, how=how, before=before, after=0, grace=grace,
                                  until=until)

    def _stream_partner(self, other: Stream | Table | GlobalTable, how: str, wrong: str,
                        kind: str = "stream-stream") -> None:
        """Check that a stream-stream join has a stream of this pipeline and a known `how`
        (wrong: the message when `other` is something else)."""
        if not isinstance(other, Stream) or other.pipeline is not self.pipeline:
            raise TypeError(wrong)
        if how not in ("inner", "left", "outer"):
            raise ValueError(f"a {kind} join is 'inner', 'left' or 'outer', got {how!r}")

    def _join_table(self, table: Table, joiner: Callable[[Any, Any], Any], how: str,
                    name: str) -> Stream:
        if how not in ("inner", "left"):
            raise ValueError(f"a stream-table join is 'inner' or 'left', got {how!r}")
        node = self.pipeline.nodes[table.node_id]
        if not isinstance(node, TableNode) or node.windowed:
            raise PlanError(f"join() needs a materialized, non-windowed table; "
                            f"'{node.name}' is not one (give filter/map_values a "
                            "materialized='name')")
        return self.pipeline._add(StreamTableJoin, (self.node_id,), name, table=node,
                                  joiner=joiner, how=how)

    def _join_global(self, table: GlobalTable, joiner: Callable[[Any, Any], Any], how: str,
                     name: str, key: Callable[[Any], Any] | None) -> Stream:
        if how not in ("inner", "left"):
            raise ValueError(f"a stream-global-table join is 'inner' or 'left', got {how!r}")
        if key is not None:
            check_fn(key, "join(key=...)")
        node = self.pipeline.nodes[table.node_id]
        return self.pipeline._add(GlobalTableJoin, (self.node_id,), name, table=node,
                                  joiner=joiner, how=how, key_fn=key)

    def key_by(self, fn: Callable[[Any], Any], name: str,
               partitions: int | None = None, key_type: KeySpec = None) -> Stream:
        """Re-key by fn(value), written as `key_type` says (see stream()). Records go
        through the repartition topic `<pipeline>-<name>-repartition` so equal keys meet in
        one task.

            >>> p = Pipeline("shop")
            >>> by_customer = p.stream("orders").key_by(
            ...     lambda o: o["customer_id"], key_type=int, name="by-customer")
        """
        check_fn(fn, "key_by")
        check_name(name, "key_by", required=True)
        if partitions is not None and (not isinstance(partitions, int) or partitions < 1):
            raise ValueError(f"key_by(partitions=...) must be a positive int, got {partitions!r}")
        topic = f"{self.pipeline.name}-{name}-repartition"
        return self.pipeline._add(KeyBy, (self.node_id,), name, fn=fn, topic=topic,
                                  partitions=partitions, key_type=key_type_name(key_type))

    def to(self, topic: str, name: str | None = None) -> None:
        """Write the values (as JSON) to `topic`, keyed by the record key."""
        check_topic(topic)
        check_name(name, "to", required=False)
        self.pipeline._add(Sink, (self.node_id,), name or f"sink.{topic}", topic=topic)
