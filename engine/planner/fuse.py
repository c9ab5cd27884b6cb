"""Fusion: one generated Python factory per sub-topology.

The factory, called once per task with the task's runtime `rt`, returns
- `prep[i]` for each external input i: decodes a fetched batch, takes keys and event times,
  and computes each record's order time (the running maximum of event time), so that the
  task can order its inputs before running them;
- `run(entries)`: one loop over records in the task's order; every operator contributes its
  lines (Node.fuse), so a record flows through the whole chain with no per-operator call.

Entries are (order time, offset, key, value, event time, headers, input, raw value); a value
that is `Failed` (decode, key or time failed in prep) is dead-lettered in its turn. A stage
index `op` is set before each stage, so the one `except` clause knows which stage raised.
A processor node ends the inline chain: its processor is called, and emits through
`emit_N(k, v, ts, expired)`, which runs the node's children and dead-letters the emitted
record itself when one of them fails (the processor's own work stands).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.api import CodeWriter, FuseContext, Node
from engine.api.codec import Codec
from engine.api.nodes import ProcessorNode
from engine.physical import Factory, Failed, Input, SubTopology
from operators import Branch, KeyBy, Repartition, Source

ENTRY = "ot, off, k, v, ts, hd, src, raw"


class Generator:
    """Writes one sub-topology's factory."""

    def __init__(self, nodes: tuple[Node, ...], inputs: tuple[Input, ...],
                 codec: Codec | None = None, headers: bool = True) -> None:
        self.ctx = FuseContext(CodeWriter(), codec)
        self.forward = "hd" if headers else "None"  # the run loop's records' headers
        self.w = self.ctx.w
        self.nodes = nodes
        self.inputs = inputs
        self.sources = {n.topic: n for n in nodes if isinstance(n, Source)}
        self.children: dict[int, list[Node]] = {n.id: [] for n in nodes}
        for node in nodes:
            for parent in node.parents:
                self.children[parent].append(node)
        self.processors = [n for n in nodes if isinstance(n, ProcessorNode)]

    def factory(self) -> str:
        """The whole factory's source."""
        w = self.w
        with w.block("def factory(rt):"):
            w.line("dead = rt.dead")
            if any(isinstance(n, Source) and n.check_placement for n in self.nodes):
                w.line("misplaced = rt.misplaced")
            if self.processors:
                w.line("dead_emit = rt.dead_emitted")
                w.line("ot = off = src = 0  # the record being run, for emitted results")
            buffers = w.mark()
            for node in self.processors:
                self._emit_function(node)
            self.ctx.headers = self.forward  # from here on, code runs on input records
            for index, spec in enumerate(self.inputs):
                if not spec.internal:
                    self._prep_function(index, self.sources[spec.topic])
            self._run_function()
            direct = len(self.inputs) == 1 and not self.inputs[0].internal
            if direct:
                self._direct_function(self.sources[self.inputs[0].topic])
            if self.processors:
                with w.block("def place(t):"):
                    w.line("nonlocal ot, off, src")
                    w.line("ot, off, src = t, -1, -1")
            preps = ", ".join(f"{i}: prep_{i}" for i, s in enumerate(self.inputs)
                              if not s.internal)
            w.line(f"return {{{preps}}}, run, {'place' if self.processors else 'None'}, "
                   f"{'direct' if direct else 'None'}")
            w.lines[buffers:buffers] = [f"    out_{i} = rt.buffers[{i}].append"
                                        for i in range(len(self.ctx.buffers))]
        return w.source()

    # -- per-record code ---------------------------------------------------------------------
    def _node(self, node: Node, var: str, parent: int) -> None:
        """`node`'s lines and, nested in its blocks, everything downstream of it (up to the
        next processor node, whose emit function carries on)."""
        fused = node.fuse(self.ctx, var, parent)
        if fused.var is None:
            return
        with self.w.blocks(fused.blocks):
            if self.children[node.id]:
                self._children(node, fused.var)
            elif fused.blocks:  # a stream that ends here (nothing reads it)
                self.w.line("pass")

    def _children(self, node: Node, var: str) -> None:
        """Every child of `node`. With several, each runs even when another raised (a record
        late for a join still reaches its other branches); the first error is raised once all
        have run, with the stage that raised it."""
        kids, w = self.children[node.id], self.w
        if len(kids) < 2 or isinstance(node, Branch):  # one child, or exclusive arms
            for child in kids:
                self._node(child, var, node.id)
            return
        failed = w.fresh("failed")
        w.line(f"{failed} = None")
        for child in kids:
            self._guarded(lambda c=child: self._node(c, var, node.id),
                          f"if {failed} is None:", f"{failed} = (exc, op)")
        with w.block(f"if {failed} is not None:"):
            w.line(f"op = {failed}[1]")
            w.line(f"raise {failed}[0]")

    def _guarded(self, body: Any, *handler: str) -> None:
        """`try: body` with `except Exception as exc:` running the handler lines (the last
        nested in the ones before); nothing at all when the body writes nothing."""
        w = self.w
        start = w.mark()
        with w.block("try:"):
            body()
        if not w.wrote_since(start + 1):
            del w.lines[start:]
            return
        with w.block("except Exception as exc:"), w.blocks(handler[:-1]):
            w.line(handler[-1])

    # -- functions ---------------------------------------------------------------------------
    def _emit_function(self, node: ProcessorNode) -> None:
        w = self.w
        if not self.children[node.id]:  # nothing downstream: the processor emits nothing
            w.line(f"proc_{node.id} = rt.processor({node.id}, None)")
            return
        with w.block(f"def emit_{node.id}(k, v, ts, expired=False):"):
            self._guarded(lambda: self._children(node, "v"),
                          f"dead_emit(op, exc, k, v, ts, {node.id}, expired, src, off)")
        w.line(f"proc_{node.id} = rt.processor({node.id}, emit_{node.id})")

    def _prep_function(self, index: int, source: Source) -> None:
        """prep_i(records, lane): decode, key and event time of an external input's records,
        with the lane's running maximum of event time as their order time."""
        w = self.w
        failed = w.const(Failed, "Failed")
        with w.block(f"def prep_{index}(records, lane):"):
            w.line("t = lane.ot")
            w.line("out = []")
            w.line("add = out.append")
            with w.block("for off, k, raw, ts, hd in records:"):
                with w.block("try:"):
                    source.prepare(self.ctx)
                with w.block("except Exception as exc:"):
                    w.line(f"add((t, off, k, {failed}(op, exc), ts, hd, {index}, raw))")
                    w.line("continue")
                with w.block("if ts > t:"):
                    w.line("t = ts")
                w.line(f"add((t, off, k, v, ts, hd, {index}, raw))")
            w.line("lane.ot = t")
            w.line("return out")

    def _direct_function(self, source: Source) -> None:
        """direct(records, lane): prep and run in one loop, for a task whose only input is
        external (nothing to order it against, when nothing waits in its queue)."""
        w = self.w
        with w.block("def direct(records, lane):"):
            w.line("nonlocal ot, off, src" if self.processors else "src = 0")
            if self.processors:
                w.line("src = 0")
            w.line("ot = lane.ot")
            with w.block("for off, k, raw, ts, hd in records:"):
                self._guarded(lambda: self._direct_body(source),
                              "dead(op, exc, src, off, k, raw, ts, hd)")
            w.line("lane.ot = ot")

    def _direct_body(self, source: Source) -> None:
        source.prepare(self.ctx)
        with self.w.block("if ts > ot:"):
            self.w.line("ot = ts")
        self._children(source, "v")

    def _run_function(self) -> None:
        w = self.w
        with w.block("def run(entries):"):
            if self.processors:
                w.line("nonlocal ot, off, src")
            with w.block(f"for {ENTRY} in entries:"):
                with w.block(f"if v.__class__ is {w.const(Failed, 'Failed')}:"):
                    w.line("dead(v.op, v.exc, src, off, k, raw, ts, hd)")
                    w.line("continue")
                self._guarded(self._dispatch, "dead(op, exc, src, off, k, raw, ts, hd)")

    def _dispatch(self) -> None:
        """Each input's chain; `if src == i` picks one when the task has several inputs."""
        w = self.w
        for index, spec in enumerate(self.inputs):
            source = self.sources[spec.topic]
            if len(self.inputs) == 1:
                self._node(source, "v", -1)
                continue
            with w.block(f"{'if' if index == 0 else 'elif'} src == {index}:"):
                start = w.mark()
                self._node(source, "v", -1)
                assert w.wrote_since(start), f"input {spec.topic} runs no code"


def reaches(nodes: tuple[Node, ...], sources: Iterable[Source]) -> dict[str, frozenset[str]]:
    """Per source topic, the internal topics its records can reach through the graph (a
    writer's progress bound for a topic only depends on the inputs that reach it)."""
    children: dict[int, list[Node]] = {n.id: [] for n in nodes}
    for node in nodes:
        for parent in node.parents:
            children[parent].append(node)
    out: dict[str, frozenset[str]] = {}
    for source in sources:
        seen: set[int] = set()
        todo: list[Node] = [source]
        found: set[str] = set()
        while todo:
            node = todo.pop()
            if node.id not in seen:
                seen.add(node.id)
                if isinstance(node, KeyBy | Repartition):
                    found.add(node.topic)
                todo.extend(children[node.id])
        out[source.topic] = frozenset(found)
    return out


def fuse_subtopology(sub_id: int, nodes: tuple[Node, ...], writers: dict[str, int],
                     codec: Codec | None = None, headers: bool = True) -> SubTopology:
    """Compile a sub-topology's nodes into a SubTopology with its factory. writers: the
    sub-topology writing each internal topic."""
    sources = sorted((n for n in nodes if isinstance(n, Source)),
                     key=lambda s: (s.rank, s.id))
    reach = reaches(nodes, sources)
    inputs = tuple(Input(s.topic, s.internal, s.rank, writers.get(s.topic), reach[s.topic])
                   for s in sources)
    gen = Generator(nodes, inputs, codec, headers)
    code = gen.factory()
    namespace: dict[str, Any] = dict(gen.w.constants)
    exec(compile(code, f"<shoal sub-topology {sub_id}>", "exec"), namespace)
    factory: Factory = namespace["factory"]
    return SubTopology(
        id=sub_id, nodes=nodes, inputs=inputs, outputs=tuple(gen.ctx.buffers),
        stages=tuple(gen.ctx.stages),
        stores=tuple(name for n in nodes if isinstance(n, ProcessorNode) for name in n.stores),
        code=code, factory=factory)
