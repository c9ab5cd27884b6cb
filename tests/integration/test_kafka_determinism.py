"""One answer on Kafka whatever the workers: the shop apps, a Buy ⋈ Shipped join with grace 0
and a paused worker, each on a Tansu broker of its own.

- apps/shop_tables.py and apps/shop.py on 2 and on 3 workers leave exactly what an embedded
  run of the same input leaves: every output topic (per key, record by record), every store
  (rebuilt from its changelog as a restore would) and the dead letters (no extra late ones).
  The input is produced first; the workers start at once and run it to its end (--drain).
- Buy ⋈ Shipped (inner, within 1 h after the buy, grace 0) on 1 and 2 workers emits every
  pair of a brute-force reference exactly once.
- A worker paused with SIGSTOP past the session timeout, while it still holds records it
  read, is replaced; resumed, it writes what it held into partitions another worker owns.
  Every table stays exact (readers drop its replayed records); the output topic may hold
  duplicates, which are counted.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from apps.generate import orders, shop
from engine.api.records import read_seq
from engine.loader import load_pipeline
from engine.planner import plan
from tests.helpers.shoal import (
    Workers,
    cli,
    embedded,
    kafka,
    log_contents,
    on_log,
    read_all,
    stores,
)
from tests.helpers.shop_runs import produce, results, run_on_kafka, shop_inputs
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow

PARTITIONS = 4
HOUR = 3_600_000



def caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """The group committed every record of `topics`."""
    async def body(log: Any) -> bool:
        for topic in topics:
            ends = await log.end_offsets(topic)
            done = await log.committed(group, [(topic, p) for p in range(len(ends))])
            if any(done[(topic, p)] < end for p, end in enumerate(ends)):
                return False
        return True
    return on_log(kafka(bootstrap), body)


@pytest.mark.parametrize("app, count", [("apps/shop_tables.py", 2), ("apps/shop_tables.py", 3),
                                        ("apps/shop.py", 2), ("apps/shop.py", 3)])
def test_shop_apps_on_kafka_leave_what_the_embedded_run_leaves(
        tmp_path: Path, broker: Broker, app: str, count: int) -> None:
    files = shop_inputs(tmp_path)[app]
    produce(files, "--data-dir", str(tmp_path / "embedded"))
    cli("run", app, "--drain", "--port", "0", "--data-dir", tmp_path / "embedded")
    want = results(app, embedded(tmp_path / "embedded"))
    run_on_kafka(app, files, count, broker, tmp_path)
    got = results(app, kafka(broker.bootstrap))
    for topic, rows in want["out"].items():  # type: ignore[attr-defined]
        assert got["out"][topic] == rows, f"{topic} differs from the embedded run"  # type: ignore[index]
    assert got["dead"] == want["dead"], "the dead letters differ from the embedded run"
    for store, rows in want["stores"].items():  # type: ignore[attr-defined]
        assert got["stores"][store] == rows, f"store {store} differs"  # type: ignore[index]


JOIN_APP = '''"""Buy ⋈ Shipped: shipped within an hour after the buy, no grace."""
from engine import Pipeline, windows

p = Pipeline("exact-join")
buys = p.stream("buys", key="order_id", time="ts")
shipped = p.stream("shipped", key="order_id", time="ts")
buys.join(shipped, lambda b, s: {{"order": b["order_id"], "shipped": s["ts"]}}, before=0,
          after=windows.hours(1), grace=0, how="inner", name="buy-shipped").to("pairs")
'''


@pytest.mark.parametrize("count", [1, 2])
def test_buy_shipped_join_with_grace_0_is_exact_on_kafka(tmp_path: Path, broker: Broker,
                                                         count: int) -> None:
    app = tmp_path / "exact_join.py"
    app.write_text(JOIN_APP.format())
    buys, shipped = shop(8_000, seed=31)
    files = shop_inputs(tmp_path)["apps/shop.py"]
    files["buys"][0].write_text("".join(f"{x}\n" for x in buys))
    files["shipped"][0].write_text("".join(f"{x}\n" for x in shipped))
    del files["products"]
    bought = {b["order_id"]: b["ts"] for b in map(json.loads, buys)}
    want = Counter((s["order_id"], s["ts"]) for s in map(json.loads, shipped)
                   if s["order_id"] in bought
                   and bought[s["order_id"]] <= s["ts"] <= bought[s["order_id"]] + HOUR)
    run_on_kafka(str(app), files, count, broker, tmp_path)
    pairs = log_contents(kafka(broker.bootstrap), ["pairs", "exact-join.dlq"])
    got = Counter((json.loads(v)["order"], json.loads(v)["shipped"])  # type: ignore[arg-type]
                  for rows in pairs["pairs"].values() for _, v in rows)
    assert sum(map(len, pairs["exact-join.dlq"].values())) == 0, "no record is late"
    assert got == want, f"{sum(got.values())} pairs, {sum(want.values())} expected"


COUNT_APP = '''"""Orders per customer (through a repartition), and the re-keyed orders. A worker
started with SLOW=1 takes a millisecond per order (it is never idle, so never commits before
its commit interval)."""
import os
import time

from engine import Pipeline

SLOW = os.environ.get("SLOW") == "1"


def customer(order):
    if SLOW:
        time.sleep(0.001)
    return order["customer"]


p = Pipeline("per-customer")
by_customer = p.stream("orders", key="order_id", time="ts").key_by(customer, name="by-customer")
by_customer.count(name="orders-per-customer")
by_customer.map(lambda o: o["order_id"], name="order-id").to("rekeyed")
'''


def test_a_paused_worker_leaves_every_table_exact(tmp_path: Path, broker: Broker) -> None:
    """Worker 0 is slow and commits every 60 s at most: 2 s into the input it surely holds
    records it ran and wrote nowhere yet when it is paused. Worker 1 takes its partitions
    over and runs them from their last commit; resumed, worker 0 writes what it held before
    it learns it was replaced (its own records again, same writer and sequence numbers)."""
    app = tmp_path / "per_customer.py"
    app.write_text(COUNT_APP)
    lines = list(orders(40_000, seed=41, bad_every=10**9))
    want = Counter(json.loads(line)["customer"] for line in lines)
    source = tmp_path / "orders.jsonl"
    source.write_text("".join(f"{x}\n" for x in lines))
    cli("produce", "orders", "/dev/null", "--partitions", str(PARTITIONS), "--broker", broker.url)
    workers = Workers(["run", str(app), "--broker", broker.url, "--commit-interval", "60000"],
                      tmp_path)
    workers.start(env={"SLOW": "1"})
    workers.start()
    workers.wait(lambda: workers.assigned() == 2, "2 workers to split the tasks")
    cli("produce", "orders", source, "--key", "order_id", "--time", "ts", "--broker",
        broker.url)
    time.sleep(2)
    slow = workers.procs[0]
    slow.send_signal(signal.SIGSTOP)
    topics = ["orders", "per-customer-by-customer-repartition"]
    try:
        workers.wait(lambda: ": 8 tasks" in workers.text(1), "worker 1 to take worker 0's "
                     "partitions over", timeout=60)
        workers.wait(lambda: caught_up(broker.bootstrap, "per-customer", topics),
                     "worker 1 to run the input", timeout=180)
    finally:
        slow.send_signal(signal.SIGCONT)
    workers.wait(lambda: workers.text(0).count("revoked") >= 1, "worker 0 to learn it was "
                 "replaced", timeout=60)
    workers.wait(lambda: caught_up(broker.bootstrap, "per-customer", topics),
                 "the group to settle", timeout=120)
    slow.kill()  # (a worker leaving a group mid-rebalance is the cluster issue's business)
    slow.wait(timeout=30)
    try:
        workers.stop()
    finally:
        workers.kill()
    replays = replayed(broker.bootstrap, "per-customer-by-customer-repartition")
    rekeyed = log_contents(kafka(broker.bootstrap), ["rekeyed"])["rekeyed"]
    duplicates = sum(map(len, rekeyed.values())) - len(lines)
    print(f"the paused worker wrote {replays} records again into the repartition topic; "
          f"{duplicates} duplicates in the output topic")
    assert replays > 0, f"the paused worker wrote nothing again:\n{workers.texts()}"
    table = stores(kafka(broker.bootstrap), plan(load_pipeline(str(app)), {"orders": PARTITIONS}))
    got = {k[4:].decode(): v[0] for k, v in table["orders-per-customer"].items()}  # (n, time)
    assert got == dict(want), "the count table is exact"


def replayed(bootstrap: str, topic: str) -> int:
    """Records of `topic` whose writer and sequence number came before (a replay)."""
    async def body(log: object) -> int:
        seen: set[tuple[int, int, int]] = set()
        again = 0
        for partition, record in await read_all(log, topic):  # type: ignore[arg-type]
            seq = read_seq(record[4])
            assert seq is not None
            if (partition, seq.writer, seq.seq) in seen:
                again += 1
            seen.add((partition, seq.writer, seq.seq))
        return again
    return on_log(kafka(bootstrap), body)
