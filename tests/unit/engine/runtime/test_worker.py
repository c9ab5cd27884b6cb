"""Worker and commit procedure on the embedded log: resume, repartition, atomicity."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from engine import Pipeline, ShoalError, plan
from engine.api import UnknownTopicError
from engine.runtime import Worker, WorkerConfig
from engine.transport import CommitBatch, EmbeddedLog, MemoryLog, read_partitions


def _pipeline() -> Pipeline:
    p = Pipeline("w")
    (p.stream("in", key="k")
      .filter(lambda v: v["x"] % 2 == 0)
      .key_by(lambda v: v["x"] % 3, name="by-mod")
      .map(lambda v: v["x"])
      .to("out"))
    return p


async def _produce(log: EmbeddedLog, start: int, stop: int) -> None:
    await log.produce("in", [(str(i).encode(), b'{"k": %d, "x": %d}' % (i, i), i, None)
                             for i in range(start, stop)])


async def _out(log: EmbeddedLog) -> list[int]:
    values = []
    for records in await read_partitions(log, "out"):
        values += [int(r[2]) for r in records]  # type: ignore[arg-type]
    return sorted(values)


def test_restart_resumes_at_last_commit(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("in", 3)
        await _produce(log, 0, 500)
        stats = await Worker(plan(_pipeline()), log, WorkerConfig(until_caught_up=True)).run()
        assert stats.records_in == 500 and stats.backlog == 500
        await _produce(log, 500, 800)
        again = await Worker(plan(_pipeline()), log, WorkerConfig(until_caught_up=True)).run()
        assert again.records_in == 300 and again.backlog == 300
        assert await _out(log) == [i for i in range(800) if i % 2 == 0]
        assert await log.topics() == {"in": 3, "out": 3, "w-by-mod-repartition": 3, "w.dlq": 3}
        await log.close()

    asyncio.run(scenario())


def test_missing_source_topic_is_a_clear_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EmbeddedLog(tmp_path)
        with pytest.raises(UnknownTopicError, match=r"'in' does not exist .*shoal produce in"):
            await Worker(plan(_pipeline()), log).run()
        await log.close()

    asyncio.run(scenario())


class FailingLog(EmbeddedLog):
    """A log whose commits fail, to show that nothing is half-written."""

    async def commit(self, group: str, batch: CommitBatch) -> None:
        if batch.positions:
            raise ShoalError("disk full")
        await super().commit(group, batch)


def test_failed_commit_writes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = FailingLog(tmp_path)
        await log.create_topic("in", 1)
        await _produce(log, 0, 10)
        with pytest.raises(ShoalError, match="disk full"):
            await Worker(plan(_pipeline()), log, WorkerConfig(until_caught_up=True)).run()
        assert await log.committed("w", [("in", 0)]) == {("in", 0): 0}
        assert sum(await log.end_offsets("out")) == 0
        await log.close()

    asyncio.run(scenario())


def test_stop_event_commits_and_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("in", 2)
        await _produce(log, 0, 100)
        stop = asyncio.Event()
        worker = Worker(plan(_pipeline()), log, WorkerConfig(idle_sleep_s=0.01))
        task = asyncio.create_task(worker.run(stop))
        while sum((await log.committed("w", [("in", 0), ("in", 1)])).values()) < 100:
            await asyncio.sleep(0.01)
        stop.set()
        stats = await asyncio.wait_for(task, 5)
        assert stats.records_in == 100
        assert await _out(log) == [i for i in range(100) if i % 2 == 0]
        await log.close()

    asyncio.run(scenario())


def test_window_state_survives_restart_on_the_embedded_log(tmp_path: Path) -> None:
    from engine import windows
    from engine.state import RocksBackend

    def pipeline() -> Pipeline:
        p = Pipeline("s")
        (p.stream("in", key="k", time="ts").window(windows.tumbling(ms=100), emit="final")
          .count(name="per-100ms").to_stream().map(lambda r: [r.key, r.start, r.value])
          .to("counts"))
        return p

    async def run_once(log: EmbeddedLog) -> None:
        backends = lambda name: RocksBackend(log.column_family(name))  # noqa: E731
        await Worker(plan(pipeline()), log, WorkerConfig(until_caught_up=True),
                     backends=backends).run()

    async def scenario() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("in", 2)
        rows = [(f"k{i % 3}", i * 10) for i in range(30)]  # times 0..290
        await log.produce("in", [(k.encode(), b'{"k": "%s", "ts": %d}' % (k.encode(), t), t,
                                  None) for k, t in rows[:15]])
        await run_once(log)
        await log.close()
        log = EmbeddedLog(tmp_path)  # a restart: windows still open must continue
        await log.produce("in", [(k.encode(), b'{"k": "%s", "ts": %d}' % (k.encode(), t), t,
                                  None) for k, t in rows[15:]])
        await run_once(log)
        got = set()
        for records in await read_partitions(log, "counts"):
            got |= {tuple(json.loads(r[2])) for r in records}
        # windows [0,100) and [100,200) closed (stream time 290); [200,300) still open
        expected = {(k, s, sum(1 for kk, t in rows if kk == k and s <= t < s + 100))
                    for k in ("k0", "k1", "k2") for s in (0, 100)}
        assert got == expected
        await log.close()

    asyncio.run(scenario())


def test_idle_timeout_does_not_keep_a_bounded_run_alive(tmp_path: Path) -> None:
    from engine import windows

    p = Pipeline("idle", idle_timeout_ms=1)
    p.stream("in", key="k", time="ts").window(windows.tumbling(ms=100), emit="final") \
        .count(name="c").to_stream().to("out")

    async def scenario() -> None:
        from engine.state import RocksBackend

        log = EmbeddedLog(tmp_path)
        await log.create_topic("in", 4)  # some tasks get no input at all
        await log.produce("in", [(b"a", b'{"k": "a", "ts": 5}', 5, None)])
        worker = Worker(plan(p), log, WorkerConfig(until_caught_up=True),
                        backends=lambda name: RocksBackend(log.column_family(name)))
        await worker.start()
        await asyncio.sleep(0.05)  # the tasks have been quiet longer than the timeout
        stats = await asyncio.wait_for(worker.run(), 10)  # it used to spin forever
        assert stats.records_in == 1
        await log.close()

    asyncio.run(scenario())


def test_consumed_repartition_records_are_purged(tmp_path: Path) -> None:
    """After each commit the embedded log deletes the repartition records their reader
    committed: the topic keeps its offsets but holds only what is in flight, a restart goes
    on from there, and reads from offset 0 start at the first record kept."""
    topic = "w-by-mod-repartition"

    async def kept(log: EmbeddedLog) -> list[int]:
        return [len(records) for records in await read_partitions(log, topic)]

    async def scenario() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("in", 3)
        await _produce(log, 0, 300)
        await Worker(plan(_pipeline()), log, WorkerConfig(until_caught_up=True)).run()
        ends = await log.end_offsets(topic)
        assert sum(ends) >= 150 and await kept(log) == [0, 0, 0]  # 150 re-keyed + control
        await log.close()
        log = EmbeddedLog(tmp_path)  # the first offsets kept survive a reopen
        assert await kept(log) == [0, 0, 0] and await log.end_offsets(topic) == ends
        assert await log.start_offsets(topic) == ends
        await _produce(log, 300, 400)
        await Worker(plan(_pipeline()), log, WorkerConfig(until_caught_up=True)).run()
        assert await _out(log) == [i for i in range(400) if i % 2 == 0]
        assert sum(await log.end_offsets(topic)) >= sum(ends) + 50
        assert await kept(log) == [0, 0, 0]
        await log.close()

    asyncio.run(scenario())


class RecordingLog(MemoryLog):
    """A memory log that remembers the retention each topic was created with."""

    def __init__(self) -> None:
        super().__init__()
        self.retention: dict[str, int | None] = {}

    async def create_topic(self, topic: str, partitions: int, compact: bool = False,
                           retention_ms: int | None = None) -> None:
        self.retention.setdefault(topic, retention_ms)
        await super().create_topic(topic, partitions, compact, retention_ms)


def test_dead_letter_topic_is_created_with_its_retention() -> None:
    def pipeline(**settings: int) -> Pipeline:
        p = Pipeline("r", **settings)
        p.stream("in", key="k").key_by(lambda v: v["x"], name="by-x").to("out")
        return p

    async def scenario() -> None:
        log = RecordingLog()
        await log.create_topic("in", 2)
        await Worker(plan(pipeline(dead_letter_retention_ms=86_400_000)), log,
                     WorkerConfig(until_caught_up=True)).run()
        assert log.retention["r.dlq"] == 86_400_000
        assert log.retention["out"] is None and log.retention["r-by-x-repartition"] is None

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="dead_letter_retention_ms must be positive"):
        pipeline(dead_letter_retention_ms=0)
