"""Placement check: a keyed input of a join or an aggregation whose records are not in the
partition their key hashes to (a producer with another partitioner) is reported once, with
counts, an example and the producer setting that fixes it; well-placed inputs and inputs
that are re-keyed or only mapped are not checked or not reported."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from engine import Pipeline, plan
from engine.app import App
from engine.job import Job
from engine.runtime import WorkerConfig
from engine.runtime.stats import Placement
from engine.transport import CommitBatch, EmbeddedLog, partition_for
from operators.source import PLACEMENT_SAMPLE

PARTITIONS = 4


def _records(n: int) -> list[tuple[bytes, bytes, int, None]]:
    return [(f"o-{i}".encode(), json.dumps({"order_id": f"o-{i}", "n": i}).encode(), i, None)
            for i in range(n)]


async def _write(log: EmbeddedLog, topic: str, wrong_every: int) -> tuple[int, int]:
    """Write 2,000 records to `topic`, every `wrong_every`-th one (0: none) one partition
    past its key's; returns what a sample of the partitions' offsets should find
    (checked, misplaced)."""
    await log.create_topic(topic, PARTITIONS)
    parts: list[list[tuple[bytes, bytes, int, None]]] = [[] for _ in range(PARTITIONS)]
    placed: list[list[bool]] = [[] for _ in range(PARTITIONS)]
    for i, record in enumerate(_records(2000)):
        home = partition_for(record[0], PARTITIONS)
        wrong = wrong_every > 0 and i % wrong_every == 0
        p = (home + 1) % PARTITIONS if wrong else home
        parts[p].append(record)
        placed[p].append(not wrong)
    await log.commit("", CommitBatch(outputs=[(topic, p, rs) for p, rs in enumerate(parts)]))
    sampled = [ok for flags in placed for off, ok in enumerate(flags)
               if off % PLACEMENT_SAMPLE == 0]
    return len(sampled), sampled.count(False)


def _run(log: EmbeddedLog, p: Pipeline) -> tuple[list[str], list[Placement]]:
    events: list[str] = []

    async def body() -> list[Placement]:
        worker = Job(plan(p, await log.topics()), log).worker(
            WorkerConfig(until_caught_up=True))
        worker.on_event = events.append
        return (await worker.run()).misplaced

    return events, asyncio.run(body())


def test_misplaced_keys_of_an_aggregation_are_reported_once(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    checked, wrong = asyncio.run(_write(log, "buys", wrong_every=3))
    assert wrong > 0
    p = Pipeline("counts")
    p.stream("buys", key="order_id").count(name="per-order")
    events, found = _run(log, p)
    assert [(f.topic, f.checked, f.wrong) for f in found] == [("buys", checked, wrong)]
    warnings = [e for e in events if e.startswith("warning:")]
    assert warnings == [found[0].warning()]
    assert f"{wrong:,} of {checked:,} sampled records of 'buys'" in warnings[0]
    assert "partitioner=murmur2_random" in warnings[0]
    key, at, home = found[0].example or (b"", 0, 0)
    assert partition_for(key, PARTITIONS) == home != at


def test_well_placed_and_unchecked_inputs_say_nothing(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    asyncio.run(_write(log, "good", wrong_every=0))
    asyncio.run(_write(log, "bad", wrong_every=2))
    p = Pipeline("quiet")
    p.stream("good", key="order_id").count(name="good-counts")  # checked: all in place
    p.stream("bad", key="order_id").map(lambda v: v["n"]).to("copy")  # nothing co-located
    events, found = _run(log, p)
    assert found == [] and not [e for e in events if e.startswith("warning:")]
    physical = plan(p)
    checks = {n.topic: n.check_placement for s in physical.subtopologies for n in s.nodes
              if hasattr(n, "check_placement")}
    assert checks == {"good": True, "bad": False}


def test_a_key_by_before_the_aggregation_needs_no_check(tmp_path: Path) -> None:
    p = Pipeline("rekeyed")
    p.stream("bad", key="order_id").key_by(lambda v: v["n"] % 7, name="by-n").count(
        name="per-n")
    checks = [n.check_placement for s in plan(p).subtopologies for n in s.nodes
              if getattr(n, "topic", None) == "bad" and hasattr(n, "check_placement")]
    assert checks == [False]


# -- inputs placed by another partitioner, declared ---------------------------------------
def _place(log: EmbeddedLog, topic: str, docs: list[dict[str, object]],
           where: Callable[[int, bytes], int], keyed: bool = True) -> None:
    """Write `docs` to `topic` (4 partitions), each where `where(index, key)` says, with its
    order id as the wire key (keyed) or a null key."""
    async def body() -> None:
        await log.create_topic(topic, PARTITIONS)
        parts: list[list[tuple[bytes | None, bytes, int, None]]] = [[] for _ in range(PARTITIONS)]
        for i, doc in enumerate(docs):
            key = str(doc["order_id"]).encode()
            parts[where(i, key)].append((key if keyed else None, json.dumps(doc).encode(),
                                         int(str(doc["ts"])), None))
        await log.commit("", CommitBatch(outputs=[(topic, p, rs) for p, rs in enumerate(parts)]))
    asyncio.run(body())


def _crc32(_: int, key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS


def _shop(n: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """n buys and the shipments of two orders in three, 1-50 s after their buy."""
    buys = [{"order_id": f"o-{i}", "ts": 1000 * i} for i in range(n)]
    shipped = [{"order_id": f"o-{i}", "ts": 1000 * i + 1000 * (1 + i % 50)}
               for i in range(n) if i % 3]
    return buys, sorted(shipped, key=lambda s: int(str(s["ts"])))


def test_inputs_produced_with_crc32_join_exactly_once_declared(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    buys, shipped = _shop(1200)
    _place(log, "buys", buys, _crc32)
    _place(log, "shipped", shipped, _crc32)
    for declared in (True, False):
        p = Pipeline(f"crc-{declared}")
        placed = "crc32" if declared else None
        b = p.stream("buys", key="order_id", time="ts", partitioner=placed)
        s = p.stream("shipped", key="order_id", time="ts", partitioner=placed)
        b.join(s, lambda x, y: 1, before=0, after=60_000, grace=0, how="inner",
               name=f"paired-{declared}").count(name=f"pairs-{declared}")
        events, found = _run(log, p)
        assert not [i for i in plan(p).internal_topics if i.kind == "repartition"]
        with App(p, str(tmp_path), read_only=True) as opened:
            view = opened.table(f"pairs-{declared}")
            got = {str(d["order_id"]): view.get(str(d["order_id"])) for d in shipped}
        if declared:  # every pair found, each key found where crc32 put it
            assert found == [] and got == {str(d["order_id"]): 1 for d in shipped}
        else:  # murmur2 assumed: keys meet by chance only, and the run says why
            assert sum(1 for v in got.values() if v) < len(shipped) * 0.6
            assert len(found) == 2 and all(f.fits == {"crc32": f.wrong} for f in found)
            assert "They look placed by crc32 (librdkafka's default)" in found[0].warning()
            assert "--partitioner buys=crc32" in found[0].warning()
            assert found[0].warning() in events


def test_null_wire_keys_are_repartitioned_when_declared_any(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    buys = [{"order_id": f"o-{i % 97}", "ts": 1000 * i} for i in range(2000)]
    _place(log, "buys", buys, lambda i, _: (i // 10) % PARTITIONS, keyed=False)
    want = Counter(str(b["order_id"]) for b in buys)
    for declared in ("any", None):
        p = Pipeline(f"null-{declared}")
        p.stream("buys", key="order_id", time="ts", partitioner=declared).count(
            name=f"per-order-{declared}")
        events, found = _run(log, p)
        with App(p, str(tmp_path), read_only=True) as opened:
            got = dict(opened.table(f"per-order-{declared}").items())
        if declared:
            assert found == [] and got == want
        else:  # counts split over the tasks that happened to read each order's buys
            assert got != want
            assert [f.null_keys == f.wrong > 0 for f in found] == [True]
            assert "no key on the wire" in found[0].warning()
            assert "--partitioner buys=any" in found[0].warning()
            assert found[0].warning() in events
