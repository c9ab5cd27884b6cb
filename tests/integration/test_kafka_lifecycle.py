"""Workers coming and going on Kafka (Tansu): 20 rounds of a random start, SIGTERM or
SIGKILL among up to 3 workers of apps/shop_tables.py, with input arriving in between. Every
started worker gets tasks within 15 s, every SIGTERM ends its process (exit 0) within 5 s,
and once a last worker has run to the end, every store equals the embedded run's (floats
to 6 places: see _rounded).

Tansu ignores LeaveGroup and holds a departed member until its session times out, so the
workers run with SHOAL_KAFKA_SESSION_TIMEOUT_MS=3000 (a real broker lets a stopping member
leave at once; its minimum session timeout is 6 s by default)."""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.shoal import (
    Workers,
    cli,
    embedded,
    kafka,
    run_shoal,
    shoal_argv,
    start_shoal,
)
from tests.helpers.shop_runs import produce, results, shop_inputs
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow
APP = "apps/shop_tables.py"
ROUNDS = 20
ENV = {"SHOAL_KAFKA_SESSION_TIMEOUT_MS": "3000"}
ASSIGNED_WITHIN_S = 15
STOPPED_WITHIN_S = 5



def _chunks(files: dict[str, tuple[Path, str]], parts: int, where: Path
            ) -> list[dict[str, tuple[Path, str]]]:
    """The input files cut into `parts` consecutive pieces (topic -> (file, key))."""
    out: list[dict[str, tuple[Path, str]]] = [{} for _ in range(parts)]
    for topic, (path, key) in files.items():
        lines = path.read_text().splitlines(keepends=True)
        step = -(-len(lines) // parts)
        for n in range(parts):
            piece = where / f"{topic}-{n}.jsonl"
            piece.write_text("".join(lines[n * step:(n + 1) * step]))
            out[n][topic] = (piece, key)
    return out


def _has_tasks(workers: Workers, n: int) -> bool:
    return any(line.startswith("assigned ") and not line.endswith(": 0 tasks ()")
               for line in workers.text(n).splitlines())


def _start(workers: Workers) -> float:
    n = workers.start(env=ENV)
    began = time.monotonic()
    while not _has_tasks(workers, n):
        assert workers.procs[n].poll() is None, workers.text(n)[-3000:]
        assert time.monotonic() - began < ASSIGNED_WITHIN_S, \
            f"worker {n} got no tasks within {ASSIGNED_WITHIN_S}s:\n{workers.texts()}"
        time.sleep(0.1)
    return time.monotonic() - began


def _terminate(workers: Workers, n: int) -> float:
    began = time.monotonic()
    workers.procs[n].send_signal(signal.SIGTERM)
    assert workers.procs[n].wait(timeout=STOPPED_WITHIN_S) == 0, workers.text(n)[-3000:]
    assert "Traceback" not in workers.text(n), workers.text(n)[-3000:]
    return time.monotonic() - began


def test_random_starts_stops_and_kills(tmp_path: Path, broker: Broker) -> None:
    seed = int(os.environ.get("SHOAL_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (SHOAL_TEST_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    files = shop_inputs(tmp_path)[APP]
    pieces = _chunks(files, ROUNDS, tmp_path)
    workers = Workers(["run", APP, "--broker", broker.url, "--commit-interval", "100"],
                      tmp_path)
    joins, stops = [], []
    try:
        for n in range(ROUNDS):
            produce(pieces[n], "--broker", broker.url)
            alive = [i for i, p in enumerate(workers.procs) if p.poll() is None]
            action = "start" if not alive else rng.choice(
                ["term", "kill"] if len(alive) == 3 else ["start", "start", "term", "kill"])
            if action == "start":
                joins.append(_start(workers))
            elif action == "term":
                stops.append(_terminate(workers, rng.choice(alive)))
            else:
                workers.procs[rng.choice(alive)].kill()
            time.sleep(rng.uniform(0, 1.5))
        for n, proc in enumerate(workers.procs):
            if proc.poll() is None:
                stops.append(_terminate(workers, n))
    finally:
        workers.kill()
    print(f"assigned after (s): {sorted(round(j, 1) for j in joins)}; "
          f"SIGTERM to exit (s): {sorted(round(s, 1) for s in stops)}")
    last = Workers(["run", APP, "--broker", broker.url, "--until-caught-up"], tmp_path / "last")
    (tmp_path / "last").mkdir()
    last.start(env=ENV)
    assert last.procs[0].wait(timeout=120) == 0, last.text(0)[-3000:]
    produce(files, "--data-dir", str(tmp_path / "data"))
    cli("run", APP, "--until-caught-up", "--port", "0", "--data-dir", str(tmp_path / "data"))
    reference = results(APP, embedded(tmp_path / "data"))["stores"]
    assert _rounded(results(APP, kafka(broker.bootstrap))["stores"]) == _rounded(reference)


def test_scale_out_keeps_the_tasks_that_stay(tmp_path: Path, broker: Broker) -> None:
    """2 -> 3 workers: the two keep the tasks the assignor leaves them (their log says
    nothing was restored for them), the newcomer restores what moved; the stores then
    equal the embedded run's."""
    files = shop_inputs(tmp_path)[APP]
    produce(files, "--broker", broker.url)
    workers = Workers(["run", APP, "--broker", broker.url, "--commit-interval", "100"],
                      tmp_path)
    try:
        _start(workers)
        _start(workers)
        workers.wait(lambda: workers.text(0).count("assigned ") >= 2, "the first rebalance")
        assigned = [workers.text(n).count("assigned ") for n in range(2)]
        restored = [workers.text(n).count("restored ") for n in range(2)]
        _start(workers)
        workers.wait(lambda: all(workers.text(n).count("assigned ") > assigned[n]
                                 for n in range(2)), "the old workers' next assignment")
        for n in range(2):
            assert workers.text(n).count("restored ") == restored[n], workers.text(n)[-2000:]
            kept = re.findall(r"kept (\d+) tasks \(nothing restored\), took on (\d+)",
                              workers.text(n))[-1]
            assert int(kept[0]) > 0 and kept[1] == "0", kept
        moved = re.findall(r"\((\d+) store partitions restored\)", workers.text(2))
        print(f"store partitions moved to the new worker: {moved[-1]}")
        assert int(moved[-1]) > 0
        for n in range(3):
            _terminate(workers, n)
    finally:
        workers.kill()
    (tmp_path / "last").mkdir()
    last = Workers(["run", APP, "--broker", broker.url, "--until-caught-up"], tmp_path / "last")
    last.start(env=ENV)
    assert last.procs[0].wait(timeout=120) == 0, last.text(0)[-3000:]
    produce(files, "--data-dir", str(tmp_path / "data"))
    cli("run", APP, "--until-caught-up", "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert _rounded(results(APP, kafka(broker.bootstrap))["stores"]) == _rounded(
        results(APP, embedded(tmp_path / "data"))["stores"])


def test_a_restart_on_the_same_data_dir_restores_nothing(tmp_path: Path,
                                                         broker: Broker) -> None:
    """A worker stopped cleanly leaves its stores with a checkpoint: the next one on that
    data directory restores nothing. After a SIGKILL there is no checkpoint: it restores.
    Either way the stores end equal to the embedded run's."""
    files = shop_inputs(tmp_path)[APP]
    produce(files, "--broker", broker.url)
    run = ["run", APP, "--broker", broker.url, "--until-caught-up", "--port", "0",
           "--data-dir", str(tmp_path / "worker")]
    cli(*run)
    again = run_shoal(*run)
    assert again.returncode == 0, again.stderr
    assert "restored " not in again.stderr.replace("nothing restored", ""), again.stderr
    assert again.stderr.count("(checkpoint), nothing restored") == 8, again.stderr
    log = tmp_path / "killed.err"
    killed = start_shoal([*shoal_argv(), *(a for a in run if a != "--until-caught-up")],
                         log, ENV)
    try:
        began = time.monotonic()
        while "nothing restored" not in log.read_text():
            assert killed.poll() is None and time.monotonic() - began < 60, log.read_text()
            time.sleep(0.1)
    finally:
        killed.kill()
        killed.wait(timeout=30)
    after_kill = run_shoal(*run)
    assert after_kill.returncode == 0 and "from its changelog" in after_kill.stderr
    produce(files, "--data-dir", str(tmp_path / "data"))
    cli("run", APP, "--until-caught-up", "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert _rounded(results(APP, kafka(broker.bootstrap))["stores"]) == _rounded(
        results(APP, embedded(tmp_path / "data"))["stores"])


def _rounded(value: Any) -> Any:
    """`value` with every float rounded to 6 places: a float sum depends on the order its
    terms arrive in, and records of several writers of a repartition topic reach an
    aggregation in an order that depends on when each writer committed (counts, times and
    keys compare exactly)."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_rounded(v) for v in value)
    return value
