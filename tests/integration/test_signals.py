"""SIGINT and SIGTERM make `shoal run` commit and exit cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.generate import orders
from engine.transport import EmbeddedLog

ROOT = Path(__file__).resolve().parents[2]
SHOAL = [sys.executable, "-m", "engine.cli"]
OUTPUTS = ("orders.large", "orders.domestic", "orders.international", "orders.dlq")


def _committed_and_outputs(data: Path) -> tuple[int, int]:
    async def read() -> tuple[int, int]:
        log = EmbeddedLog(data, read_only=True)
        try:
            tps = [("orders", p) for p in range(4)]
            done = sum((await log.committed("orders", tps)).values())
            known = await log.topics()
            out = sum([sum(await log.end_offsets(t)) for t in OUTPUTS if t in known])
            return done, out
        finally:
            await log.close()

    return asyncio.run(read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_commits_and_exits_zero(tmp_path: Path, sig: signal.Signals) -> None:
    lines = tmp_path / "orders.jsonl"
    lines.write_text("\n".join(orders(3_000, seed=1)) + "\n")
    data = tmp_path / "data"
    subprocess.run([*SHOAL, "produce", "orders", str(lines), "--key", "order_id",
                    "--partitions", "4", "--data-dir", str(data)], cwd=ROOT, check=True,
                   capture_output=True)
    job = subprocess.Popen([*SHOAL, "run", "apps/orders.py", "--data-dir", str(data)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            if _committed_and_outputs(data)[0] == 3_000:
                break
        except Exception:  # the job may not have created its topics yet
            continue
    job.send_signal(sig)
    _, stderr = job.communicate(timeout=20)
    assert job.returncode == 0, stderr
    assert "processed 3,000 input records" in stderr
    assert "Traceback" not in stderr
    assert _committed_and_outputs(data) == (3_000, 3_000)
