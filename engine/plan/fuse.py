"""Fusion: one generated Python function per source of a sub-topology.

The function loops over a batch once; each operator contributes its lines (Node.fuse), so a
record flows through the whole chain with no per-operator call. An exception anywhere in a
record's path goes to the dead-letter handler with the index of the stage that raised.
"""

from __future__ import annotations

from typing import Any

from engine.api import CodeWriter, FuseContext, Node
from engine.plan.physical import ChainFactory, SubTopology
from operators import Branch, Source
from operators.aggregate import StatefulNode


def _children(nodes: tuple[Node, ...]) -> dict[int, list[Node]]:
    children: dict[int, list[Node]] = {n.id: [] for n in nodes}
    for node in nodes:
        for parent in node.parents:
            children[parent].append(node)
    return children


def _emit(ctx: FuseContext, node: Node, var: str, children: dict[int, list[Node]]) -> None:
    """Write `node` and, nested inside its block, everything downstream of it (up to the
    next stateful node, whose processor calls its own emit function)."""
    level = ctx.w.level
    out = node.fuse(ctx, var)
    if not isinstance(node, StatefulNode):
        _branches(ctx, node, out, children)
    ctx.w.level = level


def _branches(ctx: FuseContext, node: Node, var: str, children: dict[int, list[Node]]) -> None:
    """Write every child of `node`. With several, each runs even when another raised (a
    record late for a join still reaches its other branches); the first error is raised
    once all have run, with the stage that raised it."""
    kids, w = children[node.id], ctx.w
    if len(kids) < 2 or isinstance(node, Branch):  # one child, or exclusive arms
        for child in kids:
            ctx.came_from = node.id
            _emit(ctx, child, var, children)
        return
    failed = w.fresh("failed")
    w.line(f"{failed} = None")
    for child in kids:
        w.open("try:")
        ctx.came_from = node.id
        _emit(ctx, child, var, children)
        w.line("pass")
        w.level -= 1
        w.open("except Exception as exc:")
        w.open(f"if {failed} is None:")
        w.line(f"{failed} = (exc, op)")
        w.level -= 2
    w.open(f"if {failed} is not None:")
    w.line(f"op = {failed}[1]")
    w.line(f"raise {failed}[0]")
    w.level -= 1


def _write_emit(ctx: FuseContext, node: StatefulNode, children: dict[int, list[Node]]) -> None:
    """emit_N(k, v, ts): what happens to each change a stateful node emits."""
    w = ctx.w
    w.open(f"def emit_{node.id}(k, v, ts):")
    w.line("op = 0")
    _branches(ctx, node, "v", children)
    w.level -= 1
    w.line(f"proc_{node.id} = make_proc({node.id}, emit_{node.id}).process")


def _write_source(ctx: FuseContext, index: int, source: Source,
                  children: dict[int, list[Node]]) -> None:
    w = ctx.w
    w.open(f"def run_{index}(records, partition):")
    w.line("op = 0")
    w.open("for off, k, raw, ts, hd in records:")
    w.open("try:")
    _emit(ctx, source, "raw", children)
    w.level -= 1
    w.open("except Exception as exc:")
    w.line(f"dead(op, exc, {source.topic!r}, partition, off, k, raw, ts, hd)")
    w.level -= 3


def generate(nodes: tuple[Node, ...]) -> tuple[FuseContext, list[Source]]:
    """Generate the factory source for a sub-topology's nodes."""
    ctx = FuseContext(CodeWriter())
    sources = [n for n in nodes if isinstance(n, Source)]
    children = _children(nodes)
    body = FuseContext(CodeWriter())
    body.w.level = 1
    stateful = sorted((n for n in nodes if isinstance(n, StatefulNode)), key=lambda n: -n.id)
    for node in stateful:
        _write_emit(body, node, children)
    for index, source in enumerate(sources):
        _write_source(body, index, source, children)
    ctx.w.open("def factory(bufs, dead, make_proc):")
    for i in range(len(body.buffers)):
        ctx.w.line(f"out_{i} = bufs[{i}].append")
    ctx.w.lines.extend(body.w.lines)
    runs = ", ".join(f"{s.topic!r}: run_{i}" for i, s in enumerate(sources))
    ctx.w.line(f"return {{{runs}}}")
    ctx.w.constants.update(body.w.constants)
    ctx.stages, ctx.buffers = body.stages, body.buffers
    return ctx, sources


def fuse_subtopology(sub_id: int, nodes: tuple[Node, ...]) -> SubTopology:
    """Compile a sub-topology's nodes into a SubTopology with its chain factory."""
    ctx, sources = generate(nodes)
    code = ctx.w.source()
    namespace: dict[str, Any] = dict(ctx.w.constants)
    exec(compile(code, f"<shoal sub-topology {sub_id}>", "exec"), namespace)
    factory: ChainFactory = namespace["factory"]
    return SubTopology(
        id=sub_id,
        nodes=nodes,
        sources=tuple(s.topic for s in sources),
        outputs=tuple(ctx.buffers),
        stages=tuple(ctx.stages),
        stores=tuple(name for n in nodes if isinstance(n, StatefulNode) for name in n.stores),
        code=code,
        factory=factory,
    )
