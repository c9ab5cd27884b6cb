"""Aggregations: how a table's value per key (or per window) is built from records.

An aggregator has `initial()`, `add(acc, value)`, `result(acc)`, for session windows
`merge(a, b)`, and, to aggregate a table whose rows change (`Table.group_by`),
`subtract(acc, value)`. Accumulators are plain Python values, stored in the task's store.
"""

from __future__ import annotations

import bisect
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
    subtract: Callable[[Any, Any], Any] | None = None
    commutative: bool = False  # the result ignores the order of the values (merge freely)


def count() -> Aggregator:
    """Number of records."""
    return Aggregator(lambda: 0, lambda acc, _: acc + 1, merge=lambda a, b: a + b,
                      label="count", subtract=lambda acc, _: acc - 1, commutative=True)


def sum_of(field: Field = None) -> Aggregator:
    """Sum of a field (or of fn(value), or of the value)."""
    get = _getter(field)
    return Aggregator(lambda: 0, lambda acc, v: acc + get(v), merge=lambda a, b: a + b,
                      label=f"sum({field})" if isinstance(field, str) else "sum",
                      subtract=lambda acc, v: acc - get(v), commutative=True)


def _pick(better: Callable[[Any, Any], bool], field: Field, label: str) -> Aggregator:
    get = _getter(field)

    def add(acc: Any, value: Any) -> Any:
        x = get(value)
        return x if acc is None or better(x, acc) else acc

    def merge(a: Any, b: Any) -> Any:
        return b if a is None or (b is not None and better(b, a)) else a

    return Aggregator(lambda: None, add, merge=merge, label=label, commutative=True)


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
        merge=lambda a, b: (a[0] + b[0], a[1] + b[1]), label="mean",
        subtract=lambda acc, v: (acc[0] - get(v), acc[1] - 1), commutative=True)


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


def _scorer(by: Field) -> Callable[[Any], Any]:
    """`by` of a value; a tuple score becomes a list, as a stored accumulator reads back."""
    get = _getter(by)

    def score(value: Any) -> Any:
        s = get(value)
        return list(s) if s.__class__ is tuple else s

    return score


def top_n(n: int, by: Field) -> Aggregator:
    """The `n` whole records with the largest `by` (a field or a function), best first; of
    equal ones the earlier arrival ranks first and stays. The accumulator keeps (score,
    record) pairs in rank order, so an update is one binary search."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"top_n(n=...) must be a positive int, got {n!r}")
    get = _scorer(by)

    def add(acc: list[list[Any]], value: Any) -> list[list[Any]]:
        score = get(value)
        at = bisect.bisect_left(acc, 1, key=lambda entry: 1 if entry[0] < score else 0)
        if at >= n:  # not better than any of a full list: nothing changes
            return acc
        return [*acc[:at], [score, value], *acc[at:n - 1]]

    def merge(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
        for entry in b:  # b's records arrived after a's
            a = add(a, entry[1])
        return a

    return Aggregator(list, add, result=lambda acc: [entry[1] for entry in acc], merge=merge,
                      label=f"top_n({n}, {by if isinstance(by, str) else 'fn'})")


def _best(better: Callable[[Any, Any], bool], by: Field, label: str) -> Aggregator:
    """The whole record whose `by` is best (the first of equal ones)."""
    get = _scorer(by)

    def add(acc: list[Any] | None, value: Any) -> list[Any]:
        score = get(value)
        return [score, value] if acc is None or better(score, acc[0]) else acc

    def merge(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
        return b if a is None or (b is not None and better(b[0], a[0])) else a

    return Aggregator(lambda: None, add, result=lambda acc: None if acc is None else acc[1],
                      merge=merge, label=f"{label}({by if isinstance(by, str) else 'fn'})")


def _all_best(better: Callable[[Any, Any], bool], by: Field, label: str) -> Aggregator:
    """Every record whose `by` is best, in arrival order (ties all kept)."""
    get = _scorer(by)

    def add(acc: list[Any] | None, value: Any) -> list[Any]:
        score = get(value)
        if acc is None or better(score, acc[0]):
            return [score, [value]]
        return [score, [*acc[1], value]] if score == acc[0] else acc

    def merge(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
        if a is None or b is None or a[0] != b[0]:
            return b if a is None or (b is not None and better(b[0], a[0])) else a
        return [a[0], a[1] + b[1]]

    return Aggregator(lambda: None, add, result=lambda acc: [] if acc is None else acc[1],
                      merge=merge, label=f"{label}({by if isinstance(by, str) else 'fn'}, ties)")


def max_by(by: Field, ties: bool = False) -> Aggregator:
    """The whole record with the largest `by` (the first to arrive of equal ones); with
    ties=True, the list of every record sharing the largest `by`, in arrival order."""
    return (_all_best if ties else _best)(lambda x, best: x > best, by, "max_by")


def min_by(by: Field, ties: bool = False) -> Aggregator:
    """The whole record with the smallest `by` (the first to arrive of equal ones); with
    ties=True, the list of every record sharing the smallest `by`, in arrival order."""
    return (_all_best if ties else _best)(lambda x, best: x < best, by, "min_by")
