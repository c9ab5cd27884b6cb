"""Co-partitioning: the inputs of a join must be partitioned alike (same key, same partition
count), so that equal keys meet in one task. Given the partition counts of the source
topics, this pass makes them so: a key_by without a partition count gets the join's count;
a source topic with another count is copied through a repartition topic with the join's
count (the largest of its inputs). A key_by whose explicit count differs cannot be fixed
and is rejected."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from engine.api import Node, PlanError
from operators import KeyBy, Repartition, Source

Graph = tuple[Node, ...]


def origins(graph: Graph) -> dict[int, frozenset[int]]:
    """Per node, the sources and repartitioning nodes whose partitions its records are in
    (parents come before children in the graph)."""
    out: dict[int, frozenset[int]] = {}
    for node in graph:
        if isinstance(node, Source) or node.repartitions:
            out[node.id] = frozenset((node.id,))
        else:
            out[node.id] = frozenset().union(*(out[p] for p in node.parents))
    return out


def _size(node: Node, counts: Mapping[str, int]) -> int | None:
    """A source's partition count, or a repartition's explicit count (None: free)."""
    if isinstance(node, Source):
        return counts.get(node.topic)
    return getattr(node, "partitions", None)


def _natural(node: Node, nodes: dict[int, Node], found: dict[int, frozenset[int]],
             counts: Mapping[str, int]) -> int | None:
    """The count a node's topic gets: its own, else (a free key_by) that of its writers."""
    size = _size(node, counts)
    if size is not None or isinstance(node, Source):
        return size
    like = getattr(node, "like", None)
    upstream = [_natural(nodes[o], nodes, found, counts)
                for p in ((like,) if like is not None else node.parents) for o in found[p]]
    return max((s for s in upstream if s is not None), default=None)


def copartition(graph: Graph, pipeline: str, counts: Mapping[str, int]) -> Graph:
    """Make every join's inputs co-partitioned, adding repartitions where needed."""
    nodes = {n.id: n for n in graph}
    found = origins(graph)
    moved: dict[int, int] = {}  # source id -> the repartition now between it and its readers
    for join in (n for n in graph if n.copartitioned):
        inputs = sorted({moved.get(o, o) for i in (*join.parents, *join.links)
                         for o in found[i]})
        sizes = {o: _size(nodes[o], counts) for o in inputs}
        target = max((s for s in sizes.values() if s is not None), default=None)
        if target is None:  # only free repartitions: the count their writers would give
            target = max((s for o in inputs
                          if (s := _natural(nodes[o], nodes, found, counts)) is not None),
                         default=None)
        for origin in inputs:
            node, size = nodes[origin], sizes[origin]
            if target is None or size == target:
                continue
            if isinstance(node, Source):
                if size is not None:
                    moved[origin] = reroute(nodes, node, pipeline, target)
            elif size is None:
                nodes[origin] = dataclasses.replace(node, partitions=target)  # type: ignore[call-arg]
            else:
                raise _mismatch(join, node, size, target)
    return tuple(nodes.values())


def reroute(nodes: dict[int, Node], source: Source, pipeline: str, target: int | None) -> int:
    """Put a repartition with `target` partitions (None: as many as its writers') between
    `source` and its readers."""
    new_id = max(nodes) + 1
    for node in list(nodes.values()):
        if source.id in node.parents:
            nodes[node.id] = dataclasses.replace(node, parents=tuple(
                new_id if p == source.id else p for p in node.parents))
    nodes[new_id] = Repartition(
        new_id, f"{source.name}.repartition", (source.id,), pipeline=pipeline,
        topic=f"{pipeline}-{source.name}-repartition", partitions=target,
        tombstones=source.tombstones, key_type=source.key_type)
    return new_id


def _mismatch(join: Node, node: Node, size: int | None, target: int) -> PlanError:
    what = f"key_by '{node.name}'" if isinstance(node, KeyBy) else f"'{node.name}'"
    return PlanError(
        f"join '{join.name}' needs co-partitioned inputs, but {what} writes {size} partitions "
        f"and another input has {target}: drop its partitions= (the planner then uses "
        f"{target}) or set it to {target}")
