"""Stateless operators: map, filter, flat_map, branch, merge, key_by and repartition.

Each writes a few lines of per-record code; the planner fuses a chain of them into one loop.
Records written to internal topics carry their order time `ot` (the order time of the
record being processed) for the reading task to merge its writers by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from engine.api import FuseContext, Node, callable_name
from engine.api.codegen import Fused
from engine.api.keys import key_encoder
from engine.api.serde import value_encoder


@dataclass(frozen=True, slots=True)
class Map(Node):
    """value -> fn(value)."""

    fn: Callable[[Any], Any]

    def describe(self) -> dict[str, Any]:
        return {"fn": callable_name(self.fn)}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("operator", self.name)
        out = ctx.w.fresh("v")
        ctx.w.line(f"{out} = {ctx.w.const(self.fn, 'fn')}({var})")
        return Fused(out)


@dataclass(frozen=True, slots=True)
class Filter(Node):
    """Keeps values for which fn(value) is truthy."""

    fn: Callable[[Any], Any]

    def describe(self) -> dict[str, Any]:
        return {"fn": callable_name(self.fn)}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("operator", self.name)
        return Fused(var, (f"if {ctx.w.const(self.fn, 'fn')}({var}):",))


@dataclass(frozen=True, slots=True)
class FlatMap(Node):
    """value -> each item of fn(value)."""

    fn: Callable[[Any], Iterable[Any]]

    def describe(self) -> dict[str, Any]:
        return {"fn": callable_name(self.fn)}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("operator", self.name)
        out = ctx.w.fresh("v")
        return Fused(out, (f"for {out} in {ctx.w.const(self.fn, 'fn')}({var}):",))


def _first_match(predicates: tuple[Callable[[Any], Any], ...]) -> Callable[[Any], int]:
    """Index of the first predicate a value satisfies, or len(predicates)."""

    def select(value: Any) -> int:
        for index, predicate in enumerate(predicates):
            if predicate(value):
                return index
        return len(predicates)

    return select


@dataclass(frozen=True, slots=True)
class Branch(Node):
    """Routes each value to the first arm whose predicate holds (or the default arm)."""

    predicates: tuple[Callable[[Any], Any], ...]

    def describe(self) -> dict[str, Any]:
        return {"predicates": [callable_name(p) for p in self.predicates]}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("operator", self.name)
        select = ctx.w.const(_first_match(self.predicates), "branch")
        ctx.w.line(f"br_{self.id} = {select}({var})")
        return Fused(var)


@dataclass(frozen=True, slots=True)
class BranchArm(Node):
    """Arm `index` of a Branch; the arm after the last predicate is the default one."""

    index: int

    def describe(self) -> dict[str, Any]:
        return {"arm": self.index}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        return Fused(var, (f"if br_{self.parents[0]} == {self.index}:",))


@dataclass(frozen=True, slots=True)
class Merge(Node):
    """Union of several streams; records keep their order within each input."""

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        return Fused(var)


@dataclass(frozen=True, slots=True)
class KeyBy(Node):
    """Re-keys by fn(value) and writes to a repartition topic, ending the sub-topology."""

    fn: Callable[[Any], Any]
    topic: str
    partitions: int | None = None

    @property
    def repartitions(self) -> bool:
        return True

    @property
    def keyed(self) -> bool | None:
        return True

    def describe(self) -> dict[str, Any]:
        return {"fn": callable_name(self.fn), "topic": self.topic, "partitions": self.partitions}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("key", self.name)
        w = ctx.w
        key = w.fresh("k")
        encode = w.const(key_encoder(self.key_type), "keyb")
        w.line(f"{key} = {encode}({w.const(self.fn, 'fn')}({var}))")
        ctx.stage("encode", self.name)
        buf = ctx.buffer(self.topic, "internal")
        w.line(f"{buf}(({key}, {w.const(ctx.codec.encode, 'ienc')}({var}), ts, {ctx.headers}, "
               "ot))")
        return Fused(None)


@dataclass(frozen=True, slots=True)
class Repartition(Node):
    """Writes records unchanged (key, value, event time; a None value stays a tombstone) to
    a repartition topic with `partitions` partitions: the planner inserts it so that the
    inputs of a join are co-partitioned."""

    topic: str
    partitions: int | None = None
    tombstones: bool = False
    like: int | None = None  # partitioned as this node's output (when partitions is None)

    @property
    def repartitions(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"topic": self.topic, "partitions": self.partitions}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("encode", self.name)
        w = ctx.w
        buf = ctx.buffer(self.topic, "internal")
        enc = w.const(ctx.codec.encode, "ienc")
        value = f"None if {var} is None else {enc}({var})" if self.tombstones else f"{enc}({var})"
        w.line(f"{buf}((k, {value}, ts, {ctx.headers}, ot))")
        return Fused(None)


@dataclass(frozen=True, slots=True)
class Sink(Node):
    """Writes values (JSON) to `topic`, keeping the key and event time."""

    topic: str

    def describe(self) -> dict[str, Any]:
        return {"topic": self.topic}

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        ctx.stage("encode", self.name)
        buf = ctx.buffer(self.topic, "sink")
        ctx.w.line(f"{buf}((k, {ctx.w.const(value_encoder(), 'enc')}({var}), ts, "
                   f"{ctx.headers}))")
        return Fused(None)
