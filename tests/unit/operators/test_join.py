"""Join property tests: every join kind against a brute-force reference in this file.

Each test feeds a random interleaving of both inputs (1 to 8 partitions) and compares what the
pipeline wrote with a reference that replays the same records in arrival order:
- stream-table (inner/left): table tombstones delete rows; records optionally arrive in
  batches, which the runtime merges by event time;
- table-table (inner/left/outer): tombstones on either side, batches as above;
- stream-stream windowed (inner/left/outer): records out of event-time order, late records
  dead-lettered and never joined;
- key changes: one input re-keyed with key_by (through a repartition topic) before a
  stream-table and a stream-stream join, the reference computed on the new keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from itertools import cycle
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ConfigError, Pipeline, PlanError, plan, windows
from engine.api.codec import Codec
from engine.api.serde import key_to_bytes
from engine.runtime import Worker, run_sync
from engine.state import DictBackend
from engine.testing import Output, TestDriver
from engine.transport import EmbeddedLog, partition_for

Record = tuple[str, str, Any, int]  # topic, key, value (None: tombstone), timestamp

# how many records are appended before the driver processes them: 1 is the plain
# record-by-record interleaving, larger batches make the runtime merge both inputs itself
batch_sizes_st = st.lists(st.integers(1, 12), min_size=1, max_size=5)


def _send(d: TestDriver, records: list[Record], sizes: list[int]) -> None:
    """Append the records in batches of the given sizes (cycled), processing after each."""
    it = iter(records)
    for size in cycle(sizes):
        batch = [r for _, r in zip(range(size), it, strict=False)]
        if not batch:
            return
        for topic, key, value, ts in batch:
            raw = None if value is None else msgspec.json.encode(value)
            run_sync(d.log.produce(topic, [(key_to_bytes(key), raw, ts, None)]))
        d.process()


def _per_key(pairs: Iterable[tuple[str | None, Any]]) -> dict[str | None, list[Any]]:
    """The values of each key in order (a key's outputs share one partition, in order)."""
    out: dict[str | None, list[Any]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _outputs(outputs: list[Output]) -> dict[str | None, list[Any]]:
    return _per_key((o.key, o.value) for o in outputs)


# -- stream-table ------------------------------------------------------------------------

Event = tuple[str, str, int | None]  # ("order"|"price", key, value; None deletes a price)

events_st = st.lists(st.tuples(st.sampled_from(["order", "price"]), st.sampled_from("abcd"),
                               st.one_of(st.none(), st.integers(1, 99))), max_size=40)


def _joiner(order: Any, row: Any) -> list[Any]:
    return [order["n"], None if row is None else row["price"]]


def _pipeline(how: str) -> Pipeline:
    p = Pipeline("j")
    prices = p.table("prices", key="sku", name="prices")
    p.stream("orders", key="sku").join(prices, _joiner, how=how, name="priced").to("priced")
    return p


def stream_table_replay(events: list[Event], how: str,
                        key_of: Callable[[int, str], str] | None = None
                        ) -> tuple[list[Record], list[tuple[str, Any]]]:
    """The records to send (timestamps strictly increasing with arrival, so arrival order
    and event-time order agree: no ties for the runtime to break) and the joined outputs:
    each order (n = its index) meets the price row current when it arrives."""
    table: dict[str, int] = {}
    records: list[Record] = []
    expected: list[tuple[str, Any]] = []
    for i, (kind, key, value) in enumerate(events):
        ts = i + 1
        if kind == "price":
            records.append(("prices", key, None if value is None
                            else {"sku": key, "price": value}, ts))
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        else:
            order: dict[str, Any] = {"sku": key, "n": i}
            if key_of is not None:  # the order's input key is another one; key_by restores sku
                order["cust"] = key_of(i, key)
            records.append(("orders", order.get("cust", key), order, ts))
            if key in table or how == "left":
                expected.append((key, [i, table.get(key)]))
    return records, expected


@settings(max_examples=600, deadline=None)
@given(events=events_st, partitions=st.integers(1, 8), how=st.sampled_from(["inner", "left"]),
       sizes=batch_sizes_st)
def test_stream_table_join_matches_replay(events: list[Event], partitions: int, how: str,
                                          sizes: list[int]) -> None:
    d = TestDriver(_pipeline(how), partitions=partitions)
    records, expected = stream_table_replay(events, how)
    _send(d, records, sizes)
    assert _outputs(d.read("priced")) == _per_key(expected)


@settings(max_examples=500, deadline=None)
@given(events=events_st, custs=st.lists(st.sampled_from("abuvw"), min_size=1),
       partitions=st.integers(1, 8), how=st.sampled_from(["inner", "left"]))
def test_rekeyed_stream_table_join_matches_replay(events: list[Event], custs: list[str],
                                                  partitions: int, how: str) -> None:
    """Orders keyed by customer are re-keyed by sku (key_by through a repartition topic)
    before the join. Records are sent one at a time: a re-keyed order reaches the join only
    after its repartition write is committed, so in a batch a price with a later event time
    could already have been applied; record by record, arrival order, event-time order and
    processing order all agree, and the expected output is unambiguous."""
    p = Pipeline("rk")
    prices = p.table("prices", key="sku", name="prices")
    (p.stream("orders", key="cust")
      .key_by(lambda order: order["sku"], name="by-sku", partitions=partitions)
      .join(prices, _joiner, how=how, name="priced")
      .to("priced"))
    d = TestDriver(p, partitions=partitions)
    records, expected = stream_table_replay(events, how, lambda i, _: custs[i % len(custs)])
    _send(d, records, [1])
    assert _outputs(d.read("priced")) == _per_key(expected)
    assert not d.dead_letters()


def test_join_validation() -> None:
    p = Pipeline("v")
    t = p.table("t", key="k", name="t")
    s = p.stream("s", key="k")
    with pytest.raises(ValueError, match="'inner' or 'left'"):
        s.join(t, lambda a, b: a, how="outer", name="x")
    with pytest.raises(ValueError, match="needs within="):
        s.join(p.stream("s2", key="k"), name="w")
    assert p.nodes[-1].name == "source.s2"
    with pytest.raises(PlanError, match="materialized, non-windowed table"):
        s.join(t.map_values(lambda v: v), lambda a, b: a, name="y")
    unkeyed = Pipeline("u")
    table = unkeyed.table("t", key="k", name="t")
    unkeyed.stream("s").join(table, lambda a, b: a, name="z").to("out")
    with pytest.raises(PlanError, match=r"'z' .* needs a keyed stream"):
        plan(unkeyed)
    physical = plan(_pipeline("inner"))
    assert len(physical.subtopologies) == 1, "the join and its table share one task"


def test_join_inputs_must_be_co_partitioned(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("orders", 4)
        await log.create_topic("prices", 2)
        with pytest.raises(ConfigError, match=r"co-partitioned inputs, but .*'orders' has 4"):
            await Worker(plan(_pipeline("inner")), log,
                         backends=lambda name: DictBackend()).run()
        await log.close()

    asyncio.run(scenario())


# -- table-table -------------------------------------------------------------------------

Change = tuple[int, str, int | None]  # side (0 left, 1 right), key, value (None deletes)

changes_st = st.lists(st.tuples(st.integers(0, 1), st.sampled_from("abc"),
                                st.one_of(st.none(), st.integers(1, 9))), max_size=40)


@settings(max_examples=600, deadline=None)
@given(changes=changes_st, partitions=st.integers(1, 8),
       how=st.sampled_from(["inner", "left", "outer"]), sizes=batch_sizes_st)
def test_table_table_join_tracks_both_sides(changes: list[Change], partitions: int,
                                            how: str, sizes: list[int]) -> None:
    p = Pipeline("tt")
    left = p.table("left", key="k", name="left")
    right = p.table("right", key="k", name="right")
    left.join(right, lambda a, b: [None if a is None else a["v"], None if b is None else b["v"]],
              how=how, name="both").to("joined")
    d = TestDriver(p, partitions=partitions)
    tables: tuple[dict[str, int], dict[str, int]] = ({}, {})
    records: list[Record] = []
    expected: list[tuple[str, Any]] = []
    joined: set[str] = set()
    for i, (side, key, value) in enumerate(changes):
        # timestamps increase with arrival: batches merge back into exactly this order
        records.append((("left", "right")[side], key,
                        None if value is None else {"k": key, "v": value}, i + 1))
        if value is None:
            tables[side].pop(key, None)
        else:
            tables[side][key] = value
        a, b = tables[0].get(key), tables[1].get(key)
        keep = {"inner": a is not None and b is not None, "left": a is not None,
                "outer": a is not None or b is not None}[how]
        if keep:  # every change of a joined row emits it
            expected.append((key, [a, b]))
            joined.add(key)
        elif key in joined:  # a delete only where there was a row (as in Kafka Streams)
            expected.append((key, None))
            joined.discard(key)
    _send(d, records, sizes)
    assert _outputs(d.read("joined")) == _per_key(expected)


# -- stream-stream -----------------------------------------------------------------------

Arrival = tuple[int, str, int]  # side, key, event time (the value is the arrival index)

arrivals_st = st.lists(st.tuples(st.integers(0, 1), st.sampled_from("ab"), st.integers(0, 60)),
                       max_size=30)


Replayed = tuple[list[tuple[str, Any]], set[int]]


def replay(events: list[tuple[int, str, int, int]], partitions: int, how: str,
           closes: Callable[[int, int, int], int], lasts: Callable[[int, int, int], int],
           meet: Callable[[int, int, int], bool]) -> Replayed:
    """Brute force over arrival order of records (side, key, time, extra), record i having
    value i: a record arriving after stream time closes(side, t, extra) is late; else it
    meets every live partner of its key for which meet(left t, left extra, right t) holds,
    and stays live until its partition's stream time passes lasts(side, t, extra), when it
    is emitted with None if unmatched (left/outer)."""
    stream_time: dict[int, int] = {}
    live: list[list[Any]] = []  # [side, key, t, value, matched, partition, last, extra]
    out: list[tuple[str, Any]] = []
    late: set[int] = set()

    def expire(p: int) -> None:
        for rec in [r for r in live if r[5] == p and r[6] < stream_time[p]]:
            live.remove(rec)
            if not rec[4] and (how == "outer" or (how == "left" and rec[0] == 0)):
                out.append((rec[1], [rec[3], None] if rec[0] == 0 else [None, rec[3]]))

    for i, (side, key, t, extra) in enumerate(events):
        p = partition_for(key.encode(), partitions)
        stream_time[p] = max(stream_time.get(p, t), t)
        if closes(side, t, extra) < stream_time[p]:
            late.add(i)
            expire(p)
            continue
        matched = False
        for rec in live:
            if rec[0] != side and rec[1] == key:
                left, right = ((t, extra), rec[2]) if side == 0 else ((rec[2], rec[7]), t)
                if meet(*left, right):
                    rec[4] = matched = True
                    out.append((key, [i, rec[3]] if side == 0 else [rec[3], i]))
        live.append([side, key, t, i, matched, p, lasts(side, t, extra), extra])
        expire(p)
    return out, late


def join_replay(events: list[Arrival], partitions: int, before: int, after: int, grace: int,
                how: str, window: int = 0) -> Replayed:
    """The interval join (or, with a window size, the window join): a record lives until
    its time + reach + grace (its window's last ms + grace), and arriving later is late."""
    reach = (after, before)

    def last(side: int, t: int, _: int) -> int:
        return (t // window * window + window - 1 if window else t + reach[side]) + grace

    def meet(left_t: int, _: int, right_t: int) -> bool:
        if window:
            return left_t // window == right_t // window
        return left_t - before <= right_t <= left_t + after

    return replay([(side, key, t, 0) for side, key, t in events], partitions, how, last, last,
                  meet)


def _late_values(d: TestDriver) -> set[int]:
    """The `v` of every dead-lettered record, all of which must be late ones (JSON from an
    input topic, msgpack from a repartition topic)."""
    values = set()
    for x in d.dead_letters():
        assert x.stage == "late", x
        assert x.value is not None
        try:
            record = msgspec.json.decode(x.value)
        except msgspec.DecodeError:
            record = Codec().decode(x.value)
        values.add(record["v"])
    return values


bounds_st = st.sampled_from([(5, 5), (0, 10), (3, 0), (0, 0)])


@settings(max_examples=1000, deadline=None)
@given(events=arrivals_st, partitions=st.integers(1, 8), bounds=bounds_st,
       grace=st.sampled_from([0, 4]), how=st.sampled_from(["inner", "left", "outer"]))
def test_stream_stream_join_matches_replay(events: list[Arrival], partitions: int,
                                           bounds: tuple[int, int], grace: int,
                                           how: str) -> None:
    """Records are sent one at a time in an arrival order that is not event-time order (the
    reference replays arrival order; batches would let the runtime reorder by event time)."""
    before, after = bounds
    p = Pipeline("ss")
    buys = p.stream("buys", key="k", time="t")
    ships = p.stream("ships", key="k", time="t")
    buys.join(ships, lambda b, s: [None if b is None else b["v"],
                                   None if s is None else s["v"]],
              within=0, before=before, after=after, grace=grace, how=how,
              name="fulfil").to("out")
    d = TestDriver(p, partitions=partitions)
    for i, (side, key, t) in enumerate(events):
        d.pipe(("buys", "ships")[side], {"k": key, "t": t, "v": i}, key=key)
    expected, late = join_replay(events, partitions, before, after, grace, how)
    got = [(o.key, o.value) for o in d.read("out")]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert _late_values(d) == late, "exactly the late records are dead-lettered"


@settings(max_examples=400, deadline=None)
@given(events=arrivals_st, partitions=st.integers(1, 8), size=st.sampled_from([1, 7, 20]),
       grace=st.sampled_from([0, 4]), how=st.sampled_from(["inner", "left", "outer"]))
def test_window_join_matches_replay(events: list[Arrival], partitions: int, size: int,
                                    grace: int, how: str) -> None:
    """join(window=tumbling): pairs in the same window, records out of event-time order."""
    p = Pipeline("wj")
    buys = p.stream("buys", key="k", time="t")
    ships = p.stream("ships", key="k", time="t")
    buys.join(ships, lambda b, s: [None if b is None else b["v"],
                                   None if s is None else s["v"]],
              window=windows.tumbling(size), grace=grace, how=how, name="same").to("out")
    d = TestDriver(p, partitions=partitions)
    for i, (side, key, t) in enumerate(events):
        d.pipe(("buys", "ships")[side], {"k": key, "t": t, "v": i}, key=key)
    expected, late = join_replay(events, partitions, 0, 0, grace, how, window=size)
    got = [(o.key, o.value) for o in d.read("out")]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert _late_values(d) == late, "exactly the late records are dead-lettered"


@settings(max_examples=1000, deadline=None)
@given(events=arrivals_st, olds=st.lists(st.sampled_from("abuvw"), min_size=1),
       rekeyed=st.integers(0, 1), partitions=st.integers(1, 8), bounds=bounds_st,
       grace=st.sampled_from([0, 4]), how=st.sampled_from(["inner", "left", "outer"]))
def test_rekeyed_stream_stream_join_matches_replay(events: list[Arrival], olds: list[str],
                                                   rekeyed: int, partitions: int,
                                                   bounds: tuple[int, int], grace: int,
                                                   how: str) -> None:
    """One side arrives keyed by an old key `o` and is re-keyed by `k` (key_by through a
    repartition topic) before the join; the reference joins on `k`, with stream time per
    partition of the new key. Records go one at a time so that the join sees them in
    arrival order (see test_stream_stream_join_matches_replay)."""
    before, after = bounds
    p = Pipeline("rs")
    sides = [p.stream(topic, key="o" if side == rekeyed else "k", time="t")
             for side, topic in enumerate(("buys", "ships"))]
    sides[rekeyed] = sides[rekeyed].key_by(lambda v: v["k"], name="rekey", partitions=partitions)
    sides[0].join(sides[1], lambda b, s: [None if b is None else b["v"],
                                          None if s is None else s["v"]],
                  before=before, after=after, grace=grace, how=how, name="fulfil").to("out")
    d = TestDriver(p, partitions=partitions)
    for i, (side, key, t) in enumerate(events):
        old = olds[i % len(olds)] if side == rekeyed else key
        d.pipe(("buys", "ships")[side], {"o": old, "k": key, "t": t, "v": i}, key=old)
    expected, late = join_replay(events, partitions, before, after, grace, how)
    got = [(o.key, o.value) for o in d.read("out")]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert _late_values(d) == late, "exactly the late records are dead-lettered"


def test_joined_tables_are_materialized_queryable_and_joinable() -> None:
    p = Pipeline("chain")
    a = p.table("a", key="k", name="a")
    b = p.table("b", key="k", name="b")
    c = p.table("c", key="k", name="c")
    ab = a.join(b, lambda x, y: [x["v"], y["v"]], name="ab")
    ab.join(c, lambda xy, z: [*xy, None if z is None else z["v"]], how="left",
            name="abc").to("out")
    d = TestDriver(p, partitions=3)
    for topic, key, value in [("a", "1", 1), ("b", "1", 2), ("c", "1", 3), ("a", "2", 4),
                              ("b", "2", 5), ("c", "1", None), ("b", "2", None)]:
        d.pipe(topic, None if value is None else {"k": key, "v": value}, key=key)
    assert dict(d.table("ab").items()) == {"1": [1, 2]}
    assert dict(d.table("abc").items()) == {"1": [1, 2, None]}
    assert "abc" in d.plan.stores


Bounded = tuple[int, str, int, int]  # side, key, event time, lifetime (left records' until)

bounded_st = st.lists(st.tuples(st.integers(0, 1), st.sampled_from("ab"), st.integers(0, 60),
                                st.integers(0, 15)), max_size=30)


def until_replay(events: list[Bounded], partitions: int, before: int, grace: int,
                 how: str) -> Replayed:
    """Brute force of join(until=...): left l (until = l.t + lifetime) and right r meet when
    l.t - before <= r.t <= until(l). A left arriving after stream time l.t + before + grace,
    or a right after r.t + grace, is late; a buffered left dies after until(l) + grace, a
    right after r.t + 2 * before + grace (emitted with None if unmatched, left/outer)."""
    return replay(
        events, partitions, how,
        closes=lambda side, t, _: t + (before if side == 0 else 0) + grace,
        lasts=lambda side, t, life: (t + life if side == 0 else t + 2 * before) + grace,
        meet=lambda lt, life, rt: lt - before <= rt <= lt + life)


@settings(max_examples=400, deadline=None)
@given(events=bounded_st, partitions=st.integers(1, 8), before=st.sampled_from([0, 3]),
       grace=st.sampled_from([0, 4]), how=st.sampled_from(["inner", "left", "outer"]))
def test_join_until_a_field_of_the_left_record_matches_replay(
        events: list[Bounded], partitions: int, before: int, grace: int, how: str) -> None:
    """join(until=...): the window of each left record ends at its own `end` field."""
    p = Pipeline("uj")
    auctions = p.stream("auctions", key="k", time="t")
    bids = p.stream("bids", key="k", time="t")
    auctions.join(bids, lambda a, b: [None if a is None else a["v"],
                                      None if b is None else b["v"]],
                  until=lambda a: a["end"], before=before, grace=grace, how=how,
                  name="open").to("out")
    d = TestDriver(p, partitions=partitions)
    for i, (side, key, t, life) in enumerate(events):
        d.pipe(("auctions", "bids")[side], {"k": key, "t": t, "v": i, "end": t + life}, key=key)
    expected, late = until_replay(events, partitions, before, grace, how)
    got = [(o.key, o.value) for o in d.read("out")]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert _late_values(d) == late, "exactly the late records are dead-lettered"
