"""Restore times of a large table on Kafka (a Tansu broker on 127.0.0.1).

    .venv/bin/python -m benchmarks.failover [--keys N]

A pipeline sums `delta` per key into the table `totals` over N distinct keys (4 partitions).
One worker builds the table and stops; then, each timed from the moment the group hands
the partitions over (aiokafka's "Setting newly assigned partitions") to the worker's
"assigned" line:
  (a) a worker with a fresh data directory restores every store partition from its
      changelog;
  (b) a worker restarted on the data directory of a clean stop takes its stores from the
      checkpoint and restores nothing.
Standby replicas are not built, so there is no (c).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.kafka_broker import tansu

APP = ('from engine import Pipeline\np = Pipeline("big")\n'
       'p.stream("changes", key="sku", time="ts").sum(lambda r: r["delta"], name="totals")\n')
SHOAL = [sys.executable, "-m", "engine.cli"]


def timed_run(app: Path, url: str, data: Path) -> dict[str, float]:
    """Seconds from start to the hand-over, to `assigned`, and to the exit of one run."""
    began, marks = time.monotonic(), {}
    proc = subprocess.Popen([*SHOAL, "--log-level", "info", "run", str(app), "--broker", url,
                             "--until-caught-up", "--port", "0", "--data-dir", str(data)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "Setting newly assigned partitions" in line:
            marks["handed over"] = time.monotonic() - began
        elif line.startswith("assigned "):
            marks["assigned"] = time.monotonic() - began
    if proc.wait() != 0:
        raise SystemExit(f"shoal run exited with {proc.returncode}")
    marks["exit"] = time.monotonic() - began
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failover")
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as where:
        work = Path(where)
        app, lines = work / "big.py", work / "changes.jsonl"
        app.write_text(APP)
        with lines.open("w") as out:
            for i in range(args.keys):
                out.write(json.dumps({"sku": f"k{i:07d}", "delta": 1, "ts": i}) + "\n")
        with tansu(work / "tansu.log") as broker:
            subprocess.run([*SHOAL, "produce", "changes", str(lines), "--key", "sku", "--time",
                            "ts", "--partitions", "4", "--broker", broker.url], check=True,
                           capture_output=True)
            built = timed_run(app, broker.url, work / "first")
            print(f"built a {args.keys:,}-key table: {built['exit'] - built['assigned']:.1f}s "
                  "of processing")
            for label, data in (("(a) fresh data dir, full restore", work / "second"),
                                ("(b) same data dir after a clean stop", work / "second")):
                marks = timed_run(app, broker.url, data)
                print(f"{label}: restore {marks['assigned'] - marks['handed over']:.2f}s "
                      f"(group join {marks['handed over']:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
