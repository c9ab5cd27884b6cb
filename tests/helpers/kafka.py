"""Helpers shared by the Kafka join tests (tests/integration/test_kafka_join.py and
test_kafka_table_joins.py): generated apps, producing and reading topics, committed offsets,
workers' task logs, and comparing outputs with a reference."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import msgspec

from engine.api.records import is_control
from engine.transport import partition_for
from engine.transport.kafka import KafkaTransport
from tests.helpers.kafka_workers import Spawn, Worker, logs, on_kafka, wait_until
from tests.helpers.shoal import read_complete
from tests.kafka_broker import Broker

Doc = dict[str, Any]
Change = tuple[str, Doc | None]  # key, row (None: a tombstone)
Rec = tuple[bytes | None, bytes | None, int, list[tuple[str, bytes]] | None]  # to produce
Read = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]  # partition, k, v, hs
Row = tuple[bytes, str]  # key, canonical JSON of the value

A = TypeVar("A", bound="KafkaApp")


# -- the generated app ----------------------------------------------------------------------
class Topic:
    """A class attribute of a KafkaApp: the name of its topic `{app.name}.{suffix}`."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    @overload
    def __get__(self, app: None, owner: type[Any]) -> Topic: ...
    @overload
    def __get__(self, app: KafkaApp, owner: type[Any]) -> str: ...

    def __get__(self, app: KafkaApp | None, owner: type[Any]) -> Topic | str:
        return self if app is None else app.topic(self.suffix)


@dataclass(frozen=True)
class KafkaApp:
    """A pipeline under a unique name: its group, topics and file. Subclasses name their
    `source` (what the spawn fixture's Worker parses revocations for) with a Topic."""

    name: str
    file: Path

    def topic(self, suffix: str) -> str:
        return f"{self.name}.{suffix}"

    @classmethod
    def unique(cls: type[A], tmp_path: Path, prefix: str) -> A:
        """An app named `prefix-<random hex>`, its file (not yet written) in `tmp_path`."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        return cls(name, tmp_path / f"{name.replace('-', '_')}.py")


# -- records ----------------------------------------------------------------------------------
@overload
def encode(doc: Doc) -> bytes: ...
@overload
def encode(doc: None) -> None: ...


def encode(doc: Doc | None) -> bytes | None:
    """JSON bytes of `doc` (None stays None: a tombstone)."""
    return None if doc is None else msgspec.json.encode(doc)


def records(docs: list[Doc], key: str) -> list[Rec]:
    """Events to produce: keyed by the field `key`, timestamped by their "ts"."""
    return [(d[key].encode(), encode(d), d["ts"], None) for d in docs]


def change_records(changes: list[Change], ts: int) -> list[Rec]:
    """Table changes to produce, all at time `ts`."""
    return [(k.encode(), encode(v), ts, None) for k, v in changes]


def apply(table: dict[str, Doc], changes: list[Change]) -> dict[str, Doc]:
    """`table` (updated in place) after `changes`: a None row deletes its key."""
    for key, doc in changes:
        if doc is None:
            table.pop(key, None)
        else:
            table[key] = doc
    return table


def key_in(prefix: str, partition: int, count: int) -> str:
    """The first key `prefix-N` that lands in `partition` of `count`."""
    n = 0
    while partition_for(f"{prefix}-{n}".encode(), count) != partition:
        n += 1
    return f"{prefix}-{n}"


def row(key: str, value: Any) -> Row:
    return key.encode(), json.dumps(value, sort_keys=True)


# -- the broker -------------------------------------------------------------------------------
def produce(broker: Broker, topic: str, batch: list[Rec]) -> None:
    async def body(log: KafkaTransport) -> None:
        await log.produce(topic, batch)
    on_kafka(broker, body)


def create_topics(broker: Broker, topics: dict[str, int]) -> None:
    """Create each topic with its number of partitions."""
    async def body(log: KafkaTransport) -> None:
        for topic, count in topics.items():
            await log.create_topic(topic, count)
    on_kafka(broker, body)


def committed(broker: Broker, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed positions in partitions 0 .. partitions-1 of `topic`."""
    async def body(log: KafkaTransport) -> list[int]:
        tps = [(topic, p) for p in range(partitions)]
        found = await log.committed(group, tps)
        return [found[tp] for tp in tps]
    return on_kafka(broker, body)


def progress(broker: Broker, group: str,
             topics: list[str]) -> dict[str, tuple[list[int], list[int]]]:
    """Per topic, (the group's committed positions, the end offsets) per partition. Committed
    positions are read before the ends: everything below a committed position was processed,
    its outputs acknowledged before the commit, so ends equal to them leave no work."""
    async def body(log: KafkaTransport) -> dict[str, tuple[list[int], list[int]]]:
        counts = {t: len(await log.end_offsets(t)) for t in topics}
        tps = [(t, p) for t in topics for p in range(counts[t])]
        done = await log.committed(group, tps)
        return {t: ([done[(t, p)] for p in range(counts[t])], await log.end_offsets(t))
                for t in topics}
    return on_kafka(broker, body)


def wait_committed(broker: Broker, group: str, want: dict[str, list[int]],
                   workers: list[Worker], what: str) -> float:
    """Wait until the group committed the positions `want` (per topic, per partition)."""
    return wait_until(lambda: all(committed(broker, group, topic, len(counts)) == counts
                                  for topic, counts in want.items()),
                      what, workers, every=0.25)


def read_topic(broker: Broker, topic: str) -> list[Read]:
    """Every data record of `topic` (not the writers' control records of internal topics),
    read up to its (true) end offsets, with its partition."""
    async def body(log: KafkaTransport) -> list[Read]:
        return [(partition, k, v, list(h or [])) for partition, records
                in enumerate(await read_complete(log, topic)) for _, k, v, _, h in records
                if not is_control(h)]
    return on_kafka(broker, body)


def assert_partition(topic: str, partition: int, key: bytes, partitions: int) -> None:
    """`key` was read from `partition`, the one it belongs in among `partitions`."""
    assert partition == partition_for(key, partitions), \
        f"{topic}[{partition}]: key {key!r} in the wrong partition"


def rows_of(broker: Broker, topic: str, partitions: int) -> Counter[Row]:
    """The (key, canonical JSON value) multiset of `topic`; keys must be in their partition."""
    got: Counter[Row] = Counter()
    for partition, key, value, _ in read_topic(broker, topic):
        assert key is not None and value is not None, f"{topic}: {key!r} {value!r}"
        assert_partition(topic, partition, key, partitions)
        got[(key, json.dumps(json.loads(value), sort_keys=True))] += 1
    return got


def compare(topic: str, want: Counter[Row], got: Counter[Row]) -> None:
    """The records of `topic` are exactly `want`: none lost, none duplicated or unexpected."""
    lost = want - got
    extra = got - want
    assert not lost and not extra, (
        f"{topic}: {sum(want.values())} records expected, {sum(got.values())} read; "
        f"{sum(lost.values())} missing, e.g. {list(lost)[:3]}; "
        f"{sum(extra.values())} unexpected or duplicated, e.g. {list(extra)[:3]}")


# -- workers ----------------------------------------------------------------------------------
def tasks_of(worker: Worker) -> set[str] | None:
    """The tasks the worker holds after its last assignment (None: it never had one, or it
    logged a revocation since)."""
    held: set[str] | None = None
    text = worker.text()
    for line in text[:text.rfind("\n") + 1].splitlines():
        if line.startswith("assigned "):
            ids = line[line.rfind("(") + 1:line.rfind(")")]
            held = {t for t in ids.split(", ") if t}
        elif line.startswith("revoked "):
            held = None
    return held


def split(workers: list[Worker], tasks: set[str]) -> bool:
    """Each worker holds some tasks, none is held twice, and all of `tasks` are held."""
    held = [tasks_of(w) for w in workers]
    return all(held) and sum(len(h or ()) for h in held) == len(tasks) \
        and set().union(*(h or set() for h in held)) == tasks


def assignments(workers: list[Worker]) -> list[int]:
    """How many assignments each worker has logged."""
    return [sum(line.startswith("assigned ") for line in w.text().splitlines())
            for w in workers]


def start_split(spawn: Spawn, app: KafkaApp, tasks: set[str],
                count: int = 2) -> tuple[list[Worker], list[int]]:
    """Start `count` workers of `app` and wait until they split `tasks`; the workers and
    their assignment counts then (see assert_no_rebalance)."""
    workers = [spawn(app) for _ in range(count)]  # type: ignore[arg-type]
    took = wait_until(lambda: split(workers, tasks), f"{count} workers to split the tasks",
                      workers)
    print(f"split after {took:.1f}s: " + ", ".join(
        f"{w.name} {sorted(tasks_of(w) or ())}" for w in workers))
    return workers, assignments(workers)


def assert_no_rebalance(workers: list[Worker], tasks: set[str], assigned: list[int]) -> None:
    """No worker was assigned anything since `assigned`, and they still split `tasks`."""
    assert assignments(workers) == assigned and split(workers, tasks), \
        f"the group rebalanced during the run:\n{logs(workers)}"
