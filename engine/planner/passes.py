"""The planner: a list of pure passes from a Pipeline's logical graph to a PhysicalPlan."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping

from engine.api import Node, PlanError
from engine.api.nodes import ProcessorNode
from engine.dsl import Pipeline
from engine.physical import InternalTopic, PhysicalPlan, SubTopology
from engine.planner.copartition import copartition
from engine.planner.fuse import fuse_subtopology
from engine.planner.placement import place_inputs
from engine.planner.types import pipeline_codec
from operators import KeyBy, Repartition, Sink, Source
from operators.global_table import GlobalTableSource

Graph = tuple[Node, ...]


def validate(graph: Graph, pipeline: str) -> Graph:
    """Reject graphs that cannot run, with a message naming the offending operator."""
    if not graph:
        raise PlanError(f"pipeline '{pipeline}' is empty: add p.stream(...) and a .to(...)")
    ids = {n.id for n in graph}
    for name, count in Counter(n.name for n in graph).items():
        if count > 1:
            raise PlanError(f"duplicate operator name '{name}' in pipeline '{pipeline}': "
                            "names must be unique (stores and topics derive from them)")
    for node in graph:
        missing = [p for p in node.parents if p not in ids]
        if missing or node.pipeline != pipeline:
            raise PlanError(f"operator '{node.name}' reads an input outside pipeline "
                            f"'{pipeline}'")
    for topic, count in Counter(n.topic for n in graph if isinstance(n, Source)).items():
        if count > 1:
            raise PlanError(f"topic '{topic}' is read by two p.stream(...) calls; "
                            "read it once and reuse the stream")
    if not any(isinstance(n, Sink | KeyBy | ProcessorNode) for n in graph):
        raise PlanError(f"pipeline '{pipeline}' writes nothing: end a stream with .to(topic) "
                        "or aggregate it into a table")
    return graph


def infer_keys(graph: Graph) -> dict[int, bool]:
    """Whether each node's output is keyed (needed by joins and aggregations)."""
    keyed: dict[int, bool] = {}
    for node in graph:
        own = node.keyed
        if own is not None:
            keyed[node.id] = own
        else:
            keyed[node.id] = bool(node.parents) and all(keyed[p] for p in node.parents)
    return keyed


def require_keys(graph: Graph, keyed: dict[int, bool]) -> Graph:
    """Aggregations (and later joins) need keyed inputs."""
    for node in graph:
        inputs = (*node.parents, *node.links)
        if isinstance(node, ProcessorNode) and node.needs_keys and \
                not all(keyed[p] for p in inputs):
            raise PlanError(
                f"'{node.name}' ({node.kind}) needs a keyed stream: declare key= on "
                "p.stream(...) or call key_by(..., name=...) before it")
    return graph


def split_globals(graph: Graph) -> tuple[Graph, tuple[GlobalTableSource, ...]]:
    """Take global tables out of the graph: no task reads them, every worker does."""
    tables = tuple(n for n in graph if isinstance(n, GlobalTableSource))
    return tuple(n for n in graph if not isinstance(n, GlobalTableSource)), tables


def insert_repartitions(graph: Graph) -> Graph:
    """Give each key_by or repartition a source over its topic and move its children there."""
    nodes = list(graph)
    for node in graph:
        if not isinstance(node, KeyBy | Repartition):
            continue
        source = Source(max(n.id for n in nodes) + 1, f"{node.name}.source", (),
                        pipeline=node.pipeline, topic=node.topic, internal=True,
                        tombstones=getattr(node, "tombstones", False),
                        key_type=node.key_type)
        nodes.append(source)
        nodes = [
            dataclasses.replace(n, parents=tuple(source.id if p == node.id else p
                                                 for p in n.parents))
            if n.id != source.id else n
            for n in nodes
        ]
    return tuple(nodes)


def check_placement(graph: Graph) -> Graph:
    """Mark the external sources whose records reach a node that needs equal keys in one
    task (a join, an aggregation, a table) without a key_by or repartition on the way:
    their tasks sample whether records are in the partition their key hashes to."""
    children: dict[int, list[Node]] = {n.id: [] for n in graph}
    for node in graph:
        for parent in node.parents:
            children[parent].append(node)

    def colocated(node: Node) -> bool:
        if isinstance(node, KeyBy | Repartition):
            return False
        if isinstance(node, ProcessorNode) and node.needs_keys:
            return True
        return any(colocated(child) for child in children[node.id])

    return tuple(dataclasses.replace(n, check_placement=True)
                 if isinstance(n, Source) and not n.internal and n.keyed and colocated(n)
                 else n for n in graph)


def cut_subtopologies(graph: Graph) -> list[tuple[Node, ...]]:
    """Connected components of the graph (repartition edges are already cut)."""
    root = {n.id: n.id for n in graph}

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for node in graph:
        for other in (*node.parents, *node.links):
            root[find(node.id)] = find(other)
    groups: dict[int, list[Node]] = {}
    for node in graph:
        groups.setdefault(find(node.id), []).append(node)
    return sorted((tuple(g) for g in groups.values()), key=lambda g: min(n.id for n in g))


def internal_topics(subs: list[SubTopology]) -> tuple[InternalTopic, ...]:
    """The repartition topics between sub-topologies."""
    readers = {t: s.id for s in subs for t in s.sources}
    return tuple(
        InternalTopic(n.topic, "repartition", n.partitions, s.id, readers[n.topic])
        for s in subs for n in s.nodes if isinstance(n, KeyBy | Repartition)
    )


def plan(pipeline: Pipeline, partitions: Mapping[str, int] | None = None) -> PhysicalPlan:
    """Compile a pipeline: validate, infer keys, place and co-partition inputs, insert
    repartitions, cut, fuse. partitions: the partition count of each existing topic (joins of
    topics with different counts get a repartition; without it that is checked at run time)."""
    graph, global_tables = split_globals(validate(tuple(pipeline.nodes), pipeline.name))
    graph = require_keys(graph, infer_keys(graph))
    graph = place_inputs(graph, pipeline.name)
    graph = copartition(graph, pipeline.name, partitions or {})
    graph = check_placement(insert_repartitions(graph))
    parts = cut_subtopologies(graph)
    writers = {n.topic: i for i, part in enumerate(parts) for n in part
               if isinstance(n, KeyBy | Repartition)}
    codec = pipeline_codec(pipeline.types, pipeline.nodes)
    subs = [fuse_subtopology(i, part, writers, codec, pipeline.headers == "forward")
            for i, part in enumerate(parts)]
    return PhysicalPlan(
        pipeline=pipeline.name,
        on_error=pipeline.on_error,
        commit_interval_ms=pipeline.commit_interval_ms,
        commit_records=pipeline.commit_records,
        subtopologies=tuple(subs),
        internal_topics=internal_topics(subs),
        dead_letter_topic=pipeline.dead_letter_topic,
        dead_letter_retention_ms=pipeline.dead_letter_retention_ms,
        idle_timeout_ms=pipeline.idle_timeout_ms,
        global_tables=global_tables,
        codec=codec,
    )
