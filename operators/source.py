"""Source operator: decode a topic's records into typed values, with key and event time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.api import FuseContext, Node, callable_name
from engine.api.serde import (
    Schema,
    coerce_timestamp,
    internal_decoder,
    is_struct_schema,
    key_to_bytes,
    value_decoder,
)

TimeSpec = str | Callable[[Any], Any] | None


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

    @property
    def keyed(self) -> bool | None:
        return self.internal or self.key_field is not None

    def describe(self) -> dict[str, Any]:
        if self.internal:
            return {"topic": self.topic, "internal": True}
        schema = getattr(self.schema, "__name__", None) or "json"
        time = self.time if isinstance(self.time, str | None) else callable_name(self.time)
        return {"topic": self.topic, "schema": schema, "key": self.key_field, "time": time}

    def fuse(self, ctx: FuseContext, var: str) -> str:
        w = ctx.w
        ctx.stage("decode", self.name)
        decode = internal_decoder() if self.internal else value_decoder(self.schema)
        if self.tombstones:  # a table's topic: a null value deletes the key
            w.line(f"v = None if {var} is None else {w.const(decode, 'dec')}({var})")
        else:
            w.line(f"v = {w.const(decode, 'dec')}({var})")
        if self.key_field is not None:
            ctx.stage("key", self.name)
            w.open("if k is None:" if not self.tombstones else "if k is None and v is not None:")
            access = _field_access(self.schema, "v", self.key_field)
            w.line(f"k = {w.const(key_to_bytes, 'keyb')}({access})")
            w.level -= 1
        if self.time is not None:
            ctx.stage("time", self.name)
            if self.tombstones:
                w.open("if v is not None:")
            if isinstance(self.time, str):
                w.line(f"ts = {_field_access(self.schema, 'v', self.time)}")
            else:
                w.line(f"ts = {w.const(self.time, 'timefn')}(v)")
            w.open("if ts.__class__ is not int:")
            w.line(f"ts = {w.const(coerce_timestamp, 'ts')}(ts)")
            w.level -= 1 + self.tombstones
        return "v"
