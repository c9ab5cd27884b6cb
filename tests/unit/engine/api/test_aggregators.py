"""top_n, max_by and min_by against a brute-force reference: per key and per tumbling and
session window, whatever the partition count; the whole record is kept, and of equal scores
the earlier arrival ranks first."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Pipeline
from engine.api import aggregators, windows
from engine.testing import TestDriver
from tests.helpers.records import Rec, records_st

DOC = dict[str, Any]


def _docs(recs: list[Rec]) -> list[DOC]:
    return [{"k": key, "ts": ts, "price": price, "n": i} for i, (key, ts, price)
            in enumerate(recs)]


def _top(docs: list[DOC], n: int) -> list[DOC]:
    """Brute force: stable sort by price, best first (equal prices keep arrival order)."""
    return sorted(docs, key=lambda d: -d["price"])[:n]


def _driver(p: Pipeline, docs: list[DOC], partitions: int) -> TestDriver:
    d = TestDriver(p, partitions=partitions)
    for doc in docs:
        d.pipe("bids", doc, key=doc["k"])
    return d


@settings(max_examples=50, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 5), n=st.integers(1, 4))
def test_per_key_top_n_max_by_and_min_by(recs: list[Rec], partitions: int, n: int) -> None:
    docs = _docs(recs)
    p = Pipeline("best")
    bids = p.stream("bids", key="k", time="ts")
    bids.top_n(n, by="price", name="top")
    bids.max_by("price", name="highest")
    bids.min_by(lambda b: b["price"], name="lowest")
    bids.max_by("price", name="all-highest", ties=True)
    d = _driver(p, docs, partitions)
    per_key: dict[str, list[DOC]] = defaultdict(list)
    for doc in docs:
        per_key[doc["k"]].append(doc)
    assert dict(d.table("top").items()) == {k: _top(v, n) for k, v in per_key.items()}
    assert dict(d.table("highest").items()) == {k: _top(v, 1)[0] for k, v in per_key.items()}
    assert dict(d.table("lowest").items()) == {
        k: sorted(v, key=lambda x: x["price"])[0] for k, v in per_key.items()}
    assert dict(d.table("all-highest").items()) == {
        k: [x for x in v if x["price"] == max(y["price"] for y in v)]
        for k, v in per_key.items()}


@settings(max_examples=40, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 5), n=st.integers(1, 3))
def test_top_n_per_tumbling_window_emitted_final(recs: list[Rec], partitions: int,
                                                 n: int) -> None:
    docs = _docs(recs)
    p = Pipeline("best-windows")
    (p.stream("bids", key="k", time="ts")
     .window(windows.TimeWindows(10, 10), grace=1_000, emit="final")
     .top_n(n, by="price", name="top")
     .to("out"))
    d = _driver(p, docs, partitions)
    d.drain()
    groups: dict[tuple[str, int], list[DOC]] = defaultdict(list)
    for doc in docs:
        groups[(doc["k"], doc["ts"] // 10 * 10)].append(doc)
    got = {(o.value["key"], o.value["start"]): o.value["value"]  # type: ignore[index]
           for o in d.read("out")}
    assert got == {w: _top(v, n) for w, v in groups.items()}


@settings(max_examples=40, deadline=None)
@given(recs=records_st, partitions=st.integers(1, 3))
def test_max_by_over_merged_sessions(recs: list[Rec], partitions: int) -> None:
    """The best record of each session (records in time order)."""
    docs = sorted(_docs(recs), key=lambda d: d["ts"])  # in order: no session is late
    p = Pipeline("best-sessions")
    (p.stream("bids", key="k", time="ts")
     .window(windows.session(gap=15), grace=0, emit="final")
     .max_by("price", name="best")
     .to("out"))
    d = _driver(p, docs, partitions)
    d.drain()
    want: dict[tuple[str, int], DOC] = {}
    for key in {doc["k"] for doc in docs}:
        mine = [doc for doc in docs if doc["k"] == key]
        start = 0
        for i in range(1, len(mine) + 1):
            if i == len(mine) or mine[i]["ts"] - mine[i - 1]["ts"] > 15:
                session = mine[start:i]
                want[(key, session[0]["ts"])] = _top(session, 1)[0]
                start = i
    got = {(o.value["key"], o.value["start"]): o.value["value"]  # type: ignore[index]
           for o in d.read("out")}
    assert got == want


scores = st.lists(st.tuples(st.integers(0, 5), st.integers()), max_size=12)


@settings(max_examples=100, deadline=None)
@given(xs=scores, ys=scores, n=st.integers(1, 4))
def test_merging_two_accumulators_is_folding_both_in_order(
        xs: list[tuple[int, int]], ys: list[tuple[int, int]], n: int) -> None:
    """Session windows merge accumulators: merge(fold(xs), fold(ys)) == fold(xs + ys), so
    of equal scores the earlier session's record ranks first."""
    for agg in (aggregators.top_n(n, by=lambda v: v[0]), aggregators.max_by(lambda v: v[0]),
                aggregators.min_by(lambda v: v[0]),
                aggregators.max_by(lambda v: v[0], ties=True)):
        def fold(values: list[tuple[int, int]], agg: aggregators.Aggregator = agg) -> Any:
            acc = agg.initial()
            for v in values:
                acc = agg.add(acc, v)
            return acc
        assert agg.merge is not None
        assert agg.result(agg.merge(fold(xs), fold(ys))) == agg.result(fold(xs + ys))


def test_top_n_needs_a_positive_count() -> None:
    with pytest.raises(ValueError, match="positive int"):
        aggregators.top_n(0, by="price")
    with pytest.raises(ValueError, match="positive int"):
        Pipeline("x").stream("t", key="k").top_n(True, by="price", name="top")
