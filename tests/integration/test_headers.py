"""Record headers end to end, on the embedded log and on Kafka: null, non-UTF-8 and huge
header values reach the outputs of stateless chains and repartitions unchanged (as in Kafka
Streams), a failing record keeps its headers in its dead letter and the records after it are
processed, aggregation outputs carry none, `headers="drop"` drops them, and `shoal tail`
prints them all."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from engine import Pipeline, plan
from engine.api.records import HEADER_LIMIT, SEQ_HEADER, Headers
from engine.job import Job
from engine.runtime import WorkerConfig
from engine.transport import EmbeddedLog, Transport, read_partitions
from engine.transport.kafka import KafkaTransport
from tests.helpers.shoal import run_shoal
from tests.kafka_broker import Broker

BIG = bytes(range(256)) * 1200  # 300 KiB, not UTF-8
HEADERS: list[Headers | None] = [
    [("trace", b"t0"), ("null", None), ("bin", b"\xff\x00\xfe"), ("big", BIG)],
    None,
    [("null", None), ("trace", b"t2")],  # this record fails in `tax`
    [("trace", b"t3"), ("trace", b"again")],  # repeated names are kept, in order
]


def _tax(v: dict[str, Any]) -> dict[str, Any]:
    return {**v, "net": 10 / v["n"]}  # n == 0 fails


def _pipeline(name: str, headers: str = "forward") -> Pipeline:
    p = Pipeline(name, headers=headers, dead_letter_retention_ms=3_600_000)
    taxed = p.stream(f"{name}.in", key="k").map(_tax, name="tax")
    taxed.to(f"{name}.out")
    taxed.key_by(lambda v: v["g"], name="by-g").to(f"{name}.rekeyed")
    taxed.key_by(lambda v: v["g"], name="by-g2").count(name="counts").to_stream().to(
        f"{name}.counts")
    return p


def _inputs() -> list[tuple[bytes, bytes, int, Headers | None]]:
    values = [{"k": i, "g": "a", "n": 0 if i == 2 else 1} for i in range(len(HEADERS))]
    return [(b"%d" % i, json.dumps(v).encode(), 1000 + i, HEADERS[i])
            for i, v in enumerate(values)]


async def _by_key(log: Transport, topic: str) -> dict[bytes | None, Headers | None]:
    """Key -> headers of its latest record in `topic`, without the `shoal.seq` header that
    Kafka outputs carry first (for consumers that drop replays)."""
    out: dict[bytes | None, Headers | None] = {}
    for records in await read_partitions(log, topic):
        for _, key, _, _, headers in records:
            out[key] = [(n, None if v is None else bytes(v)) for n, v in headers or ()
                        if n != SEQ_HEADER] or None
    return out


def _run(log: Transport, tmp: Path, name: str, headers: str = "forward") -> None:
    async def body() -> None:
        await log.create_topic(f"{name}.in", 2)
        await log.produce(f"{name}.in", _inputs())
        job = Job(plan(_pipeline(name, headers)), log, str(tmp / "state"))
        await job.worker(WorkerConfig(until_caught_up=True)).run()
        job.close()
        await log.close()
    asyncio.run(body())


def _check(log: Transport, name: str) -> None:
    async def body() -> None:
        try:
            await expect()
        finally:
            await log.close()

    async def expect() -> None:
        want = {b"%d" % i: HEADERS[i] for i in (0, 1, 3)}
        assert await _by_key(log, f"{name}.out") == want
        rekeyed = await _by_key(log, f"{name}.rekeyed")  # keyed by group now: one key
        assert rekeyed == {b"a": HEADERS[3]}  # the last record's, no internal header left
        assert await _by_key(log, f"{name}.counts") == {b"a": None}
        dead = [r for records in await read_partitions(log, f"{name}.dlq") for r in records]
        assert len(dead) == 1
        _, key, _, _, headers = dead[0]
        assert key == b"2" and headers is not None
        assert [tuple(h) for h in headers if not h[0].startswith("shoal.")] == HEADERS[2]
    asyncio.run(body())


def test_headers_on_the_embedded_log(tmp_path: Path) -> None:
    _run(EmbeddedLog(tmp_path / "log"), tmp_path, "hd")
    _check(EmbeddedLog(tmp_path / "log"), "hd")
    done = run_shoal("tail", "hd.out", "--from-beginning", data_dir=tmp_path / "log")
    assert done.returncode == 0, done.stderr
    printed = {json.loads(line)["key"]: json.loads(line).get("headers")
               for line in done.stdout.splitlines()}
    assert printed["1"] is None
    assert printed["3"] == {"trace": "again"}  # JSON: the last of a repeated name
    first = printed["0"]
    assert first["trace"] == "t0" and first["null"] is None
    assert first["bin"] == "\ufffd\x00\ufffd"
    assert len(first["big"]) >= HEADER_LIMIT  # printed, undecodable bytes replaced


def test_headers_dropped_on_request(tmp_path: Path) -> None:
    _run(EmbeddedLog(tmp_path / "log"), tmp_path, "hdrop", headers="drop")

    async def body() -> None:
        log = EmbeddedLog(tmp_path / "log")
        assert set((await _by_key(log, "hdrop.out")).values()) == {None}
        assert set((await _by_key(log, "hdrop.rekeyed")).values()) == {None}
        await log.close()
    asyncio.run(body())


def test_headers_on_kafka(kafka_broker: Broker, tmp_path: Path) -> None:
    name = f"hd-{uuid.uuid4().hex[:8]}"
    _run(KafkaTransport(kafka_broker.bootstrap), tmp_path, name)
    _check(KafkaTransport(kafka_broker.bootstrap), name)
