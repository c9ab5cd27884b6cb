"""SIGINT and SIGTERM make `shoal run` commit and exit cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

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


def _time_of(line: str) -> int | None:
    """The `ts` of a generated order line (None for the malformed ones)."""
    try:
        ts = json.loads(line).get("ts")
    except (ValueError, AttributeError):
        return None
    return ts if isinstance(ts, int) else None


def _produce_orders(tmp_path: Path, count: int, seed: int) -> Path:
    """`count` generated orders in topic `orders` (4 partitions) of a new data dir."""
    lines = tmp_path / "orders.jsonl"
    lines.write_text("\n".join(orders(count, seed=seed)) + "\n")
    data = tmp_path / "data"
    subprocess.run([*SHOAL, "produce", "orders", str(lines), "--key", "order_id",
                    "--partitions", "4", "--data-dir", str(data)], cwd=ROOT, check=True,
                   capture_output=True)
    return data


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_commits_and_exits_zero(tmp_path: Path, sig: signal.Signals) -> None:
    data = _produce_orders(tmp_path, 3_000, seed=1)
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


def test_metrics_of_a_running_job_equal_its_run_summary(tmp_path: Path) -> None:
    """Scraped once the job has committed all its input, /metrics (parsed by the Prometheus
    client's parser) says what the summary printed at the stop says; /readyz is 200. The
    end-to-end latency (commit time minus the output's event time) lies between the time
    from the newest order to the produce and from the oldest order to the scrape."""
    produced = time.time()
    data = _produce_orders(tmp_path, 2_000, seed=3)
    job = subprocess.Popen([*SHOAL, "run", "apps/orders.py", "--port", "0", "--data-dir",
                            str(data)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        url_file = data / "servers" / "orders.url"
        deadline = time.monotonic() + 60
        while not (url_file.exists() and _committed_and_outputs(data)[0] == 2_000):
            assert job.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        base = url_file.read_text().strip()
        with urllib.request.urlopen(base + "/readyz", timeout=10) as answer:
            assert answer.status == 200
        with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
            text = answer.read().decode()
        scraped = time.time()
    finally:
        job.send_signal(signal.SIGINT)
        _, stderr = job.communicate(timeout=30)
    samples = {(s.name, s.labels.get("topic")): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    summary = re.search(r"processed ([\d,]+) input records", stderr)
    assert summary, stderr
    assert samples[("shoal_records_in_total", None)] == int(summary[1].replace(",", ""))
    dead = re.search(r"dead-lettered: ([\d,]+)", stderr)
    assert dead and samples[("shoal_dead_letters_total", None)] == int(dead[1].replace(",", ""))
    outs = {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"-> (\S+): ([\d,]+)", stderr)}
    assert outs and {t: samples[("shoal_records_out_total", t)] for t in outs} == outs
    observed = samples[("shoal_e2e_latency_seconds_count", None)]
    assert observed > 0
    times = [ts / 1000 for ts in map(_time_of, orders(2_000, seed=3)) if ts is not None]
    assert produced - max(times) <= samples[("shoal_e2e_latency_seconds_sum", None)] / \
        observed <= scraped - min(times)
