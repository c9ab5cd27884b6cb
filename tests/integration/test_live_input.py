"""Live input on the embedded log: while a job runs (it holds the log), `shoal produce`, HTTP
clients (a JSON array, JSON lines) and the Python `produce` hand records to the job, which
appends them in its own writes. Killed with SIGKILL twice in between and restarted, the job
processes every acknowledged record exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from engine import produce
from tests.helpers.shoal import REPO_ROOT, run_shoal, shoal_argv, shoal_env

APP = '''from engine import Pipeline

p = Pipeline("live")
p.stream("in", key="id").map(lambda v: v["id"], name="ids").to("out")
'''
BATCH = 20_000  # five batches: 100,000 records


def _start(app: Path, data: Path) -> tuple[subprocess.Popen[str], str]:
    """A running job and its URL (once its server answers)."""
    marker = data / "servers" / "live.url"
    marker.unlink(missing_ok=True)  # a killed job leaves its marker behind
    job = subprocess.Popen([*shoal_argv(), "run", str(app), "--port", "0", "--data-dir",
                            str(data)], cwd=REPO_ROOT, env=shoal_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert job.poll() is None and time.monotonic() < deadline, "the job did not start"
        time.sleep(0.05)
    return job, marker.read_text().strip()


def _post(url: str, body: bytes) -> dict[str, object]:
    request = urllib.request.Request(url + "/topics/in/records?key=id", data=body,
                                     method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return dict(json.loads(answer.read()))


def _kill(job: subprocess.Popen[str]) -> None:
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)


def test_producers_hand_records_to_a_running_job(tmp_path: Path) -> None:
    app, data = tmp_path / "live.py", tmp_path / "data"
    app.write_text(APP)
    (tmp_path / "first.jsonl").write_text("".join(
        json.dumps({"id": i}) + "\n" for i in range(BATCH)))
    ok = run_shoal("produce", "in", tmp_path / "first.jsonl", "--key", "id",
                   "--partitions", "3", data_dir=data)
    assert ok.returncode == 0, ok.stderr
    job, url = _start(app, data)
    (tmp_path / "cli.jsonl").write_text("".join(
        json.dumps({"id": i}) + "\n" for i in range(BATCH, 2 * BATCH)))
    via_cli = run_shoal("produce", "in", tmp_path / "cli.jsonl", "--key", "id", data_dir=data)
    assert via_cli.returncode == 0, via_cli.stderr
    assert f"produced {BATCH:,} records to 'in' through the running job at {url}" in \
        via_cli.stderr
    _kill(job)
    job, url = _start(app, data)
    array = json.dumps([{"id": i} for i in range(2 * BATCH, 3 * BATCH)]).encode()
    assert _post(url, array) == {"topic": "in", "records": BATCH}
    _kill(job)
    job, url = _start(app, data)
    lines = "".join(json.dumps({"id": i}) + "\n" for i in range(3 * BATCH, 4 * BATCH))
    assert _post(url, lines.encode()) == {"topic": "in", "records": BATCH}
    assert produce("in", ({"id": i} for i in range(4 * BATCH, 5 * BATCH)), key="id",
                   data_dir_path=str(data)) == BATCH  # the Python API, through the job
    for bad, status in ((b"", 400), (b"[1, 2", 400)):
        try:
            _post(url, bad)
            raise AssertionError("accepted a bad body")
        except urllib.error.HTTPError as exc:
            assert exc.code == status and "error" in json.loads(exc.read())
    job.send_signal(signal.SIGTERM)
    job.wait(timeout=30)
    done = run_shoal("run", app, "--until-caught-up", "--port", "0", data_dir=data)
    assert done.returncode == 0, done.stderr
    tail = run_shoal("tail", "out", "--from-beginning", data_dir=data)
    ids = Counter(json.loads(line)["value"] for line in tail.stdout.splitlines())
    assert ids == Counter(range(5 * BATCH)), "every acknowledged record exactly once"
