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

Rec = tuple[str, int, int]  # key, event time, price

records_st = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 120),
                                st.integers(1, 9)), max_size=40)


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
        _offset(recs, i, partitions) for i in late}


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


def _offset(recs: list[Rec], index: int, partitions: int) -> int:
    """Offset of record `index` in its partition (records are piped one by one)."""
    p = partition_for(recs[index][0].encode(), partitions)
    return sum(1 for key, _, _ in recs[:index] if partition_for(key.encode(), partitions) == p)


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
        _offset(recs, i, partitions) for i in late}


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


def sliding_reference(recs: list[Rec], d: int) -> dict[tuple[str, int], int]:
    """KIP-450 windows from the whole input: a left window [t - d, t] per record, and a right
    window [t + 1, t + 1 + d] where it holds a record; value = sum of prices inside."""
    by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, ts, price in recs:
        by_key[key].append((ts, price))
    out = {}
    for key, rows in by_key.items():
        times = [t for t, _ in rows]
        starts = {t - d for t in times} | {t + 1 for t in times
                                           if any(t + 1 <= u <= t + 1 + d for u in times)}
        for s in starts:
            out[(key, s)] = sum(p for t, p in rows if s <= t <= s + d)
    return out


@settings(max_examples=80, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 8), d=st.sampled_from([1, 3, 10]))
def test_sliding_windows_match_kip450_out_of_order(recs: list[Rec], partitions: int,
                                                   d: int) -> None:
    p = Pipeline("sl")
    (p.stream("buys", key="k", time="ts").window(windows.sliding(ms=d), grace=1_000)
      .sum("price", name="sliding").to("out"))
    d_ = TestDriver(p, partitions=partitions)
    for key, ts, price in recs:
        d_.pipe("buys", {"k": key, "ts": ts, "price": price}, key=key)
    table = {(w.key, w.start): w.value for _, w in d_.table("sliding").items()}
    assert table == sliding_reference(recs, d)
    assert all(o.value["end"] - o.value["start"] == d for o in d_.read("out"))


@settings(max_examples=60, deadline=None)
@given(recs=records_st, d=st.sampled_from([2, 10]), grace=st.sampled_from([0, 5]))
def test_sliding_final_emits_closed_windows_once(recs: list[Rec], d: int, grace: int) -> None:
    ordered = sorted(recs, key=lambda r: r[1])
    p = Pipeline("sf")
    (p.stream("buys", key="k", time="ts").window(windows.sliding(ms=d), grace=grace,
                                                 emit="final")
      .sum("price", name="sliding").to("out"))
    drv = TestDriver(p)
    for key, ts, price in ordered:
        drv.pipe("buys", {"k": key, "ts": ts, "price": price}, key=key)
    now = max((ts for _, ts, _ in ordered), default=0)
    expected = {k: v for k, v in sliding_reference(ordered, d).items() if k[1] + d + grace < now}
    got = [(o.value["key"], o.value["start"], o.value["value"]) for o in drv.read("out")]
    assert len(got) == len({(k, s) for k, s, _ in got})
    assert {(k, s): v for k, s, v in got} == expected
    assert drv.dead_letters() == []


def test_sliding_late_record_is_dead_lettered() -> None:
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


def sliding_replay(recs: list[Rec], partitions: int, d: int, grace: int
                   ) -> tuple[dict[tuple[str, int], int], set[tuple[str, int]], set[int]]:
    """Arrival-order brute force: after each record, every KIP-450 window of the accepted
    records that is still open exists, its value recomputed from scratch; windows close once
    stream time > end + grace. Returns final values, closed windows, late record indexes."""
    stream_time: dict[int, int] = {}
    accepted: dict[str, list[tuple[int, int]]] = defaultdict(list)
    values: dict[tuple[str, int], int] = {}
    closed: set[tuple[str, int]] = set()
    late: set[int] = set()
    for i, (key, ts, price) in enumerate(recs):
        p = partition_for(key.encode(), partitions)
        now = stream_time[p] = max(stream_time.get(p, ts), ts)
        if ts + d + grace < now:
            late.add(i)
            continue
        accepted[key].append((ts, price))
        for (k, s), _ in sliding_reference([(key, t, q) for t, q in accepted[key]], d).items():
            if (k, s) not in closed and s + d + grace >= now:
                values[(k, s)] = sum(q for t, q in accepted[key] if s <= t <= s + d)
        for (k, s) in values:
            if partition_for(k.encode(), partitions) == p and s + d + grace < now:
                closed.add((k, s))
    return values, closed, late


@settings(max_examples=80, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 8), d=st.sampled_from([1, 4, 10]),
       grace=st.sampled_from([0, 3, 12]), emit=st.sampled_from(["updates", "final"]))
def test_sliding_windows_match_arrival_order_replay(recs: list[Rec], partitions: int, d: int,
                                                    grace: int, emit: str) -> None:
    p = Pipeline("sr")
    (p.stream("buys", key="k", time="ts").window(windows.sliding(ms=d), grace=grace, emit=emit)
      .sum("price", name="sliding").to("out"))
    drv = TestDriver(p, partitions=partitions)
    for key, ts, price in recs:
        drv.pipe("buys", {"k": key, "ts": ts, "price": price}, key=key)
    values, closed, late = sliding_replay(recs, partitions, d, grace)
    assert {(w.key, w.start): w.value for _, w in drv.table("sliding").items()} == values
    if emit == "final":
        got = [(o.value["key"], o.value["start"], o.value["value"]) for o in drv.read("out")]
        assert sorted(got) == sorted((k, s, values[(k, s)]) for k, s in closed)
    assert {x.offset for x in drv.dead_letters() if x.stage == "late"} == {
        _offset(recs, i, partitions) for i in late}
