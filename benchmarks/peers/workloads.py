"""The workloads of `python -m benchmarks.peers`: their inputs (the generators of
benchmarks.stateless, .windows and .join), one plain-Python reference each, and how the
records a contender wrote are reduced to what is compared with it.

Outputs are compared as values, not bytes (the peers encode JSON their own way):
stateless as the multiset of (order_id, tax, total); windows as {(product, window start):
(count, sum rounded to cents)}, keeping the largest count of each window (a contender may
write every update or only the final row); join as the multiset of (order_id, bought,
shipped).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from benchmarks import join, stateless, windows
from benchmarks.peers.peerkit import WINDOW_MS, WITHIN_MS
from engine.api import OutRecord

Inputs = dict[str, list[OutRecord]]  # topic -> records (key, JSON value, timestamp, headers)
Row = dict[str, Any]
Summary = Counter[tuple[Any, ...]] | dict[tuple[str, int], tuple[int, float]]


@dataclass(frozen=True)
class Workload:
    """One workload: its inputs, its reference and how outputs are summarised."""

    name: str
    title: str
    generate: Callable[[int, int], Inputs]
    reference: Callable[[Inputs], Summary]
    summarise: Callable[[Iterable[Row]], Summary]
    prepare: Any  # async (EmbeddedLog, n, seed) -> None: the module's own input producer
    shoal_out: str  # the topic the module's Shoal pipeline writes

    def events(self, inputs: Inputs) -> int:
        """Input events of a run."""
        return sum(len(records) for records in inputs.values())


def values(records: list[OutRecord]) -> Iterator[bytes]:
    """The values of generated records (never None)."""
    for _, value, _, _ in records:
        assert value is not None
        yield value


def taxed_summary(rows: Iterable[Row]) -> Summary:
    """Multiset of (order_id, tax, total)."""
    return Counter((r["order_id"], r["tax"], r["total"]) for r in rows)


def stateless_reference(inputs: Inputs) -> Summary:
    """The buys above 50, taxed (benchmarks.stateless.add_tax)."""
    decode = msgspec.json.Decoder(stateless.Buy).decode
    buys = (decode(value) for value in values(inputs[stateless.SOURCE]))
    return Counter((t.order_id, t.tax, t.total)
                   for t in (stateless.add_tax(b) for b in buys if b.price > 50))


def windows_summary(rows: Iterable[Row]) -> Summary:
    """{(product, start): (count, sum)}, the largest count of each window."""
    found: dict[tuple[str, int], tuple[int, float]] = {}
    for r in rows:
        count, total = r["value"]
        key = (r["key"], r["start"])
        if count > found.get(key, (0, 0.0))[0]:
            found[key] = (count, round(total, 2))
    return found


def windows_reference(inputs: Inputs) -> Summary:
    """Count and sum(price) per product and tumbling minute (no record is late by more than
    the generator's jitter, well inside the grace)."""
    decode = msgspec.json.Decoder(stateless.Buy).decode
    acc: dict[tuple[str, int], tuple[int, float]] = {}
    for value in values(inputs[stateless.SOURCE]):
        buy = decode(value)
        key = (buy.product, buy.ts - buy.ts % WINDOW_MS)
        count, total = acc.get(key, (0, 0.0))
        acc[key] = (count + 1, total + buy.price)
    return {key: (count, round(total, 2)) for key, (count, total) in acc.items()}


def join_summary(rows: Iterable[Row]) -> Summary:
    """Multiset of (order_id, bought, shipped)."""
    return Counter((r["order_id"], r["bought"], r["shipped"]) for r in rows)


def join_reference(inputs: Inputs) -> Summary:
    """Every (buy, shipment) pair of an order with buy.ts <= shipped.ts <= buy.ts + 1 h."""
    buys: dict[str, list[int]] = {}
    for value in values(inputs[join.BUYS]):
        buy = msgspec.json.decode(value, type=join.Buy)
        buys.setdefault(buy.order_id, []).append(buy.ts)
    pairs: Counter[tuple[Any, ...]] = Counter()
    for value in values(inputs[join.SHIPPED]):
        shipped = msgspec.json.decode(value, type=join.Shipped)
        pairs.update((shipped.order_id, bought, shipped.ts)
                     for bought in buys.get(shipped.order_id, ())
                     if bought <= shipped.ts <= bought + WITHIN_MS)
    return pairs


def _join_inputs(n: int, seed: int) -> Inputs:
    buys, shipped = join.generate(n, seed)
    return {join.BUYS: buys, join.SHIPPED: shipped}


WORKLOADS = {w.name: w for w in (
    Workload("stateless", "parse, filter(price > 50), map(add tax and total), write",
             lambda n, seed: {stateless.SOURCE: list(stateless.generate(n, seed))},
             stateless_reference, taxed_summary, stateless.produce_input, stateless.SHOAL_OUT),
    Workload("windows", "count + sum(price) per product, tumbling 1-minute event-time windows",
             lambda n, seed: {stateless.SOURCE: list(windows.generate(n, seed))},
             windows_reference, windows_summary, windows.produce_input,
             "buys.windows.updates"),
    Workload("join", "buys ⋈ shipped by order_id within [buy, buy + 1 h] (inner)",
             _join_inputs, join_reference, join_summary, join.produce_input, join.SHOAL_OUT),
)}


def expected_outputs(workload: Workload, inputs: Inputs, reference: Summary) -> int:
    """How many records a contender writing one row per result (per update for windows)
    writes: the count it can stop at."""
    if workload.name == "windows":
        return workload.events(inputs)
    return sum(reference.values())  # type: ignore[arg-type]


def compare(reference: Summary, found: Summary) -> str | None:
    """None when equal, else what differs."""
    if found == reference:
        return None
    if isinstance(reference, Counter) and isinstance(found, Counter):
        missing, extra = reference - found, found - reference
        return f"{missing.total():,} missing, {extra.total():,} unexpected"
    absent = sum(1 for k in reference if k not in found)
    wrong = sum(1 for k, v in found.items() if k in reference and reference[k] != v)
    surplus = sum(1 for k in found if k not in reference)
    return f"{absent:,} windows missing, {wrong:,} wrong, {surplus:,} unexpected"
