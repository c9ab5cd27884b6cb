"""Aggregations: how a table's value per key (or per window) is built from records.

An aggregator has `initial()`, `add(acc, value)`, `result(acc)` and, for session windows,
`merge(a, b)`. Accumulators are plain Python values, stored in the task's store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Field = str | Callable[[Any], Any] | None


def _getter(field: Field) -> Callable[[Any], Any]:
    if field is None:
        return lambda v: v
    if callable(field):
        return field
    name = field

    def get(value: Any) -> Any:
        return value[name] if isinstance(value, dict) else getattr(value, name)

    return get


@dataclass(frozen=True)
class Aggregator:
    """A custom aggregation from four functions."""

    initial: Callable[[], Any]
    add: Callable[[Any, Any], Any]
    result: Callable[[Any], Any] = lambda acc: acc
    merge: Callable[[Any, Any], Any] | None = None
    label: str = "aggregate"


def count() -> Aggregator:
    """Number of records."""
    return Aggregator(lambda: 0, lambda acc, _: acc + 1, merge=lambda a, b: a + b,
                      label="count")


def sum_of(field: Field = None) -> Aggregator:
    """Sum of a field (or of fn(value), or of the value)."""
    get = _getter(field)
    return Aggregator(lambda: 0, lambda acc, v: acc + get(v), merge=lambda a, b: a + b,
                      label=f"sum({field})" if isinstance(field, str) else "sum")


def _pick(better: Callable[[Any, Any], bool], field: Field, label: str) -> Aggregator:
    get = _getter(field)

    def add(acc: Any, value: Any) -> Any:
        x = get(value)
        return x if acc is None or better(x, acc) else acc

    def merge(a: Any, b: Any) -> Any:
        return b if a is None or (b is not None and better(b, a)) else a

    return Aggregator(lambda: None, add, merge=merge, label=label)


def min_of(field: Field = None) -> Aggregator:
    """Smallest value of a field."""
    return _pick(lambda x, acc: x < acc, field, "min")


def max_of(field: Field = None) -> Aggregator:
    """Largest value of a field."""
    return _pick(lambda x, acc: x > acc, field, "max")


def mean_of(field: Field = None) -> Aggregator:
    """Arithmetic mean of a field (None for no records)."""
    get = _getter(field)
    return Aggregator(
        lambda: (0, 0), lambda acc, v: (acc[0] + get(v), acc[1] + 1),
        result=lambda acc: acc[0] / acc[1] if acc[1] else None,
        merge=lambda a, b: (a[0] + b[0], a[1] + b[1]), label="mean")


def collect(field: Field = None) -> Aggregator:
    """All values (of a field), in arrival order."""
    get = _getter(field)
    return Aggregator(list, lambda acc, v: [*acc, get(v)], merge=lambda a, b: a + b,
                      label="collect")


def reduce(fn: Callable[[Any, Any], Any]) -> Aggregator:
    """fn(previous, value) folded over the values; the first value starts it."""

    def add(acc: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
        return (fn(acc[0], value),) if acc else (value,)

    def merge(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
        return (fn(a[0], b[0]),) if a and b else a or b

    return Aggregator(tuple, add, result=lambda acc: acc[0] if acc else None, merge=merge,
                      label="reduce")
