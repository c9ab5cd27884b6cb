"""Forged bytes in a pipeline's internal topics and state run no code: a pickle planted in a
repartition topic is dead-lettered, a pickle planted in a store (the embedded log's column
family, or a Kafka changelog restored by a new worker) is refused when read: the records
that read it are dead-lettered, and the row is never counted on."""

from __future__ import annotations

import asyncio
import os
import pickle
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from engine import Pipeline, plan
from engine.api.records import LOOSE, headers_text, seq_header
from engine.job import Job
from engine.physical import PhysicalPlan
from engine.runtime import WorkerConfig
from engine.state import RocksBackend
from engine.transport import EmbeddedLog, Transport, changelog_topic, read_partitions
from engine.transport.kafka import KafkaTransport
from engine.transport.kafka_state import N_HEADER, n_of
from tests.kafka_broker import Broker


class Payload:
    """Unpickling this touches a file: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _pipeline(name: str) -> Pipeline:
    p = Pipeline(name)
    (p.stream(f"{name}.in", key="k").key_by(lambda v: v["g"], name="by-g")
      .count(name="counts").to_stream().to(f"{name}.out"))
    return p


def _input(start: int, stop: int) -> list[tuple[bytes, bytes, int, None]]:
    return [(b"%d" % i, b'{"k": %d, "g": "g%d"}' % (i, i % 3), i, None)
            for i in range(start, stop)]


async def _run(job: Job) -> None:
    await job.worker(WorkerConfig(until_caught_up=True)).run()


async def _counts(log: Transport, name: str) -> dict[bytes, int]:
    """The latest count per group in the output topic."""
    latest: dict[bytes, int] = {}
    for records in await read_partitions(log, f"{name}.out"):
        for _, key, value, _, _ in records:
            assert key is not None and value is not None
            latest[key] = int(value)
    return latest


async def _dead_letters(log: Transport, pipeline: str) -> Counter[tuple[str, str]]:
    """(stage, error up to its first colon): count, of the pipeline's dead letters."""
    found: Counter[tuple[str, str]] = Counter()
    for records in await read_partitions(log, f"{pipeline}.dlq"):
        for *_, headers in records:
            text = headers_text(headers)
            found[text["shoal.stage"] or "", (text["shoal.error"] or "").split(":")[0]] += 1
    return found


async def _forge_repartition(log: Transport, topic: str, payload: bytes) -> None:
    """Plant `payload` twice per group key in `topic`: without a header (a stranger's record)
    and under a header of writer 0 flagged to be applied whatever its sequence (so that it
    reaches the decoder)."""
    header = [seq_header(0, 0, 0, LOOSE)]
    await log.produce(topic, [(key, payload, 0, hd) for key in (b"g0", b"g1", b"g2")
                              for hd in (None, header)])


async def _forge_store(log: Transport, pipeline: str, payload: bytes) -> int:
    """Overwrite every row of the `counts` store with `payload`: in the column family on the
    embedded log, by a newer changelog record on Kafka. Returns the rows forged."""
    if isinstance(log, EmbeddedLog):
        family = log.column_family(f"{pipeline}.counts")
        keys = [k for k, _ in RocksBackend(family).scan(b"", None)]
        for key in keys:
            family[key] = payload
        return len(keys)
    topic = changelog_topic(f"{pipeline}.counts")
    forged = []
    for records in await read_partitions(log, topic):
        forged += [(key, payload, ts, [(N_HEADER, n_of(hd).to_bytes(8, "big"))])
                   for _, key, _, ts, hd in records]
    await log.produce(topic, forged)
    return len(forged)


def _scenario(log: Transport, tmp: Path, name: str) -> None:
    marker = tmp / "pickle-ran"
    payload = pickle.dumps(Payload(marker))
    physical: PhysicalPlan = plan(_pipeline(name))

    async def body() -> None:
        await log.create_topic(f"{name}.in", 3)
        await log.produce(f"{name}.in", _input(0, 60))
        await _run(Job(physical, log, str(tmp / "w1")))
        assert await _counts(log, name) == {b"g0": 20, b"g1": 20, b"g2": 20}
        await _forge_repartition(log, f"{name}-by-g-repartition", payload)
        assert await _forge_store(log, name, payload) == 3
        await log.produce(f"{name}.in", _input(60, 90))
        await _run(Job(physical, log, str(tmp / "w2")))  # Kafka: a new worker restores
        assert not marker.exists(), "a forged pickle was unpickled"
        # per group: the stranger's record, and the decoder refusing the other; every new
        # record then reads its group's forged row: refused, not counted
        assert await _dead_letters(log, name) == {
            ("decode", "ValueError"): 3, ("decode", "CodecError"): 3,
            ("operator", "CodecError"): 30}
        assert await _counts(log, name) == {b"g0": 20, b"g1": 20, b"g2": 20}
        await log.close()

    asyncio.run(body())


def test_forged_pickles_run_nothing_on_the_embedded_log(tmp_path: Path) -> None:
    _scenario(EmbeddedLog(tmp_path / "log"), tmp_path, "forge")


def test_forged_pickles_run_nothing_on_kafka(kafka_broker: Broker, tmp_path: Path) -> None:
    name = f"forge-{uuid.uuid4().hex[:8]}"
    _scenario(KafkaTransport(kafka_broker.bootstrap), tmp_path, name)

