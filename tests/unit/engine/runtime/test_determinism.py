"""One answer whatever the schedule (design.md §4b), over every stateful pipeline shape:
key_by into tumbling, hopping, session and sliding windows (an order-sensitive `collect`,
grace 0), stream-stream and stream-table joins after key_by, and a foreign-key join.

- Time-ordered input: every output topic (per key), every table and the dead letters equal
  those of a one-partition, one-worker run, and nothing is late. (Runs are drained: which
  windows stream time alone closes depends on the keys a partition holds.)
- Shuffled input: runs with the same partition counts but another schedule (1-3 workers
  sharing the partitions, poll and run sizes, commit points, crashes and rebalances) give
  identical outputs (per partition, offset by offset), tables and dead letters.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Pipeline, windows
from engine.testing import Schedule, TestDriver

Build = Callable[[], Pipeline]
Input = list[tuple[str, str, dict[str, Any] | None, int]]  # topic, key, value, event time


def _windowed(spec: Any, emit: str = "updates") -> Build:
    def build() -> Pipeline:
        p = Pipeline("det")
        (p.stream("clicks", time="ts").key_by(lambda c: c["user"], name="by-user")
          .window(spec, grace=0, emit=emit).collect("n", name="per-user").to("out"))
        return p
    return build


def _stream_join() -> Pipeline:
    p = Pipeline("det")
    buys = p.stream("buys", time="ts").key_by(lambda c: c["user"], name="buys-by-user")
    ships = p.stream("ships", time="ts").key_by(lambda c: c["user"], name="ships-by-user")
    buys.join(ships, lambda b, s: [b and b["n"], s and s["n"]], within=15, how="outer",
              name="matched").to("out")
    return p


def _table_join() -> Pipeline:
    p = Pipeline("det")
    users = p.table("users", key="user", time="ts", name="users")
    (p.stream("clicks", time="ts").key_by(lambda c: c["user"], name="by-user")
      .join(users, lambda c, u: [c["n"], u and u["n"]], how="left", name="with-user")
      .to("out"))
    return p


def _fk_join() -> Pipeline:
    p = Pipeline("det")
    orders = p.table("orders", key="order", time="ts", name="orders")
    users = p.table("users", key="user", time="ts", name="users")
    orders.join(users, lambda o, u: [o["n"], u and u["n"]], how="left",
                on=lambda o: o["user"], name="with-user").to("out")
    return p


PIPELINES: dict[str, tuple[Build, tuple[str, ...]]] = {
    "tumbling": (_windowed(windows.tumbling(ms=40)), ("clicks",)),
    "tumbling-final": (_windowed(windows.tumbling(ms=40), "final"), ("clicks",)),
    "hopping": (_windowed(windows.hopping(ms=60, advance=20)), ("clicks",)),
    "session": (_windowed(windows.session(gap=25)), ("clicks",)),
    "sliding": (_windowed(windows.sliding(ms=30)), ("clicks",)),
    "stream-stream": (_stream_join, ("buys", "ships")),
    "stream-table": (_table_join, ("clicks", "users")),
    "foreign-key": (_fk_join, ("orders", "users")),
}
TABLES = {"stream-table": ("users",), "foreign-key": ("orders", "users", "with-user")}


def make_input(kind: str, seed: int, count: int, ordered: bool) -> Input:
    """`count` records over the pipeline's topics, with distinct event times, in time order
    (ordered) or in a shuffled order (times jumping back by up to ~50 ms)."""
    rng = random.Random(seed)
    topics = PIPELINES[kind][1]
    out: Input = []
    for i in range(count):
        topic = rng.choice(topics)
        user = f"u{rng.randrange(4)}"
        if topic == "orders":
            key, value = f"o{rng.randrange(6)}", {"order": "", "user": user, "n": i}
            value["order"] = key
        else:
            key, value = user, {"user": user, "n": i}
        ts = 10 * i + 3
        if topic in ("users", "orders") and rng.random() < 0.15:
            out.append((topic, key, None, ts))  # a delete
        else:
            out.append((topic, key, {**value, "ts": ts}, ts))
    if not ordered:
        out.sort(key=lambda r: r[3] + rng.randrange(60))
    return out


def run(kind: str, records: Input, partitions: dict[str, int], schedule: Schedule
        ) -> dict[str, Any]:
    """Everything a drained run leaves (every window closed, every unmatched join row out:
    what stream time alone would close depends on which keys share a partition): each
    topic's records per partition, tables, dead letters."""
    build, topics = PIPELINES[kind]
    d = TestDriver(build(), partitions={t: partitions[t] for t in topics}, schedule=schedule)
    for topic, key, value, ts in records:
        d.append(topic, [value], key=key, timestamp=ts)
    d.drain()
    per_partition: dict[int, list[Any]] = defaultdict(list)
    for o in d.read("out"):
        per_partition[o.partition].append((o.key, o.value, o.timestamp))
    return {
        "out": dict(per_partition),
        "tables": {name: d.table(name).items() for name in ("per-user", *TABLES.get(kind, ()))
                   if name in d.plan.stores},
        "dead": sorted((x.stage, x.operator, x.key, x.value) for x in d.dead_letters())}


def per_key(result: dict[str, Any]) -> dict[str | None, list[Any]]:
    """The output records of each key, in their order (keys stay in one partition)."""
    out: dict[str | None, list[Any]] = defaultdict(list)
    for records in result["out"].values():
        for key, value, ts in records:
            out[key].append((value, ts))
    return dict(out)


schedules = st.builds(
    Schedule, workers=st.integers(1, 3), seed=st.integers(0, 10_000),
    poll=st.sampled_from([(1, 3), (1, 20), (5, 50), (1_000, 1_000)]),
    run=st.sampled_from([None, (1, 2), (1, 10)]), commit=st.sampled_from([0.1, 0.5, 1.0]),
    crashes=st.integers(0, 2), rebalances=st.integers(0, 1))
partition_counts = st.fixed_dictionaries(
    {t: st.integers(1, 8) for t in ("clicks", "buys", "ships", "users", "orders")})
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(kind=st.sampled_from(sorted(PIPELINES)), seed=st.integers(0, 10_000),
       count=st.integers(1, 60), partitions=partition_counts, schedule=schedules)
def test_time_ordered_input_gives_the_one_partition_result(
        kind: str, seed: int, count: int, partitions: dict[str, int],
        schedule: Schedule) -> None:
    records = make_input(kind, seed, count, ordered=True)
    oracle = run(kind, records, dict.fromkeys(partitions, 1), Schedule())
    got = run(kind, records, partitions, schedule)
    assert per_key(got) == per_key(oracle)
    assert got["tables"] == oracle["tables"]
    assert got["dead"] == oracle["dead"] == []


@SETTINGS
@given(kind=st.sampled_from(sorted(PIPELINES)), seed=st.integers(0, 10_000),
       count=st.integers(1, 60), partitions=partition_counts, first=schedules,
       second=schedules)
def test_shuffled_input_gives_one_result_whatever_the_schedule(
        kind: str, seed: int, count: int, partitions: dict[str, int], first: Schedule,
        second: Schedule) -> None:
    records = make_input(kind, seed, count, ordered=False)
    assert run(kind, records, partitions, first) == run(kind, records, partitions, second)
