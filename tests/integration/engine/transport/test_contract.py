"""The contract every transport keeps: memory, embedded and Kafka (a real Tansu broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from engine.api import ConfigError, TopicPartition, UnknownTopicError
from engine.transport import CommitBatch, partition_for
from tests.helpers.transports import LogFactory

Body = Callable[[Any, str], Awaitable[None]]


def scenario(make_log: LogFactory, body: Body) -> None:
    """Run `body(log, prefix)` in one event loop and close the log after it."""

    async def main() -> None:
        log = make_log()
        try:
            await body(log, make_log.prefix)
        finally:
            await log.close()

    asyncio.run(main())


class Recorder:
    """An assignment listener that remembers what it was given."""

    def __init__(self) -> None:
        self.assigned: list[TopicPartition] = []

    async def on_assigned(self, partitions: list[TopicPartition]) -> None:
        self.assigned += partitions

    async def on_revoked(self, partitions: list[TopicPartition]) -> None:
        self.assigned = [tp for tp in self.assigned if tp not in partitions]


async def join(log: Any, group: str, topics: list[str]) -> tuple[Any, Recorder]:
    """A group member that owns every partition of `topics` (polls until assigned)."""
    consumer, recorder = log.consumer(group), Recorder()
    await consumer.subscribe(topics, recorder)
    for _ in range(300):
        if recorder.assigned:
            break
        await consumer.poll(10)
        await asyncio.sleep(0.02)
    return consumer, recorder


def test_append_read_and_end_offsets(make_log: LogFactory) -> None:
    async def body(log: Any, pre: str) -> None:
        t = pre + "t"
        await log.create_topic(t, 3)
        await log.produce(t, [(f"k{i}".encode(), f"v{i}".encode(), 1000 + i, None)
                              for i in range(30)])
        ends = await log.end_offsets(t)
        assert sum(ends) == 30
        for p in range(3):
            got = await log.read((t, p), 0, 100)
            assert [r[0] for r in got] == list(range(ends[p]))
            assert all(partition_for(r[1], 3) == p for r in got)
            assert [r[3] for r in got] == sorted(r[3] for r in got)
        assert [r[0] for r in await log.read((t, 0), 1, 2)] == [1, 2][: max(0, ends[0] - 1)]

    scenario(make_log, body)


def test_null_keys_spread_and_headers_kept(make_log: LogFactory) -> None:
    async def body(log: Any, pre: str) -> None:
        t = pre + "t"
        await log.create_topic(t, 2)
        await log.produce(t, [(None, b"x", 1, [("h", b"v")]) for _ in range(4)])
        assert await log.end_offsets(t) == [2, 2]
        assert [tuple(h) for h in (await log.read((t, 0), 0, 1))[0][4]] == [("h", b"v")]

    scenario(make_log, body)


def test_group_commit_writes_outputs_then_positions(make_log: LogFactory) -> None:
    async def body(log: Any, pre: str) -> None:
        src, out, group = pre + "in", pre + "out", pre + "g"
        await log.create_topic(src, 2)
        await log.create_topic(out, 1)
        consumer, recorder = await join(log, group, [src])
        assert sorted(recorder.assigned) == [(src, 0), (src, 1)]
        for tp in recorder.assigned:
            consumer.seek(tp, 0)
        batch = CommitBatch(outputs=[(out, None, [(b"k", b"v", 1, None)])],
                            positions={(src, 0): 7})
        await log.commit(group, batch)
        assert (await log.committed(group, [(src, 0), (src, 1)])) == {(src, 0): 7, (src, 1): 0}
        assert (await log.committed(pre + "other", [(src, 0)])) == {(src, 0): 0}
        assert await log.end_offsets(out) == [1]
        described = await log.describe_topic(src)
        assert described.groups.get(group) == [7, 0]
        await consumer.close()

    scenario(make_log, body)


def test_consumer_reads_from_positions_until_caught_up(make_log: LogFactory) -> None:
    async def body(log: Any, pre: str) -> None:
        src = pre + "in"
        await log.create_topic(src, 2)
        await log.produce(src, [(f"k{i}".encode(), b"v", i, None) for i in range(40)])
        consumer, recorder = await join(log, pre + "g", [src])
        for tp in recorder.assigned:
            consumer.seek(tp, 1)
        seen: dict[TopicPartition, list[int]] = {}
        for _ in range(200):
            for tp, records in (await consumer.poll(100)).items():
                seen.setdefault(tp, []).extend(r[0] for r in records)
            if consumer.caught_up():
                break
        ends = await log.end_offsets(src)
        assert {tp: offs for tp, offs in seen.items()} == {
            (src, p): list(range(1, ends[p])) for p in range(2) if ends[p] > 1}
        assert consumer.caught_up()
        await consumer.close()

    scenario(make_log, body)


def test_topic_errors(make_log: LogFactory) -> None:
    async def body(log: Any, pre: str) -> None:
        with pytest.raises(UnknownTopicError, match="does not exist"):
            await log.end_offsets(pre + "nope")
        await log.create_topic(pre + "t", 2)
        await log.create_topic(pre + "t", 2)
        with pytest.raises(ConfigError, match="exists with 2 partitions"):
            await log.create_topic(pre + "t", 3)
        assert (await log.topics())[pre + "t"] == 2

    scenario(make_log, body)


async def read_all(reader: Any, want: int, seconds: float = 10.0) -> list[bytes]:
    """Poll `reader` until `want` values arrived (or the time is up)."""
    values: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while len(values) < want and asyncio.get_running_loop().time() < deadline:
        batches = await reader.poll(100)
        values += [r[2] for records in batches.values() for r in records]
        if not batches:
            await asyncio.sleep(0.02)
    return values


def test_partition_reader_reads_everything_then_follows(make_log: LogFactory) -> None:
    async def body(log: Any, pre: str) -> None:
        t = pre + "g"
        await log.create_topic(t, 2)
        await log.produce(t, [(f"k{i}".encode(), f"v{i}".encode(), i, None) for i in range(30)])
        reader = log.partition_reader([(t, 0), (t, 1)])
        try:
            first = await read_all(reader, 30)
            assert sorted(first) == sorted(f"v{i}".encode() for i in range(30))
            assert await reader.poll(100) == {}, "nothing new: an empty answer, at once"
            await log.produce(t, [(b"k1", b"new", 99, None)])
            assert await read_all(reader, 1) == [b"new"]
        finally:
            await reader.close()

    scenario(make_log, body)
