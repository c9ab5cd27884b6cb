"""SIGINT and SIGTERM make `shoal run` commit and exit cleanly."""

from __future__ import annotations

import asyncio
import os
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


STUCK_APP = '''"""A map that never returns once it has written its marker file."""
import os
from engine import Pipeline

def stuck(value):
    open(os.environ["STUCK_MARKER"], "w").close()
    while True:
        pass

p = Pipeline("stuck")
p.stream("in").map(stuck, name="stuck").to("out")
'''


def test_a_second_signal_stops_a_stuck_job_at_once(tmp_path: Path) -> None:
    """The first SIGINT asks for a final commit, which a map stuck in a loop never allows;
    the second exits at once (exit 130), and the record runs again next time."""
    (tmp_path / "stuck.py").write_text(STUCK_APP)
    (tmp_path / "in.jsonl").write_text('{"n": 1}\n')
    data, marker = tmp_path / "data", tmp_path / "entered"
    subprocess.run([*SHOAL, "produce", "in", str(tmp_path / "in.jsonl"), "--data-dir",
                    str(data)], cwd=ROOT, check=True, capture_output=True)
    env = {**os.environ, "STUCK_MARKER": str(marker)}
    job = subprocess.Popen([*SHOAL, "run", str(tmp_path / "stuck.py"), "--port", "0",
                            "--data-dir", str(data)], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():  # the map is running: the job is stuck in it
            assert job.poll() is None and time.monotonic() < deadline, job.stderr
            time.sleep(0.05)
        job.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            job.wait(timeout=1.0)  # still stuck: the final commit cannot happen
        began = time.monotonic()
        job.send_signal(signal.SIGINT)
        job.wait(timeout=10)
        took = time.monotonic() - began
    finally:
        job.kill()
    stderr = job.stderr.read() if job.stderr else ""
    print(f"second SIGINT to exit: {took:.3f}s")
    assert job.returncode == 130, stderr
    assert "stopping after a final commit" in stderr and "stopped at once" in stderr
    assert "Traceback" not in stderr
    assert took < 1.0
    assert _committed(data, "stuck", "in") == 0  # nothing committed: it runs again


def _committed(data: Path, group: str, topic: str) -> int:
    async def read() -> int:
        log = EmbeddedLog(data, read_only=True)
        try:
            return sum((await log.committed(group, [(topic, 0)])).values())
        finally:
            await log.close()
    return asyncio.run(read())
