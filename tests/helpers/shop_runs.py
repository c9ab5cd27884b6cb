"""The shop apps' inputs, runs on Kafka workers, and what a run left (outputs per key, dead
letters, stores), shared by the Kafka tests that compare a run with the embedded one."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

from apps.generate import catalogue, orders, shop, stock
from engine.loader import load_pipeline
from engine.planner import plan
from tests.helpers.shoal import Rows, Workers, cli, log_contents, stores
from tests.kafka_broker import Broker

PARTITIONS = 4


def shop_inputs(tmp_path: Path) -> dict[str, dict[str, tuple[Path, str]]]:
    """Input files per app: topic -> (file, key field)."""
    def write(name: str, lines: list[str]) -> Path:
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(f"{line}\n" for line in lines))
        return path

    buys, shipped = shop(4_000, seed=21)
    return {
        "apps/shop_tables.py": {"orders": (write("orders", list(orders(6_000, seed=5))),
                                           "order_id"),
                                "stock": (write("stock", list(stock(2_000, seed=6))), "sku")},
        "apps/shop.py": {"products": (write("products", list(catalogue())), "sku"),
                         "buys": (write("buys", buys), "order_id"),
                         "shipped": (write("shipped", shipped), "order_id")},
    }


def produce(files: dict[str, tuple[Path, str]], *where: str) -> None:
    for topic, (file, key) in files.items():
        cli("produce", topic, file, "--key", key, "--time", "ts", "--partitions",
            str(PARTITIONS), *where)


def per_key(rows: Rows) -> dict[bytes | None, list[bytes | None]]:
    out: dict[bytes | None, list[bytes | None]] = {}
    for records in rows.values():
        for key, value in records:
            out.setdefault(key, []).append(value)
    return out


def results(app: str, open_log: object,
            partitioners: dict[str, str] | None = None) -> dict[str, object]:
    """What a run of `app` left: its outputs per key, its dead letters, its stores.
    partitioners: as given to the run (`--partitioner`)."""
    pipeline = load_pipeline(app)
    pipeline.place(partitioners or {})
    physical = plan(pipeline, {t: PARTITIONS for t in ("orders", "stock", "products", "buys",
                                                       "shipped")})
    found = log_contents(open_log, [*physical.sink_topics, physical.dead_letter_topic])  # type: ignore[arg-type]
    return {"out": {t: per_key(found[t]) for t in physical.sink_topics},
            "dead": Counter(r for rows in found[physical.dead_letter_topic].values() for r in rows),
            "stores": stores(open_log, physical)}  # type: ignore[arg-type]


def run_on_kafka(app: str, files: dict[str, tuple[Path, str]] | None, count: int,
                 broker: Broker, logs: Path, *options: str) -> None:
    """The input produced (unless `files` is None: produced already), then `count` workers
    of `app` started at once, each running to the end of its input (--drain: every window
    closes); each got tasks at some point. options: more for `shoal run`."""
    if files is not None:
        produce(files, "--broker", broker.url)
    workers = Workers(["run", app, "--drain", "--broker", broker.url, "--commit-interval",
                       "100", *options], logs)
    for _ in range(count):
        workers.start()
    try:
        began = time.monotonic()
        for n, proc in enumerate(workers.procs):
            assert proc.wait(timeout=240) == 0, workers.text(n)[-3000:]
            assert "Traceback" not in workers.text(n), workers.text(n)[-3000:]
        print(f"{app} on {count} workers: drained in {time.monotonic() - began:.1f}s")
        for n in range(count):
            assert re.search(r": [1-9]\d* tasks \(", workers.text(n)), \
                f"worker {n} never got a task:\n{workers.texts()}"
    finally:
        workers.kill()


