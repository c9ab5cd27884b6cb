"""Global tables and the stream joins against them.

A global table is not partitioned across tasks: every worker reads all of its topic (see
engine/runtime/globals.py), so a stream joins it on any key, computed from the record if
need be, without co-partitioning or a repartition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.api import Node
from engine.api.keys import key_encoder
from engine.api.nodes import ProcessorNode
from engine.api.processor import Emit, Processor, ProcessorContext
from operators.join import Joiner, Lookup


@dataclass(frozen=True, slots=True)
class GlobalTableSource(Node):
    """Global table `name` over `topic`: the latest decoded value per key (None deletes);
    the key is the record key, or the value's `key_field`."""

    topic: str
    decode: Callable[[bytes], Any]
    key_field: str | None = None

    @property
    def keyed(self) -> bool | None:
        return True

    def describe(self) -> dict[str, Any]:
        return {"topic": self.topic, "global": True, "key": self.key_field}

    def row(self, key: bytes | None, raw: bytes | None) -> tuple[bytes, Any] | None:
        value = None if raw is None else self.decode(raw)
        if value is not None and self.key_field is not None:
            field = value[self.key_field] if isinstance(value, dict) else getattr(
                value, self.key_field)
            key = key_encoder(self.key_type)(field)
        return None if key is None else (key, value)


@dataclass(frozen=True, slots=True)
class GlobalTableJoin(ProcessorNode):
    """stream ⋈ global table on key_fn(value) (default: the record key); the output keeps
    the stream's key. how = 'inner' (needs a row) or 'left'."""

    table: GlobalTableSource
    joiner: Joiner
    how: str
    key_fn: Callable[[Any], Any] | None = None

    @property
    def needs_keys(self) -> bool:
        return self.key_fn is None

    def describe(self) -> dict[str, Any]:
        return {"join": f"stream-global-table {self.how}", "table": self.table.name}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return Lookup(ctx.global_table(self.table.name), lambda row: row, self.key_fn,
                      self.joiner, self.how, emit, key_encoder(self.table.key_type))
