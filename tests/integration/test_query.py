"""Table queries end to end: `shoal query` and the running job's HTTP server, on the shop
tables app, against a batch reference of the inventory and revenue tables."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

import msgspec
import pytest

from apps.generate import orders, stock
from apps.orders import InvalidOrder, enrich, validate
from apps.shop_events import Order
from tests.helpers.shoal import run_shoal, shoal_argv, start_shoal

APP = "apps/shop_tables.py"
MINUTE = 60_000


def _reference(order_lines: list[str], stock_lines: list[str]
               ) -> tuple[dict[str, int], dict[tuple[str, int], float]]:
    inventory: dict[str, int] = defaultdict(int)
    for line in stock_lines:
        row = json.loads(line)
        inventory[row["sku"]] += row["delta"]
    revenue: dict[tuple[str, int], float] = defaultdict(float)
    for line in order_lines:
        try:
            order = enrich(validate(msgspec.json.decode(line, type=Order)))
        except (msgspec.DecodeError, InvalidOrder):
            continue
        revenue[(order.product, order.ts - order.ts % MINUTE)] += order.total
    return dict(inventory), dict(revenue)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    tmp = tmp_path_factory.mktemp("query")
    data = tmp / "data"
    order_lines, stock_lines = list(orders(3_000, seed=5)), list(stock(800, seed=6))
    (tmp / "orders.jsonl").write_text("\n".join(order_lines) + "\n")
    (tmp / "stock.jsonl").write_text("\n".join(stock_lines) + "\n")
    for topic, key in (("orders", "order_id"), ("stock", "sku")):
        done = run_shoal("produce", topic, tmp / f"{topic}.jsonl", "--key", key,
                         "--partitions", "3", data_dir=data)
        assert done.returncode == 0, done.stderr
    return data, order_lines, stock_lines


def _query(data: Path, *args: str) -> list[dict[str, object]]:
    done = run_shoal("query", APP, *args, data_dir=data)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_query_after_the_run(loaded: tuple[Path, list[str], list[str]]) -> None:
    data, order_lines, stock_lines = loaded
    done = run_shoal("run", APP, "--until-caught-up", "--port", "0", data_dir=data)
    assert done.returncode == 0, done.stderr
    inventory, revenue = _reference(order_lines, stock_lines)
    rows = _query(data, "inventory")
    assert {r["key"]: r["value"] for r in rows} == inventory
    assert [r["key"] for r in _query(data, "inventory", "--prefix", "sku-00", "--limit", "2")] \
        == sorted(k for k in inventory if k.startswith("sku-00"))[:2]
    product = sorted({p for p, _ in revenue})[0]
    windows = _query(data, "revenue-per-minute", product)
    got = {w["window"]["start"]: w["window"]["value"] for w in windows}  # type: ignore[index]
    assert got == pytest.approx({s: v for (p, s), v in revenue.items() if p == product})
    missing = run_shoal("query", APP, "inventory", "nope", data_dir=data)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no key 'nope'")
    unknown = run_shoal("query", APP, "nope", data_dir=data)
    assert unknown.returncode == 1 and "no table 'nope'" in unknown.stderr


def test_query_through_the_running_jobs_server(tmp_path: Path,
                                               loaded: tuple[Path, list[str], list[str]]
                                               ) -> None:
    data, _, stock_lines = loaded
    job = start_shoal([*shoal_argv(), "run", APP, "--port", "0", "--data-dir", str(data)],
                      tmp_path / "job.err")
    try:
        marker = data / "servers" / "shop-tables.url"
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert job.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "job.err").read_text()
            time.sleep(0.05)
        base = marker.read_text().strip()
        inventory, _ = _reference([], stock_lines)
        with urllib.request.urlopen(f"{base}/tables/inventory/sku-001", timeout=5) as reply:
            assert json.loads(reply.read())["value"] == inventory["sku-001"]
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{base}/tables/inventory?limit=zero", timeout=5)
        assert caught.value.code == 400
        assert {r["key"]: r["value"] for r in _query(data, "inventory")} == inventory
    finally:
        job.send_signal(signal.SIGTERM)
        assert job.wait(30) == 0, (tmp_path / "job.err").read_text()
    assert not (data / "servers" / "shop-tables.url").exists()
