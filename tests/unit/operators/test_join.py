"""Stream-table joins against a reference that replays the same interleaving."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ConfigError, Pipeline, PlanError, plan
from engine.runtime import Worker
from engine.state import DictBackend
from engine.testing import TestDriver
from engine.transport import EmbeddedLog

Event = tuple[str, str, int | None]  # ("order"|"price", key, value; None deletes a price)

events_st = st.lists(st.tuples(st.sampled_from(["order", "price"]), st.sampled_from("abcd"),
                               st.one_of(st.none(), st.integers(1, 99))), max_size=40)


def _pipeline(how: str) -> Pipeline:
    p = Pipeline("j")
    prices = p.table("prices", key="sku", name="prices")
    (p.stream("orders", key="sku")
      .join(prices, lambda order, row: [order["n"], None if row is None else row["price"]],
            how=how, name="priced")
      .to("priced"))
    return p


@settings(max_examples=60, deadline=None)
@given(events=events_st, partitions=st.integers(1, 4), how=st.sampled_from(["inner", "left"]))
def test_stream_table_join_matches_replay(events: list[Event], partitions: int,
                                          how: str) -> None:
    d = TestDriver(_pipeline(how), partitions=partitions)
    table: dict[str, int] = {}
    expected: list[tuple[str, list[Any]]] = []
    for kind, key, value in events:
        if kind == "price":
            d.pipe("prices", None if value is None else {"sku": key, "price": value}, key=key)
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        elif value is not None:
            d.pipe("orders", {"sku": key, "n": value}, key=key)
            if key in table or how == "left":
                expected.append((key, [value, table.get(key)]))
    got = sorted(((o.key or "", o.value) for o in d.read("priced")), key=repr)
    assert got == sorted(expected, key=repr)


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


Change = tuple[int, str, int | None]  # side (0 left, 1 right), key, value (None deletes)

changes_st = st.lists(st.tuples(st.integers(0, 1), st.sampled_from("abc"),
                                st.one_of(st.none(), st.integers(1, 9))), max_size=40)


@settings(max_examples=80, deadline=None)
@given(changes=changes_st, partitions=st.integers(1, 4),
       how=st.sampled_from(["inner", "left", "outer"]))
def test_table_table_join_tracks_both_sides(changes: list[Change], partitions: int,
                                            how: str) -> None:
    p = Pipeline("tt")
    left = p.table("left", key="k", name="left")
    right = p.table("right", key="k", name="right")
    left.join(right, lambda a, b: [None if a is None else a["v"], None if b is None else b["v"]],
              how=how, name="both").to("joined")
    d = TestDriver(p, partitions=partitions)
    tables: tuple[dict[str, int], dict[str, int]] = ({}, {})
    expected: list[tuple[str, Any]] = []
    for side, key, value in changes:
        topic = ("left", "right")[side]
        d.pipe(topic, None if value is None else {"k": key, "v": value}, key=key)
        if value is None:
            tables[side].pop(key, None)
        else:
            tables[side][key] = value
        a, b = tables[0].get(key), tables[1].get(key)
        keep = {"inner": a is not None and b is not None, "left": a is not None,
                "outer": a is not None or b is not None}[how]
        expected.append((key, [a, b] if keep else None))
    got = [(o.key, o.value) for o in d.read("joined")]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    by_key = {k: v for k, v in expected}
    assert {k: v for k, v in got} == by_key, "the last change of each key is the joined row"


Arrival = tuple[int, str, int, int]  # side, key, event time, value

arrivals_st = st.lists(st.tuples(st.integers(0, 1), st.sampled_from("ab"), st.integers(0, 60),
                                 st.integers(1, 9)), max_size=30)


def join_replay(events: list[Arrival], partitions: int, before: int, after: int, grace: int,
                how: str) -> tuple[list[tuple[str, Any]], set[int]]:
    """Brute force over arrival order: each record meets every live partner in bounds; a
    record dies once stream time > its time + reach + grace, emitted with None if unmatched
    (left/outer)."""
    from engine.transport import partition_for

    stream_time: dict[int, int] = {}
    live: list[list[Any]] = []  # [side, key, t, value, matched, partition]
    out: list[tuple[str, Any]] = []
    late: set[int] = set()
    reach = (after, before)

    def expire(p: int) -> None:
        for rec in [r for r in live if r[5] == p and r[2] + reach[r[0]] + grace < stream_time[p]]:
            live.remove(rec)
            if not rec[4] and (how == "outer" or (how == "left" and rec[0] == 0)):
                out.append((rec[1], [rec[3], None] if rec[0] == 0 else [None, rec[3]]))

    for i, (side, key, t, value) in enumerate(events):
        p = partition_for(key.encode(), partitions)
        stream_time[p] = max(stream_time.get(p, t), t)
        if t + reach[side] + grace < stream_time[p]:
            late.add(i)
            expire(p)
            continue
        matched = False
        for rec in live:
            if rec[0] != side and rec[1] == key:
                left_t, right_t = (t, rec[2]) if side == 0 else (rec[2], t)
                if left_t - before <= right_t <= left_t + after:
                    rec[4] = matched = True
                    out.append((key, [value, rec[3]] if side == 0 else [rec[3], value]))
        live.append([side, key, t, value, matched, p])
        expire(p)
    return out, late


@settings(max_examples=100, deadline=None)
@given(events=arrivals_st, partitions=st.integers(1, 3),
       bounds=st.sampled_from([(5, 5), (0, 10), (3, 0)]), grace=st.sampled_from([0, 4]),
       how=st.sampled_from(["inner", "left", "outer"]))
def test_stream_stream_join_matches_replay(events: list[Arrival], partitions: int,
                                           bounds: tuple[int, int], grace: int,
                                           how: str) -> None:
    before, after = bounds
    p = Pipeline("ss")
    buys = p.stream("buys", key="k", time="t")
    ships = p.stream("ships", key="k", time="t")
    buys.join(ships, lambda b, s: [None if b is None else b["v"],
                                          None if s is None else s["v"]],
                     within=0, before=before, after=after, grace=grace, how=how,
                     name="fulfil").to("out")
    d = TestDriver(p, partitions=partitions)
    for side, key, t, value in events:
        d.pipe(("buys", "ships")[side], {"k": key, "t": t, "v": value}, key=key)
    expected, late = join_replay(events, partitions, before, after, grace, how)
    got = [(o.key, o.value) for o in d.read("out")]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert len([x for x in d.dead_letters() if x.stage == "late"]) == len(late)
