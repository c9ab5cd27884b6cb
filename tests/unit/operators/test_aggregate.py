"""Aggregations and time windows against a brute-force batch reference.

Semantics (Kafka Streams): each task's windowed processor has a stream time, the largest
event time it has seen so far; window [s, s+size) accepts a record while stream time <
end + grace; a record whose windows have all closed is late (dead-lettered, reason `late`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Pipeline
from engine.api import windows
from engine.testing import TestDriver
from engine.transport import partition_for
from tests.helpers.records import Rec, offset_of, records_st


def _windows(ts: int, size: int, advance: int) -> list[tuple[int, int]]:
    """Every [s, s+size) with s a multiple of advance that contains ts (brute force)."""
    return [(s, s + size) for s in range(0, ts + 1) if s % advance == 0 and s <= ts < s + size]


def reference(recs: list[Rec], partitions: int, size: int, advance: int, grace: int
              ) -> tuple[dict[tuple[str, int], list[int]], set[int], dict[int, int]]:
    """Running sums per (key, window start) in arrival order, late record indexes, and the
    final stream time per partition."""
    stream_time: dict[int, int] = {}
    sums: dict[tuple[str, int], list[int]] = defaultdict(list)
    late: set[int] = set()
    for i, (key, ts, price) in enumerate(recs):
        p = partition_for(key.encode(), partitions)
        now = stream_time[p] = max(stream_time.get(p, ts), ts)
        accepted = [(s, e) for s, e in _windows(ts, size, advance) if now < e + grace]
        if not accepted:
            late.add(i)
        for s, _ in accepted:
            previous = sums[(key, s)][-1] if sums[(key, s)] else 0
            sums[(key, s)].append(previous + price)
    return sums, late, stream_time


def _run(recs: list[Rec], partitions: int, spec: windows.TimeWindows, grace: int,
         emit: str) -> TestDriver:
    p = Pipeline("w")
    (p.stream("buys", key="k", time="ts")
      .window(spec, grace=grace, emit=emit)
      .sum("price", name="revenue")
      .to("out"))
    d = TestDriver(p, partitions=partitions)
    for key, ts, price in recs:
        d.pipe("buys", {"k": key, "ts": ts, "price": price}, key=key)
    return d


@settings(max_examples=60, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 8), size=st.sampled_from([5, 10, 12]),
       hops=st.sampled_from([1, 2, 3]), grace=st.sampled_from([0, 3, 25]))
def test_updates_emit_every_running_value(recs: list[Rec], partitions: int, size: int,
                                          hops: int, grace: int) -> None:
    advance = size // hops if size % hops == 0 else size
    d = _run(recs, partitions, windows.TimeWindows(size, advance), grace, "updates")
    sums, late, _ = reference(recs, partitions, size, advance, grace)
    got: dict[tuple[str, int], list[int]] = defaultdict(list)
    for out in d.read("out"):
        v: Any = out.value
        assert v["end"] - v["start"] == size and out.key == v["key"]
        got[(v["key"], v["start"])].append(v["value"])
    assert dict(got) == dict(sums)
    dead = d.dead_letters()
    assert {x.offset for x in dead if x.stage == "late"} == {
        offset_of(recs, i, partitions) for i in late}


@settings(max_examples=60, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 8), size=st.sampled_from([5, 10]),
       hops=st.sampled_from([1, 5]), grace=st.sampled_from([0, 4, 30]))
def test_final_emits_each_closed_window_once(recs: list[Rec], partitions: int, size: int,
                                             hops: int, grace: int) -> None:
    advance = size // hops
    d = _run(recs, partitions, windows.TimeWindows(size, advance), grace, "final")
    sums, _, stream_time = reference(recs, partitions, size, advance, grace)
    expected = {(key, s): values[-1] for (key, s), values in sums.items()
                if stream_time[partition_for(key.encode(), partitions)] >= s + size + grace}
    got = [(o.value["key"], o.value["start"], o.value["value"]) for o in d.read("out")]
    assert len(got) == len({(k, s) for k, s, _ in got}), "a window was emitted twice"
    assert {(k, s): v for k, s, v in got} == expected


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.tuples(st.sampled_from("xyz"), st.integers(-5, 5)), max_size=30),
       partitions=st.integers(1, 4))
def test_key_aggregations_match_reference(values: list[tuple[str, int]],
                                          partitions: int) -> None:
    p = Pipeline("a")
    s = p.stream("in", key="k")
    s.count(name="n").to("n")
    s.sum("x", name="total").to("total")
    s.min("x", name="lo").to("lo")
    s.max("x", name="hi").to("hi")
    s.mean("x", name="avg").to("avg")
    s.collect("x", name="all").to("all")
    s.reduce(lambda a, b: {"k": a["k"], "x": a["x"] * 10 + b["x"]}, name="folded") \
        .map_values(lambda v: v["x"]).to("folded")
    d = TestDriver(p, partitions=partitions)
    for key, x in values:
        d.pipe("in", {"k": key, "x": x}, key=key)
    groups: dict[str, list[int]] = defaultdict(list)
    for key, x in values:
        groups[key].append(x)

    def last(topic: str) -> dict[str, Any]:
        return {o.key: o.value for o in d.read(topic)}

    def fold(xs: list[int]) -> int:
        acc = xs[0]
        for x in xs[1:]:
            acc = acc * 10 + x
        return acc

    assert last("n") == {k: len(xs) for k, xs in groups.items()}
    assert last("total") == {k: sum(xs) for k, xs in groups.items()}
    assert last("lo") == {k: min(xs) for k, xs in groups.items()}
    assert last("hi") == {k: max(xs) for k, xs in groups.items()}
    assert last("avg") == {k: sum(xs) / len(xs) for k, xs in groups.items()}
    assert last("all") == groups
    assert last("folded") == {k: fold(xs) for k, xs in groups.items()}


def session_reference(recs: list[Rec], partitions: int, gap: int, grace: int
                      ) -> tuple[list[tuple[str, int, int, int]], set[int],
                                 list[tuple[str, int, int, int]]]:
    """Brute-force sessions: (key, start, end, sum) after each accepted record, late record
    indexes, and the sessions closed by the end."""
    stream_time: dict[int, int] = {}
    sessions: dict[str, list[list[int]]] = defaultdict(list)  # [start, end, sum]
    updates: list[tuple[str, int, int, int]] = []
    late: set[int] = set()
    for i, (key, ts, price) in enumerate(recs):
        p = partition_for(key.encode(), partitions)
        now = stream_time[p] = max(stream_time.get(p, ts), ts)
        live = [s for s in sessions[key] if s[1] + gap + grace >= now]
        hit = [s for s in live if s[1] >= ts - gap and s[0] <= ts + gap]
        merged = [min([ts] + [s[0] for s in hit]), max([ts] + [s[1] for s in hit]),
                  price + sum(s[2] for s in hit)]
        if merged[1] + gap + grace < now:
            late.add(i)
            continue
        sessions[key] = [s for s in sessions[key] if s not in hit] + [merged]
        updates.append((key, merged[0], merged[1], merged[2]))
    closed = [(key, s[0], s[1], s[2]) for key, ss in sessions.items() for s in ss
              if s[1] + gap + grace < stream_time[partition_for(key.encode(), partitions)]]
    return updates, late, closed


@settings(max_examples=80, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 8), gap=st.sampled_from([3, 10]),
       grace=st.sampled_from([0, 5]), emit=st.sampled_from(["updates", "final"]))
def test_sessions_match_reference(recs: list[Rec], partitions: int, gap: int, grace: int,
                                  emit: str) -> None:
    p = Pipeline("s")
    (p.stream("buys", key="k", time="ts").window(windows.session(gap), grace=grace, emit=emit)
      .sum("price", name="per-session").to("out"))
    d = TestDriver(p, partitions=partitions)
    for key, ts, price in recs:
        d.pipe("buys", {"k": key, "ts": ts, "price": price}, key=key)
    updates, late, closed = session_reference(recs, partitions, gap, grace)
    got = [(o.value["key"], o.value["start"], o.value["end"], o.value["value"])
           for o in d.read("out")]
    if emit == "updates":
        assert sorted(got) == sorted(updates)
    else:
        assert sorted(got) == sorted(closed)
    assert {x.offset for x in d.dead_letters() if x.stage == "late"} == {
        offset_of(recs, i, partitions) for i in late}


def test_idle_timeout_closes_windows_on_quiet_partitions() -> None:
    p = Pipeline("i", idle_timeout_ms=1_000)
    (p.stream("e", key="k", time="ts").window(windows.tumbling(ms=100), emit="final")
      .count(name="c").to("out"))
    (p.stream("s", key="k", time="ts").window(windows.session(gap=50), emit="final")
      .count(name="sessions").to("sessions"))
    d = TestDriver(p)
    d.pipe("e", {"k": "a", "ts": 50}, key="a")
    d.pipe("s", {"k": "a", "ts": 10}, key="a")
    d.idle(500)
    assert d.values("out") == [] and d.values("sessions") == []
    d.idle(600)
    assert d.values("out") == [{"key": "a", "start": 0, "end": 100, "value": 1}]
    assert d.values("sessions") == [{"key": "a", "start": 10, "end": 10, "value": 1}]
    quiet = Pipeline("q")
    quiet.stream("e", key="k", time="ts").window(windows.tumbling(ms=100), emit="final") \
        .count(name="c").to("out")
    d = TestDriver(quiet)
    d.pipe("e", {"k": "a", "ts": 50}, key="a")
    d.idle(60_000)
    assert d.values("out") == [], "without idle_timeout_ms only event time closes windows"


def test_topic_table_keeps_latest_value_and_deletes_on_null() -> None:
    p = Pipeline("t")
    prices = p.table("prices", key="sku", name="prices")
    prices.filter(lambda v: v["price"] < 100).map_values(lambda v: v["price"]).to("cheap")
    d = TestDriver(p, partitions=2)
    d.pipe("prices", {"sku": "a", "price": 10}, key="a")
    d.pipe("prices", {"sku": "b", "price": 500}, key="b")
    d.pipe("prices", {"sku": "a", "price": 20}, key="a")
    d.pipe("prices", None, key="b")
    table = d.table("prices")
    assert table.get("a") == {"sku": "a", "price": 20} and table.get("b") is None
    assert [k for k, _ in table.items()] == ["a"]
    by_key: dict[str | None, list[Any]] = defaultdict(list)
    for out in d.read("cheap"):
        by_key[out.key].append(out.value)
    # b's 500 fails the table filter: a delete (None); its tombstone stays a delete
    assert dict(by_key) == {"a": [10, 20], "b": [None, None]}
