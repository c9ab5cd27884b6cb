"""Typed keys: a table produced as a Java service does (IntegerSerializer: 4-byte big-endian
int keys, the default partitioner over those bytes) joins a stream re-keyed with
`key_type=int`, on the embedded log and on Kafka; windows and queries give the keys back as
numbers; with the default key encoding the same join finds no row (the bytes differ)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine import Pipeline, plan, windows
from engine.api.keys import key_encoder, key_reader, key_type_name
from engine.job import Job
from engine.runtime import WorkerConfig
from engine.transport import EmbeddedLog, Transport, read_partitions
from engine.transport.kafka import KafkaTransport
from tests.kafka_broker import Broker

CUSTOMERS = {i: f"customer-{i}" for i in range(-3, 40)}
ORDERS = [{"order": n, "customer_id": (n * 7) % 50 - 5, "ts": 1000 * n} for n in range(300)]


def _pipeline(name: str, key_type: Any) -> Pipeline:
    p = Pipeline(name)
    customers = p.table(f"{name}.customers", key_type=int, name="customers")
    by_customer = p.stream(f"{name}.orders", time="ts").key_by(
        lambda o: o["customer_id"], key_type=key_type, name="by-customer")
    (by_customer.join(customers, lambda o, c: {**o, "name": None if c is None else c["name"]},
                      how="left", name="enrich")
     .to(f"{name}.enriched"))
    by_customer.window(windows.tumbling(ms=100_000)).count(name="per-customer")
    return p


async def _produce(log: Transport, name: str) -> None:
    await log.create_topic(f"{name}.customers", 3)
    await log.create_topic(f"{name}.orders", 2)
    # as a Java producer with IntegerSerializer writes them
    await log.produce(f"{name}.customers", [
        (i.to_bytes(4, "big", signed=True), json.dumps({"name": n}).encode(), 0, None)
        for i, n in CUSTOMERS.items()])
    await log.produce(f"{name}.orders", [
        (None, json.dumps(o).encode(), o["ts"], None) for o in ORDERS])


def _scenario(log: Transport, tmp: Path, name: str, key_type: Any) -> dict[int, str | None]:
    """Run the pipeline; the name each order was joined with."""
    physical = plan(_pipeline(name, key_type), {f"{name}.customers": 3, f"{name}.orders": 2})

    async def body() -> dict[int, str | None]:
        await _produce(log, name)
        job = Job(physical, log, str(tmp / "state"))
        await job.worker(WorkerConfig(until_caught_up=True)).run()
        joined = {}
        for records in await read_partitions(log, f"{name}.enriched"):
            for _, key, value, _, _ in records:
                assert value is not None
                order = json.loads(value)
                joined[order["order"]] = order["name"]
                assert key == key_encoder(key_type_name(key_type))(order["customer_id"])
        if isinstance(log, EmbeddedLog):  # queries by typed key (Kafka: a running job's)
            views = job.views(await log.topics())
            assert views["customers"].get(7) == {"name": "customer-7"}
            assert views["customers"].get("-3") == {"name": "customer--3"}
            if key_type is int:
                counts = views["per-customer"].windows(-5)
                assert [(w.key, w.value) for w in counts] == [
                    ("-5", sum(1 for o in ORDERS[:100] if o["customer_id"] == -5)),
                    ("-5", sum(1 for o in ORDERS[100:200] if o["customer_id"] == -5)),
                    ("-5", sum(1 for o in ORDERS[200:] if o["customer_id"] == -5))]
        job.close()
        await log.close()
        return joined

    return asyncio.run(body())


def _expected() -> dict[int, str | None]:
    return {o["order"]: CUSTOMERS.get(o["customer_id"]) for o in ORDERS}


@pytest.mark.parametrize("key_type", [int, "int"])
def test_int_keys_join_a_java_produced_table(tmp_path: Path, key_type: Any) -> None:
    assert _scenario(EmbeddedLog(tmp_path / "log"), tmp_path, "typed", key_type) == _expected()


def test_default_keys_do_not_meet_java_int_keys(tmp_path: Path) -> None:
    joined = _scenario(EmbeddedLog(tmp_path / "log"), tmp_path, "json", None)
    assert len(joined) == len(ORDERS) and set(joined.values()) == {None}


def test_int_keys_join_on_kafka(kafka_broker: Broker, tmp_path: Path) -> None:
    name = f"typed-{uuid.uuid4().hex[:8]}"
    log = KafkaTransport(kafka_broker.bootstrap)
    assert _scenario(log, tmp_path, name, int) == _expected()


def test_key_types_read_and_refuse() -> None:
    assert key_encoder("long")(-2) == b"\xff" * 7 + b"\xfe"
    assert key_reader("long")(b"\xff" * 7 + b"\xfe") == "-2"
    assert key_encoder("string")("ü") == "ü".encode()
    with pytest.raises(ValueError, match="does not fit key_type 'int'"):
        key_encoder("int")(2**31)
    with pytest.raises(TypeError, match="must be an int"):
        key_encoder("int")(1.5)
    with pytest.raises(ValueError, match="key_type must be one of"):
        key_type_name(float)
