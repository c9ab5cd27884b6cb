"""The classes a pipeline's values may be stored and sent as (the codec's declared types).

Found without running anything: `Pipeline(types=[...])`, the `value=` schema of every
source, and the return annotations of the functions given to the DSL (map, flat_map,
key_by, joiners, aggregator functions, ...), looked into for generic arguments
(`tuple[Buy, Shipped]`, `list[Item]`, `Buy | None`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Iterator
from typing import Any

from engine.api import Node
from engine.api.aggregators import Aggregator
from engine.api.codec import Codec, declarable


def pipeline_codec(types: Iterable[type], nodes: Iterable[Node]) -> Codec:
    """The codec of a pipeline: its declared types and those its nodes name."""
    found = dict.fromkeys(types)
    for node in nodes:
        for field in dataclasses.fields(node):
            found.update(dict.fromkeys(_named_by(getattr(node, field.name))))
    return Codec(found)


def _named_by(value: object) -> Iterator[type]:
    """Declarable classes a node's field names: a schema, or a function's return type."""
    if declarable(value):
        yield value
    elif isinstance(value, Aggregator):
        for fn in (value.initial, value.add, value.result, value.merge):
            yield from _returns(fn)
    elif callable(value):
        yield from _returns(value)


def _returns(fn: Any) -> Iterator[type]:
    """Declarable classes in `fn`'s return annotation (none when it has none or it does not
    resolve)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # no annotations, a builtin, or a name that does not resolve
        return
    yield from _inside(hints.get("return"))


def _inside(hint: Any) -> Iterator[type]:
    if declarable(hint):
        yield hint
    for arg in typing.get_args(hint):
        yield from _inside(arg)
