"""Placement: equal keys meet in one task only if every input of a join, aggregation or
table placed its keys with one partitioner. Each keyed source says how its producer placed
them (`partitioner=`: murmur2 by default, crc32 for librdkafka's default, any when records
are not placed by key); internal topics are always murmur2.

This pass (before co-partitioning) puts a repartition between a source and its readers
wherever a co-located node would read inputs placed differently, or an input placed by no
key ("any"): the repartition writes each record where murmur2 puts its key. Inputs that
agree stay where they are, so topics that librdkafka clients produced join each other
without a repartition; the nodes downstream then carry the partitioner their keys are
placed by (queries find a key with it, and the placement check samples with it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from engine.api import Node
from engine.api.nodes import ProcessorNode
from engine.planner.copartition import origins, reroute
from operators import Source

Graph = tuple[Node, ...]


def colocates(node: Node) -> bool:
    """True when equal keys of `node`'s inputs must meet in one task."""
    return node.copartitioned or (isinstance(node, ProcessorNode) and node.needs_keys)


def placed_by(node: Node) -> str:
    """How the records of an origin (a source or a repartition) are placed."""
    return node.partitioner if isinstance(node, Source) and not node.internal else "murmur2"


def place_inputs(graph: Graph, pipeline: str) -> Graph:
    """Repartition the sources whose placement disagrees with another input of a co-located
    node (or is "any"); mark the nodes downstream of other placements with theirs."""
    nodes = {n.id: n for n in graph}
    while True:
        ordered = topological(nodes)
        found = origins(ordered)
        moved = sorted({o for node in ordered if colocates(node)
                        for o in _misplaced(node, nodes, found)})
        if not moved:
            break
        for origin in moved:
            reroute(nodes, nodes[origin], pipeline, None)  # type: ignore[arg-type]
    ordered = topological(nodes)
    found = origins(ordered)
    out = []
    for node in ordered:
        kinds = {placed_by(nodes[o]) for o in found[node.id]}
        if len(kinds) == 1 and kinds.isdisjoint(("murmur2", "any")):
            node = dataclasses.replace(node, partitioner=kinds.pop())
        out.append(node)
    return tuple(out)


def _misplaced(node: Node, nodes: dict[int, Node], found: dict[int, frozenset[int]]
               ) -> set[int]:
    """The inputs of co-located `node` that must be repartitioned."""
    group = {o for i in (*node.parents, *node.links) for o in found[i]}
    kinds = {placed_by(nodes[o]) for o in group}
    if len(kinds) == 1 and "any" not in kinds:
        return set()
    return {o for o in group if placed_by(nodes[o]) != "murmur2"}


def topological(nodes: Mapping[int, Node]) -> Graph:
    """The nodes with every node after its parents and links (a repartition added by a pass
    comes after the nodes it now feeds in id order)."""
    out: list[Node] = []
    seen: set[int] = set()

    def visit(i: int) -> None:
        if i in seen:
            return
        seen.add(i)
        for before in (*nodes[i].parents, *nodes[i].links):
            visit(before)
        out.append(nodes[i])

    for i in nodes:
        visit(i)
    return tuple(out)
