"""Sliding windows (KIP-450) against brute-force references.

Windows are [start, start + d], both ends inclusive. Each record at t has a left window
starting at max(0, t - d) (clamped at 0, as in Kafka Streams), and a right window
[t + 1, t + 1 + d] when a record falls in it. A window holds the accepted records inside it,
aggregated in arrival order; it closes once stream time > end + grace and is never created
closed; a record is late once t + d + grace < stream time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Pipeline
from engine.api import windows
from engine.testing import TestDriver
from tests.helpers.records import Rec, offset_of, partition_of, records_st

Fold = Callable[[list[int]], Any]  # a window's value from its records' prices, arrival order


def window_starts(times: list[int], d: int) -> set[int]:
    """KIP-450 window starts of a key's record times (brute force)."""
    return {max(0, t - d) for t in times} | {
        t + 1 for t in times if any(t + 1 <= u <= t + 1 + d for u in times)}


def sliding_reference(recs: list[Rec], d: int) -> dict[tuple[str, int], int]:
    """Windows of the whole input, each the sum of the prices inside."""
    by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, ts, price in recs:
        by_key[key].append((ts, price))
    return {(key, s): sum(p for t, p in rows if s <= t <= s + d)
            for key, rows in by_key.items() for s in window_starts([t for t, _ in rows], d)}


def sliding_replay(recs: list[Rec], partitions: int, d: int, grace: int, fold: Fold = sum
                   ) -> tuple[dict[tuple[str, int], Any], set[tuple[str, int]], set[int]]:
    """Arrival-order brute force: after each record, every window of the accepted records
    that is still open exists, its value fold(prices inside, in arrival order) recomputed
    from scratch; a window closes (and keeps its value) once stream time > end + grace.
    Returns final values, closed windows and the indexes of late records."""
    stream_time: dict[int, int] = {}
    accepted: dict[str, list[tuple[int, int]]] = defaultdict(list)
    values: dict[tuple[str, int], Any] = {}
    closed: set[tuple[str, int]] = set()
    late: set[int] = set()
    for i, (key, ts, price) in enumerate(recs):
        p = partition_of(key, partitions)
        now = stream_time[p] = max(stream_time.get(p, ts), ts)
        if ts + d + grace < now:
            late.add(i)
            continue
        accepted[key].append((ts, price))
        for s in window_starts([t for t, _ in accepted[key]], d):
            if (key, s) not in closed and s + d + grace >= now:
                values[(key, s)] = fold([q for t, q in accepted[key] if s <= t <= s + d])
        closed |= {(k, s) for k, s in values
                   if partition_of(k, partitions) == p and s + d + grace < now}
    return values, closed, late


def _drive(recs: list[Rec], partitions: int, d: int, grace: int, emit: str,
           collect: bool = False) -> TestDriver:
    p = Pipeline("sl")
    windowed = p.stream("buys", key="k", time="ts").window(windows.sliding(ms=d), grace=grace,
                                                           emit=emit)
    table = (windowed.collect("price", name="sliding") if collect
             else windowed.sum("price", name="sliding"))
    table.to("out")
    drv = TestDriver(p, partitions=partitions)
    for key, ts, price in recs:
        drv.pipe("buys", {"k": key, "ts": ts, "price": price}, key=key)
    return drv


def _table(drv: TestDriver) -> dict[tuple[str, int], Any]:
    return {(w.key, w.start): w.value for _, w in drv.table("sliding").items()}


@settings(max_examples=80, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 8), d=st.sampled_from([1, 3, 10]))
def test_windows_match_kip450_out_of_order(recs: list[Rec], partitions: int, d: int) -> None:
    drv = _drive(recs, partitions, d, 1_000, "updates")
    assert _table(drv) == sliding_reference(recs, d)
    assert all(o.value["end"] - o.value["start"] == d for o in drv.read("out"))


@settings(max_examples=60, deadline=None)
@given(recs=records_st, d=st.sampled_from([2, 10]), grace=st.sampled_from([0, 5]))
def test_final_emits_closed_windows_once(recs: list[Rec], d: int, grace: int) -> None:
    ordered = sorted(recs, key=lambda r: r[1])
    drv = _drive(ordered, 1, d, grace, "final")
    now = max((ts for _, ts, _ in ordered), default=0)
    expected = {k: v for k, v in sliding_reference(ordered, d).items() if k[1] + d + grace < now}
    got = [(o.value["key"], o.value["start"], o.value["value"]) for o in drv.read("out")]
    assert len(got) == len({(k, s) for k, s, _ in got})
    assert {(k, s): v for k, s, v in got} == expected
    assert drv.dead_letters() == []


@settings(max_examples=80, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 8), d=st.sampled_from([1, 4, 10]),
       grace=st.sampled_from([0, 3, 12]), emit=st.sampled_from(["updates", "final"]))
def test_windows_match_arrival_order_replay(recs: list[Rec], partitions: int, d: int,
                                            grace: int, emit: str) -> None:
    drv = _drive(recs, partitions, d, grace, emit)
    values, closed, late = sliding_replay(recs, partitions, d, grace)
    assert _table(drv) == values
    if emit == "final":
        got = [(o.value["key"], o.value["start"], o.value["value"]) for o in drv.read("out")]
        assert sorted(got) == sorted((k, s, values[(k, s)]) for k, s in closed)
    assert {x.offset for x in drv.dead_letters() if x.stage == "late"} == {
        offset_of(recs, i, partitions) for i in late}


@settings(max_examples=80, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 4), d=st.sampled_from([1, 4, 10]),
       grace=st.sampled_from([0, 3, 50]))
def test_collect_keeps_arrival_order_in_every_window(recs: list[Rec], partitions: int, d: int,
                                                     grace: int) -> None:
    """An order-sensitive aggregation: a window built after some of its records arrived
    holds them in arrival order, as a window that existed all along does."""
    drv = _drive(recs, partitions, d, grace, "updates", collect=True)
    values, _, _ = sliding_replay(recs, partitions, d, grace, fold=list)
    assert _table(drv) == values


def test_a_window_created_later_keeps_arrival_order() -> None:
    """a@100, b@105, c@103, d@113 (size 50): [55, 105] holds a, b, c and [63, 113] (built
    when d arrives) a, b, c, d: arrival order in both, not time order."""
    drv = TestDriver(_collect_pipeline(50, 100))
    for value, ts in (("a", 100), ("b", 105), ("c", 103), ("d", 113)):
        drv.pipe("buys", {"k": "A", "ts": ts, "v": value}, key="A")
    got = {w.start: w.value for w in drv.table("sliding").windows("A")}
    assert got[55] == ["a", "b", "c"] and got[63] == ["a", "b", "c", "d"]
    assert got[106] == ["d"] and got[104] == ["b", "d"]


def _collect_pipeline(d: int, grace: int) -> Pipeline:
    p = Pipeline("slc")
    (p.stream("buys", key="k", time="ts").window(windows.sliding(ms=d), grace=grace)
      .collect("v", name="sliding"))
    return p


def test_a_previous_records_right_window_is_created_until_it_closes() -> None:
    """Size 10, grace 12: 81, then 104 (closing [71, 81]), then 82: 82 lands in the right
    window of 81, [82, 92], which closes only once stream time > 104."""
    drv = TestDriver(_collect_pipeline(10, 12))
    for ts in (81, 104, 82):
        drv.pipe("buys", {"k": "A", "ts": ts, "v": ts}, key="A")
    got = {(w.start, w.end): w.value for w in drv.table("sliding").windows("A")}
    assert got == {(71, 81): [81], (82, 92): [82], (94, 104): [104]}
    assert drv.dead_letters() == []


def test_early_windows_are_clamped_at_zero() -> None:
    """Records within one size of time 0 share the window [0, d], as in Kafka Streams."""
    drv = TestDriver(_collect_pipeline(10, 100))
    for ts in (2, 5, 30):
        drv.pipe("buys", {"k": "A", "ts": ts, "v": ts}, key="A")
    got = {(w.start, w.end): w.value for w in drv.table("sliding").windows("A")}
    assert got == {(0, 10): [2, 5], (3, 13): [5], (20, 30): [30]}


def test_late_record_is_dead_lettered() -> None:
    p = Pipeline("sll")
    p.stream("e", key="k", time="ts").window(windows.sliding(ms=10)).count(name="c")
    d = TestDriver(p)
    for ts in (100, 95, 50):
        d.pipe("e", {"k": "a", "ts": ts}, key="a")
    assert [(x.stage, x.offset) for x in d.dead_letters()] == [("late", 2)]
    assert (d.worker.stats.late, d.worker.stats.dead_lettered) == (1, 1)
    # [85, 95] (the left window of 95) had already closed at stream time 100 (grace 0)
    assert {(w.start, w.end, w.value) for w in d.table("c").windows("a")} == {
        (90, 100, 2), (96, 106, 1)}
