"""The web console in headless Chromium (Debian's `chromium`): the page of a running job
shows its topology, the lag numbers of every input partition and a looked-up key's value; a
screenshot is kept in build/test-artifacts/console.png. Without Chromium the test is skipped
and says so, unless SHOAL_REQUIRE_BROWSER is set (.ci/run installs Chromium and sets it)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from apps.generate import orders, stock
from tests.helpers.shoal import REPO_ROOT, run_shoal, shoal_argv, shoal_env

APP = "apps/shop_tables.py"
ARTIFACTS = REPO_ROOT / "build" / "test-artifacts"


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("SHOAL_REQUIRE_BROWSER"):
            pytest.fail("SHOAL_REQUIRE_BROWSER is set but Chromium is not installed")
        pytest.skip("Chromium is not installed: the web console's browser test is skipped "
                    "(apt-get install chromium; .ci/run installs it)")
    return found


def _headless(browser: str, *args: str) -> str:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=5000", *args], capture_output=True,
                          text=True, timeout=120, check=True).stdout


def _caught_up(base: str) -> bool:
    with urllib.request.urlopen(base + "/console/status", timeout=10) as answer:
        lag = json.loads(answer.read())["lag"]
    return len(lag) == 4 and all(row["lag"] == 0 for row in lag)


def test_console_shows_topology_lag_and_a_looked_up_key(tmp_path: Path) -> None:
    browser = _browser()
    data = tmp_path / "data"
    (tmp_path / "orders.jsonl").write_text("\n".join(orders(300, seed=2)) + "\n")
    changes = [json.loads(c) for c in stock(400, seed=6)]
    (tmp_path / "stock.jsonl").write_text("".join(json.dumps(c) + "\n" for c in changes))
    for topic, key in (("orders", "order_id"), ("stock", "sku")):
        done = run_shoal("produce", topic, tmp_path / f"{topic}.jsonl", "--key", key,
                         "--time", "ts", "--partitions", "2", data_dir=data)
        assert done.returncode == 0, done.stderr
    sku = str(changes[0]["sku"])
    want = sum(int(c["delta"]) for c in changes if c["sku"] == sku)
    job = subprocess.Popen([*shoal_argv(), "run", APP, "--port", "0", "--data-dir", str(data)],
                           cwd=REPO_ROOT, env=shoal_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        marker, deadline = data / "servers" / "shop-tables.url", time.monotonic() + 60
        while not marker.exists():
            assert job.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        base = marker.read_text().strip()
        while not _caught_up(base):  # every input committed: the tables are complete
            assert job.poll() is None and time.monotonic() < deadline + 60
            time.sleep(0.1)
        url = f"{base}/?table=inventory&key={sku}"
        dom = html.unescape(_headless(browser, "--dump-dom", url))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        _headless(browser, "--window-size=1200,1400",
                  f"--screenshot={ARTIFACTS / 'console.png'}", url)
    finally:
        job.terminate()
        job.communicate(timeout=30)
    print(f"screenshot: {ARTIFACTS / 'console.png'}")
    topology = re.search(r'<pre id="topology">(.*?)</pre>', dom, re.S)
    assert topology and "windowaggregate: revenue-per-minute" in topology[1]
    assert "aggregate: inventory" in topology[1]
    lag_rows = re.findall(r"<tr><td>(\w+)</td><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td>"
                          r"<td[^>]*>(\d+)</td><td[^>]*>(\d+)</td></tr>", dom)
    assert {(t, int(p)) for t, p, *_ in lag_rows} == {(t, p) for t in ("orders", "stock")
                                                     for p in range(2)}
    assert sum(int(end) for t, _, end, _, _ in lag_rows if t == "stock") == len(changes)
    value = re.search(r'<pre id="value">(.*?)</pre>', dom, re.S)
    assert value and json.loads(value[1]) == {"table": "inventory", "key": sku, "value": want}
    assert (ARTIFACTS / "console.png").stat().st_size > 10_000
