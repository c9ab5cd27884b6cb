"""Inputs that librdkafka clients produced (confluent-kafka with its default partitioner,
consistent_random: CRC32 of the key, a random partition for a null key), on a Tansu broker.
Told how they were placed (`shoal run --partitioner TOPIC=NAME`), apps/shop.py on 2 workers
leaves what the embedded run of the same input leaves: every output per key, the dead
letters and every store.

- products, buys and shipped keyed (crc32): buys ⋈ shipped reads them where they are;
  products are repartitioned to meet the buys re-keyed by sku.
- buys with null keys (the order id is only in the value; declared any): repartitioned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from engine.api.state import META
from engine.transport import partition_for
from tests.helpers.kafka import create_topics, read_topic
from tests.helpers.shoal import cli, embedded, kafka
from tests.helpers.shop_runs import PARTITIONS, produce, results, run_on_kafka, shop_inputs
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow
APP = "apps/shop.py"
TASK_PREFIX = 4  # a backend key starts with the task's partition



def produce_with_librdkafka(broker: Broker, files: dict[str, tuple[Path, str]],
                            null_keys: set[str]) -> None:
    """Each file's records, keyed by their key field (null for topics in `null_keys`), with
    the producer's defaults (its partitioner: consistent_random)."""
    create_topics(broker, {topic: PARTITIONS for topic in files})
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for topic, (file, field) in files.items():
        for n, line in enumerate(file.read_text().splitlines()):
            doc = json.loads(line)
            key = None if topic in null_keys else str(doc[field]).encode()
            producer.produce(topic, value=line.encode(), key=key, timestamp=doc["ts"])
            if n % 1000 == 0:
                producer.poll(0)
    assert producer.flush(30) == 0, "every record acknowledged"


@pytest.mark.parametrize("null_buys", [False, True], ids=["crc32", "null-keyed-buys"])
def test_shop_app_fed_by_a_librdkafka_producer_leaves_what_the_embedded_run_leaves(
        tmp_path: Path, broker: Broker, null_buys: bool) -> None:
    files = shop_inputs(tmp_path)[APP]
    produce(files, "--data-dir", str(tmp_path / "embedded"))
    cli("run", APP, "--drain", "--port", "0", "--data-dir", tmp_path / "embedded")
    want = results(APP, embedded(tmp_path / "embedded"))

    produce_with_librdkafka(broker, files, {"buys"} if null_buys else set())
    placed = read_topic(broker, "shipped")
    moved = sum(partition_for(k, PARTITIONS) != p for p, k, _, _ in placed if k is not None)
    assert moved > len(placed) // 2, "most keys are not where murmur2 would put them"
    partitioners = {"products": "crc32", "shipped": "crc32",
                    "buys": "any" if null_buys else "crc32"}
    run_on_kafka(APP, None, 2, broker, tmp_path,
                 *(f"--partitioner={t}={name}" for t, name in partitioners.items()))
    got = results(APP, kafka(broker.bootstrap), partitioners)
    for topic, rows in want["out"].items():  # type: ignore[attr-defined]
        assert got["out"][topic] == rows, f"{topic} differs from the embedded run"  # type: ignore[index]
    assert got["dead"] == want["dead"], "the dead letters differ from the embedded run"
    for store, rows in want["stores"].items():  # type: ignore[attr-defined]
        assert table_rows(got["stores"][store]) == table_rows(rows), f"store {store} differs"  # type: ignore[index]


def table_rows(store: dict[bytes, Any]) -> dict[bytes, Any]:
    """A store's rows without its tasks' bookkeeping (stream time per task: a task reads
    other records when the input is placed otherwise)."""
    return {k: v for k, v in store.items() if not k[TASK_PREFIX:].startswith(META)}
