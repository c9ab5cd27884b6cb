"""Source operator: decode a topic's records into typed values, with key and event time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.api import FuseContext, Node, callable_name
from engine.api.codegen import Fused
from engine.api.keys import key_encoder
from engine.api.serde import Schema, coerce_timestamp, is_struct_schema, value_decoder

TimeSpec = str | Callable[[Any], Any] | None
PLACEMENT_SAMPLE = 16


def _field_access(schema: Schema, var: str, field_name: str) -> str:
    """Code reading `field_name` of a value: attribute for Structs, item otherwise."""
    if is_struct_schema(schema):
        return f"{var}.{field_name}"
    return f"{var}[{field_name!r}]"


@dataclass(frozen=True, slots=True)
class Source(Node):
    """Reads `topic`; values decoded with `schema`, key from `key_field`, time from `time`."""

    topic: str
    schema: Schema = None
    key_field: str | None = None
    time: TimeSpec = None
    internal: bool = False
    tombstones: bool = False
    check_placement: bool = False  # keyed input of a join or aggregation: sample placement

    @property
    def rank(self) -> int:
        """Which input goes first among records of equal order time: tables (0), then
        streams (1)."""
        return 0 if self.tombstones else 1

    @property
    def keyed(self) -> bool | None:
        """Keyed: an internal topic, a key= field, a table (its wire keys are its keys) or a
        declared key_type (the wire keys are keys of that type)."""
        return (self.internal or self.key_field is not None or self.tombstones
                or self.key_type != "json")

    def describe(self) -> dict[str, Any]:
        if self.internal:
            return {"topic": self.topic, "internal": True}
        schema = getattr(self.schema, "__name__", None) or "json"
        time = self.time if isinstance(self.time, str | None) else callable_name(self.time)
        placed = {} if self.partitioner == "murmur2" else {"partitioner": self.partitioner}
        return {"topic": self.topic, "schema": schema, "key": self.key_field, "time": time,
                **placed}

    def prepare(self, ctx: FuseContext) -> None:
        """Write the body of the prepare loop of an external source: decode `raw` into `v`,
        take the key from the value where the record has none, and the event time `ts`
        (before ordering: the task orders its inputs by event time)."""
        w = ctx.w
        decode = w.const(value_decoder(self.schema), "dec")
        ctx.stage("decode", self.name)
        if self.tombstones:  # a table's topic: a null value deletes the key
            w.line(f"v = None if raw is None else {decode}(raw)")
        else:
            w.line(f"v = {decode}(raw)")
        sample = f"off % {PLACEMENT_SAMPLE} == 0"  # one record in 16: where its key goes?
        if self.key_field is not None:
            ctx.stage("key", self.name)
            with w.block("if k is None:" if not self.tombstones
                         else "if k is None and v is not None:"):
                w.line(f"k = {w.const(key_encoder(self.key_type), 'keyb')}"
                       f"({_field_access(self.schema, 'v', self.key_field)})")
                if self.check_placement:  # a key from the value: the wire key was null
                    with w.block(f"if {sample}:"):
                        w.line(f"misplaced({self.topic!r}, off, k, True)")
        if self.check_placement:
            with w.block(f"{'el' if self.key_field is not None else ''}if {sample} "
                         "and k is not None:"):
                w.line(f"misplaced({self.topic!r}, off, k, False)")
        if self.time is not None:
            ctx.stage("time", self.name)
            with w.blocks(("if v is not None:",) if self.tombstones else ()):
                self._event_time(ctx)

    def _event_time(self, ctx: FuseContext) -> None:
        w = ctx.w
        if isinstance(self.time, str):
            w.line(f"e = {_field_access(self.schema, 'v', self.time)}")
        else:
            w.line(f"e = {w.const(self.time, 'timefn')}(v)")
        with w.block("if e.__class__ is not int:"):
            w.line(f"e = {w.const(coerce_timestamp, 'ts')}(e)")
        w.line("ts = e")

    def fuse(self, ctx: FuseContext, var: str, parent: int) -> Fused:
        """The run loop's part: an internal source decodes here (its order comes from the
        record header); an external one was decoded by `prepare`."""
        if self.internal:
            ctx.stage("decode", self.name)
            decode = ctx.w.const(ctx.codec.decode, "idec")
            value = f"None if {var} is None else {decode}({var})" if self.tombstones \
                else f"{decode}({var})"
            ctx.w.line(f"v = {value}")
        return Fused("v")
