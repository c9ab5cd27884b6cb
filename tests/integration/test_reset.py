"""`shoal reset`: a dry run changes nothing; --to-time T then a run rebuilds the tables from
the first record at or after T in each partition (here: every record from T on, as the input
is in time order); --to-earliest rebuilds them whole; a running job refuses the reset."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from apps.generate import orders, stock
from tests.helpers.shoal import REPO_ROOT, run_shoal, shoal_argv, shoal_env

APP = "apps/shop_tables.py"


def _ok(*args: str | Path, data: Path) -> str:
    result = run_shoal(*args, data_dir=data)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _setup(tmp_path: Path) -> tuple[Path, list[dict[str, int | str]]]:
    """The shop tables' input produced and run once; the stock changes."""
    data = tmp_path / "data"
    (tmp_path / "orders.jsonl").write_text("\n".join(orders(500, seed=2)) + "\n")
    changes = list(stock(2_000, seed=6))
    (tmp_path / "stock.jsonl").write_text("\n".join(changes) + "\n")
    _ok("produce", "orders", tmp_path / "orders.jsonl", "--key", "order_id", "--time", "ts",
        "--partitions", "4", data=data)
    _ok("produce", "stock", tmp_path / "stock.jsonl", "--key", "sku", "--time", "ts",
        "--partitions", "4", data=data)
    _ok("run", APP, "--until-caught-up", "--port", "0", data=data)
    return data, [json.loads(c) for c in changes]


def _inventory(data: Path) -> dict[str, int]:
    rows = _ok("query", APP, "inventory", data=data).splitlines()
    return {r["key"]: r["value"] for r in map(json.loads, rows)}


def _sums(changes: list[dict[str, int | str]], since: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in changes:
        if int(c["ts"]) >= since:
            out[str(c["sku"])] = out.get(str(c["sku"]), 0) + int(c["delta"])
    return out


def test_reset_to_a_time_rebuilds_the_tables_from_there(tmp_path: Path) -> None:
    data, changes = _setup(tmp_path)
    assert _inventory(data) == _sums(changes, 0)
    dry = _ok("reset", APP, "--to-earliest", "--dry-run", data=data)
    assert "dry run: nothing changed" in dry and "store shop-tables.inventory dropped" in dry
    assert _inventory(data) == _sums(changes, 0)  # nothing changed
    since = int(changes[len(changes) // 2]["ts"])
    iso = datetime.fromtimestamp(since / 1000, UTC).isoformat().replace("+00:00", "Z")
    said = _ok("reset", APP, "--to-time", iso, data=data)
    assert "stock[0]:" in said and "-> 0" not in said.split("stock[0]:")[1].splitlines()[0]
    assert _inventory(data) == {}  # the store is gone until the next run
    _ok("run", APP, "--until-caught-up", "--port", "0", data=data)
    assert _inventory(data) == _sums(changes, since)
    _ok("reset", APP, "--to-earliest", data=data)
    _ok("run", APP, "--until-caught-up", "--port", "0", data=data)
    assert _inventory(data) == _sums(changes, 0)


def test_a_running_job_refuses_the_reset(tmp_path: Path) -> None:
    data, _ = _setup(tmp_path)
    job = subprocess.Popen([*shoal_argv(), "run", APP, "--port", "0", "--data-dir", str(data)],
                           cwd=REPO_ROOT, env=shoal_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (data / "servers" / "shop-tables.url").exists():
            assert job.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        refused = run_shoal("reset", APP, "--to-earliest", data_dir=data)
    finally:
        job.terminate()
        job.communicate(timeout=30)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error:") and "in use by another shoal process" in \
        refused.stderr
