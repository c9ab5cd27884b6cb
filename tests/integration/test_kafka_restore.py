"""Restoring stores from Kafka changelogs, 50 times over: each time, a fresh transport reads
every task's progress and every store partition's changelog as a worker taking the task over
does (`progress` then `read_changelog`), and gets exactly the rows the embedded run of the
same input holds. Reads must go to the true log end: Tansu's ListOffsets reports less.
`shoal query --broker` reads the tables the same way, from any machine: its answers equal
`shoal query` on the embedded run's log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.job import changelog_backends
from engine.loader import load_pipeline
from engine.physical import PhysicalPlan
from engine.planner import plan
from engine.transport.kafka import KafkaTransport
from tests.helpers.shoal import cli, embedded, run_shoal, stores
from tests.helpers.shop_runs import PARTITIONS, produce, shop_inputs
from tests.kafka_broker import Broker, tansu

pytestmark = pytest.mark.slow
APP = "apps/shop_tables.py"
ROUNDS = 50



async def restore_all(bootstrap: str, physical: PhysicalPlan) -> dict[str, dict[bytes, bytes]]:
    """Every store's rows as fresh workers would restore them (live rows only): the
    engine's `changelog_backends`, which reads progress and changelogs as a worker does."""
    kafka = KafkaTransport(bootstrap)
    try:
        counts = await kafka.topics()
        backends = await changelog_backends(physical, kafka, counts)
        return {store: dict(backends(f"{physical.pipeline}.{store}").scan(b"", None))
                for sub in physical.subtopologies for store in sub.stores}
    finally:
        await kafka.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Path]]:
    """The shop tables run to the end on a Tansu broker and on an embedded log."""
    tmp_path = tmp_path_factory.mktemp("runs")
    files = shop_inputs(tmp_path)[APP]
    data = tmp_path / "data"
    with tansu(tmp_path / "tansu.log") as broker:
        produce(files, "--data-dir", str(data))
        produce(files, "--broker", broker.url)
        run = ("run", APP, "--until-caught-up", "--port", "0", "--commit-interval", "50")
        cli(*run, "--data-dir", str(data))
        cli(*run, "--broker", broker.url, "--data-dir", str(tmp_path / "work"))
        yield broker, data


def test_fifty_restores_equal_the_embedded_stores(runs: tuple[Broker, Path]) -> None:
    broker, data = runs
    physical = plan(load_pipeline(APP), {"orders": PARTITIONS, "stock": PARTITIONS})
    codec = physical.codec
    reference = stores(embedded(data), physical)
    assert all(reference.values())
    for round_ in range(ROUNDS):
        restored = asyncio.run(restore_all(broker.bootstrap, physical))
        decoded = {name: {k: codec.decode(v) for k, v in rows.items()}
                   for name, rows in restored.items()}
        assert decoded == reference, f"restore {round_ + 1} of {ROUNDS} differs"


def test_query_with_a_broker_answers_as_the_embedded_log(runs: tuple[Broker, Path]) -> None:
    broker, data = runs
    for args in (["inventory"], ["inventory", "sku-007"], ["inventory", "--prefix", "sku-01"],
                 ["revenue-per-minute", "sku-007"], ["revenue-per-minute", "--limit", "5"]):
        on_kafka = run_shoal("query", APP, *args, "--broker", broker.url)
        embedded_log = run_shoal("query", APP, *args, "--data-dir", str(data))
        assert on_kafka.returncode == 0 and "Traceback" not in on_kafka.stderr, on_kafka.stderr
        assert on_kafka.stdout.strip() and on_kafka.stdout == embedded_log.stdout, args
    missing = run_shoal("query", APP, "nope", "--broker", broker.url)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no table 'nope'")
